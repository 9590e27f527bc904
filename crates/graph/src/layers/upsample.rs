//! `nn.Upsample`.

use weft_device::Result;
use weft_kernels::upsample::{self, UpsampleMode};

use crate::layer::{Backward, Forward, HostArray, Layer, Shape};
use crate::layers::{chw, shape_error};

/// The output size of an [`Upsample`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UpsampleTarget {
    /// `scale_factor=s`: an integer factor on both sides.
    Scale(usize),
    /// `scale_factor=(f_h, f_w)`: any positive factors; the output is
    /// `floor(H·f_h) × floor(W·f_w)` and coordinates map by `1/f`, as
    /// PyTorch does when a scale factor is given.
    Factors([f64; 2]),
    /// `size=(h, w)`: a fixed output size, any ratio to the input's (then
    /// PyTorch's coordinate scale is input/output).
    Size([usize; 2]),
}

/// `nn.Upsample(scale_factor=s | size=(h, w), mode="nearest" | "bilinear",
/// align_corners=...)`.
#[derive(Debug, Clone, Copy, PartialEq)]
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

    /// By any positive factors `[height, width]` (PyTorch's
    /// `nn.Upsample(scale_factor=(1.5, 2.5))`; below 1 shrinks).
    pub fn by_factors(factors: [f64; 2], mode: UpsampleMode) -> Upsample {
        Upsample {
            target: UpsampleTarget::Factors(factors),
            mode,
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
    fn out_hw(&self, name: &str, h: usize, w: usize) -> Result<[usize; 2]> {
        Ok(match self.target {
            UpsampleTarget::Scale(s) => [h * s, w * s],
            UpsampleTarget::Factors([fh, fw]) => {
                let len = |len, f| {
                    upsample::scaled_len("Upsample", len, f)
                        .map_err(|e| shape_error(name, e.to_string()))
                };
                [len(h, fh)?, len(w, fw)?]
            }
            UpsampleTarget::Size(size) => size,
        })
    }

    /// The factors coordinates map by, when they are not the sizes' ratio.
    fn factors(&self) -> Option<[f64; 2]> {
        match self.target {
            UpsampleTarget::Factors(f) => Some(f),
            _ => None,
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
        let [oh, ow] = self.out_hw(name, h, w)?;
        Ok(vec![c, oh, ow])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let x = &cx.inputs[0];
        let [oh, ow] = self.out_hw("Upsample", x.dim(2), x.dim(3))?;
        let y = x.device().empty(&[x.dim(0), x.dim(1), oh, ow], x.dtype())?;
        upsample::upsample2d_scaled_into(x, self.mode, self.factors(), None, &y)?;
        cx.output = Some(y);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let shape = &cx.input_shapes[0];
        let dx = cx.dy.device().empty(shape, cx.dy.dtype())?;
        upsample::upsample2d_backward_scaled_into(cx.dy, self.mode, self.factors(), &dx)?;
        cx.input_grads = vec![Some(dx)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let [n, c, h, w] = x.nchw();
        let out = self.out_hw("Upsample", h, w)?;
        let y = weft_kernels::reference::upsample::upsample2d_scaled(
            &x.data,
            x.nchw(),
            out,
            self.mode,
            self.factors(),
            weft_device::DType::F32,
        );
        Ok(HostArray::new(vec![n, c, out[0], out[1]], y.value))
    }
}
