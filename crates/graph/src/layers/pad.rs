//! `nn.ZeroPad2d` / `ConstantPad2d` / `ReflectionPad2d` / `ReplicationPad2d`
//! (and cropping, with negative pads).

use weft_device::Result;
use weft_kernels::pad::{self, PadMode, Pads};

use crate::layer::{Backward, Forward, HostArray, Layer, Shape};
use crate::layers::{chw, shape_error};

/// Pads (or crops) each image by `[top, bottom, left, right]` pixels, the
/// margin filled as `mode` says. PyTorch's padding tuples run `(left, right,
/// top, bottom)`: [`Pad2d::torch`] takes them in that order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pad2d {
    pub pads: Pads,
    pub mode: PadMode,
}

impl Pad2d {
    pub fn new(pads: Pads, mode: PadMode) -> Pad2d {
        Pad2d { pads, mode }
    }

    /// From PyTorch's `(left, right, top, bottom)`.
    pub fn torch(padding: [i64; 4], mode: PadMode) -> Pad2d {
        let [left, right, top, bottom] = padding;
        Pad2d::new([top, bottom, left, right], mode)
    }
}

impl Layer for Pad2d {
    fn kind(&self) -> &'static str {
        "Pad2d"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, h, w] = chw(name, "Pad2d", &inputs[0])?;
        let [oh, ow] = pad::padded_hw("Pad2d", h, w, self.pads, self.mode)
            .map_err(|e| shape_error(name, e.to_string()))?;
        Ok(vec![c, oh, ow])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(pad::pad2d(&cx.inputs[0], self.pads, self.mode)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW");
        cx.input_grads = vec![Some(pad::pad2d_backward(
            cx.dy, shape, self.pads, self.mode,
        )?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let [n, c, h, w] = x.nchw();
        let out = pad::padded_hw("Pad2d", h, w, self.pads, self.mode)?;
        let y = weft_kernels::reference::pad::pad2d(&x.data, x.nchw(), out, self.pads, self.mode);
        Ok(HostArray::new(vec![n, c, out[0], out[1]], y.value))
    }
}
