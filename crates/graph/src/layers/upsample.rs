//! `nn.Upsample`.

use weft_device::Result;
use weft_kernels::upsample::{self, UpsampleMode};

use crate::layer::{Backward, Forward, HostArray, Layer, Shape};
use crate::layers::{chw, shape_error};

/// `nn.Upsample(scale_factor=s, mode="nearest" | "bilinear", align_corners=...)`
/// with an integer scale factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upsample {
    pub scale: usize,
    pub mode: UpsampleMode,
}

impl Upsample {
    pub fn nearest(scale: usize) -> Upsample {
        Upsample {
            scale,
            mode: UpsampleMode::Nearest,
        }
    }

    pub fn bilinear(scale: usize, align_corners: bool) -> Upsample {
        Upsample {
            scale,
            mode: UpsampleMode::Bilinear { align_corners },
        }
    }
}

impl Layer for Upsample {
    fn kind(&self) -> &'static str {
        "Upsample"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, h, w] = chw(name, "Upsample", &inputs[0])?;
        if self.scale == 0 {
            return Err(shape_error(name, "scale factor must be positive"));
        }
        Ok(vec![c, h * self.scale, w * self.scale])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let x = &cx.inputs[0];
        let out = [x.dim(2) * self.scale, x.dim(3) * self.scale];
        cx.output = Some(upsample::upsample2d(x, out, self.mode, None)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW");
        cx.input_grads = vec![Some(upsample::upsample2d_backward(
            cx.dy, shape, self.mode,
        )?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let [n, c, h, w] = x.nchw();
        let out = [h * self.scale, w * self.scale];
        let y = weft_kernels::reference::upsample::upsample2d(
            &x.data,
            x.nchw(),
            out,
            self.mode,
            weft_device::DType::F32,
        );
        Ok(HostArray::new(vec![n, c, out[0], out[1]], y.value))
    }
}
