//! `nn.LocalResponseNorm`.

use weft_device::Result;
use weft_kernels::lrn::{self, LrnParams};

use crate::layer::{Backward, Forward, HostArray, Layer, Saves, Shape};
use crate::layers::shape_error;

/// `nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1)`: each element
/// divided by `(k + alpha/size · Σ x²)^beta`, the sum over `size` neighbouring
/// channels (AlexNet, GoogLeNet). Backward keeps the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalResponseNorm {
    pub params: LrnParams,
}

impl LocalResponseNorm {
    /// PyTorch's defaults for everything but the window.
    pub fn new(size: usize) -> LocalResponseNorm {
        LocalResponseNorm {
            params: LrnParams::torch(size, 1e-4, 0.75, 1.0),
        }
    }
}

impl Layer for LocalResponseNorm {
    fn kind(&self) -> &'static str {
        "LocalResponseNorm"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.params
            .validate(name)
            .map_err(|e| shape_error(name, e.to_string()))?;
        let s = &inputs[0];
        if s.len() < 2 {
            return Err(shape_error(
                name,
                format!(
                    "LocalResponseNorm expects [C, ...] samples with a spatial dimension, got {s:?}"
                ),
            ));
        }
        Ok(s.clone())
    }

    fn saves(&self, _n: usize) -> Saves {
        Saves {
            inputs: vec![true],
            output: false,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(lrn::lrn(&cx.inputs[0], &self.params)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let x = cx.inputs[0]
            .as_ref()
            .expect("LocalResponseNorm saves its input");
        cx.input_grads = vec![
            cx.need_input_grad[0]
                .then(|| lrn::lrn_backward(x, cx.dy, &self.params))
                .transpose()?,
        ];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let channels = x.shape[1];
        let inner = x.shape[2..].iter().product();
        let y = weft_kernels::reference::lrn::lrn(&x.data, channels, inner, &self.params);
        Ok(HostArray::new(x.shape.clone(), y))
    }
}
