//! Softmax and log-softmax along one axis of each sample, as layers (a
//! classifier's probabilities inside the network, as exported models hold them).

use weft_device::Result;
use weft_kernels::{reference, softmax};

use crate::layer::{Backward, Forward, HostArray, Layer, Saves, Shape};
use crate::layers::shape_error;

/// `nn.Softmax(dim)` (or `nn.LogSoftmax(dim)` with `log`), `axis` counted in the
/// per-sample shape (PyTorch's `dim = axis + 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Softmax {
    pub axis: usize,
    pub log: bool,
}

impl Softmax {
    pub fn new(axis: usize) -> Softmax {
        Softmax { axis, log: false }
    }

    pub fn log(axis: usize) -> Softmax {
        Softmax { axis, log: true }
    }
}

impl Layer for Softmax {
    fn kind(&self) -> &'static str {
        if self.log { "LogSoftmax" } else { "Softmax" }
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        if self.axis >= inputs[0].len() {
            return Err(shape_error(
                name,
                format!(
                    "{} over axis {} of a per-sample shape {:?}",
                    self.kind(),
                    self.axis,
                    inputs[0]
                ),
            ));
        }
        Ok(inputs[0].clone())
    }

    fn saves(&self, _n: usize) -> Saves {
        Saves {
            inputs: vec![false],
            output: true,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let x = &cx.inputs[0];
        cx.output = Some(if self.log {
            softmax::log_softmax(x, self.axis + 1)?
        } else {
            softmax::softmax(x, self.axis + 1)?
        });
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let y = cx.output.expect("softmax output saved");
        cx.input_grads = vec![Some(if self.log {
            softmax::log_softmax_backward(y, cx.dy, self.axis + 1)?
        } else {
            softmax::softmax_backward(y, cx.dy, self.axis + 1)?
        })];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let data = reference::softmax::softmax_f64(&x.data, &x.shape, self.axis + 1, self.log);
        Ok(HostArray::new(x.shape.clone(), data))
    }
}
