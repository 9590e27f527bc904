//! `nn.Upsample`.

use weft_device::Result;
use weft_kernels::upsample::{self, UpsampleMode};

use crate::layer::{Backward, Forward, HostArray, Layer, Shape};
use crate::layers::{chw, shape_error};

/// The output size of an [`Upsample`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsampleTarget {
    /// `scale_factor=s`: an integer factor on both sides.
    Scale(usize),
    /// `size=(h, w)`: a fixed output size, any ratio to the input's (then
    /// PyTorch's coordinate scale is input/output).
    Size([usize; 2]),
}

/// `nn.Upsample(scale_factor=s | size=(h, w), mode="nearest" | "bilinear",
/// align_corners=...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upsample {
    pub target: UpsampleTarget,
    pub mode: UpsampleMode,
}

impl Upsample {
    pub fn nearest(scale: usize) -> Upsample {
        Upsample {
            target: UpsampleTarget::Scale(scale),
            mode: UpsampleMode::Nearest,
        }
    }

    pub fn bilinear(scale: usize, align_corners: bool) -> Upsample {
        Upsample {
            target: UpsampleTarget::Scale(scale),
            mode: UpsampleMode::Bilinear { align_corners },
        }
    }

    /// To a fixed `[height, width]` (smaller than the input too, as PyTorch's
    /// `F.interpolate(size=...)`).
    pub fn to_size(size: [usize; 2], mode: UpsampleMode) -> Upsample {
        Upsample {
            target: UpsampleTarget::Size(size),
            mode,
        }
    }

    /// The output plane for an `h × w` input.
    fn out_hw(&self, h: usize, w: usize) -> [usize; 2] {
        match self.target {
            UpsampleTarget::Scale(s) => [h * s, w * s],
            UpsampleTarget::Size(size) => size,
        }
    }
}

impl Layer for Upsample {
    fn kind(&self) -> &'static str {
        "Upsample"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, h, w] = chw(name, "Upsample", &inputs[0])?;
        match self.target {
            UpsampleTarget::Scale(0) => {
                return Err(shape_error(name, "scale factor must be positive"));
            }
            UpsampleTarget::Size(size) if size.contains(&0) => {
                return Err(shape_error(
                    name,
                    format!("output size must be positive, got {size:?}"),
                ));
            }
            _ => {}
        }
        let [oh, ow] = self.out_hw(h, w);
        Ok(vec![c, oh, ow])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let x = &cx.inputs[0];
        let out = self.out_hw(x.dim(2), x.dim(3));
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
        let out = self.out_hw(h, w);
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
