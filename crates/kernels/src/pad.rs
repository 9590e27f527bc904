//! Padding and cropping of NCHW planes (`F.pad` on the last two dimensions,
//! ONNX's `Pad`): constant, reflect and edge (replicate) modes, and the
//! gradient of each.
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `pad/forward` | f32, f16 | one output element per invocation; copies are bit exact |
//! | `pad/backward` | f32, f16 | one input-gradient element per invocation, gathering the (at most three per axis) runs of outputs that read it |

use weft_device::{Binding, Error, Kernel, Result, Tensor};

use crate::float_nchw as nchw;

use crate::precision::Precision;
use crate::shaders;

const WG: usize = 64;
const PARAMS: weft_device::ShaderFile = shaders::wgsl!("pad/params.wgsl");

shaders::typed!(FORWARD, [PARAMS], "pad/forward.wgsl");
shaders::typed!(BACKWARD, [PARAMS], "pad/backward.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[&FORWARD, &BACKWARD], &[])
}

/// What fills the margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    /// A constant (`F.pad(mode="constant", value=v)`, ONNX `constant`).
    Constant(f32),
    /// The image mirrored about its edge pixel, which is not repeated
    /// (`reflect`); each pad must be smaller than its dimension.
    Reflect,
    /// The edge pixel repeated (PyTorch's `replicate`, ONNX's `edge`).
    Edge,
}

impl PadMode {
    fn code(self) -> u32 {
        match self {
            PadMode::Constant(_) => 0,
            PadMode::Reflect => 1,
            PadMode::Edge => 2,
        }
    }
}

/// Pads of the two spatial dimensions: `[top, bottom, left, right]` (PyTorch's
/// `F.pad` order is `(left, right, top, bottom)`); negative values crop
/// (constant mode only).
pub type Pads = [i64; 4];

/// The output plane of an `h × w` plane padded by `pads` with `mode`, after
/// PyTorch's checks.
pub fn padded_hw(op: &str, h: usize, w: usize, pads: Pads, mode: PadMode) -> Result<[usize; 2]> {
    let [top, bottom, left, right] = pads;
    if !matches!(mode, PadMode::Constant(_)) {
        if pads.iter().any(|&p| p < 0) {
            return Err(Error::invalid(
                op,
                "pads",
                format!(
                    "{mode:?} padding cannot crop, got pads {pads:?} (top, bottom, left, right)"
                ),
            ));
        }
        if mode == PadMode::Reflect && (top.max(bottom) >= h as i64 || left.max(right) >= w as i64)
        {
            return Err(Error::invalid(
                op,
                "pads",
                format!(
                    "reflect padding must be smaller than the dimension: pads {pads:?} on a {h}x{w} image"
                ),
            ));
        }
        if h == 0 || w == 0 {
            return Err(Error::shape(
                op,
                format!("cannot {mode:?}-pad an empty {h}x{w} image"),
            ));
        }
    }
    let oh = h as i64 + top + bottom;
    let ow = w as i64 + left + right;
    if oh <= 0 || ow <= 0 {
        return Err(Error::invalid(
            op,
            "pads",
            format!("pads {pads:?} crop a {h}x{w} image to nothing ({oh}x{ow})"),
        ));
    }
    Ok([oh as usize, ow as usize])
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PadUniform {
    n: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    top: i32,
    left: i32,
    value: f32,
}

/// The geometry of a padding launch: planes of `hw` padded to `ohw`.
struct Geometry {
    hw: [usize; 2],
    ohw: [usize; 2],
    pads: Pads,
    mode: PadMode,
}

/// Runs the forward (`src` the input) or backward (`src` the output
/// gradient) kernel into `dst`, one invocation per element of `dst`.
fn launch(op: &str, forward: bool, src: &Tensor, dst: &Tensor, g: &Geometry) -> Result<()> {
    let Geometry {
        hw,
        ohw,
        pads,
        mode,
    } = *g;
    let dev = src.device();
    let precision = Precision::typed_only(op, dev, src.dtype())?;
    crate::check_u32_elements(op, dst)?;
    crate::check_u32_elements(op, src)?;
    let uniform = PadUniform {
        n: dst.numel() as u32,
        h: hw[0] as u32,
        w: hw[1] as u32,
        oh: ohw[0] as u32,
        ow: ohw[1] as u32,
        top: pads[0] as i32,
        left: pads[2] as i32,
        value: match mode {
            PadMode::Constant(v) => v,
            _ => 0.0,
        },
    };
    let body = if forward { &FORWARD } else { &BACKWARD };
    let shader = body.get(precision).expect("typed");
    let constants = [("MODE", mode.code() as f64)];
    let kernel = Kernel::new(op, shader, "main").with_constants(&constants);
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&uniform),
        &[
            Binding::Read(src.binding()),
            Binding::ReadWrite(dst.binding()),
        ],
        dst.numel().div_ceil(WG) as u64,
    )
}

/// `x` `[N, C, H, W]` padded (or cropped) to `[N, C, H + top + bottom, W +
/// left + right]`.
pub fn pad2d(x: &Tensor, pads: Pads, mode: PadMode) -> Result<Tensor> {
    let op = "pad2d";
    let [n, c, h, w] = nchw(op, "input", x)?;
    let [oh, ow] = padded_hw(op, h, w, pads, mode)?;
    let y = x.device().empty(&[n, c, oh, ow], x.dtype())?;
    let g = Geometry {
        hw: [h, w],
        ohw: [oh, ow],
        pads,
        mode,
    };
    launch(op, true, x, &y, &g)?;
    Ok(y)
}

/// Gradient of [`pad2d`] for an input of `input_shape`: each input element
/// sums the gradients of the outputs that read it (cropped ones get 0).
pub fn pad2d_backward(
    dy: &Tensor,
    input_shape: [usize; 4],
    pads: Pads,
    mode: PadMode,
) -> Result<Tensor> {
    let op = "pad2d_backward";
    let [n, c, oh, ow] = nchw(op, "grad_output", dy)?;
    let [dn, dc, h, w] = input_shape;
    let want = padded_hw(op, h, w, pads, mode)?;
    if (n, c) != (dn, dc) || want != [oh, ow] {
        return Err(Error::shape(
            op,
            format!(
                "grad_output {:?} does not match input {input_shape:?} padded by {pads:?} ({want:?})",
                dy.shape()
            ),
        ));
    }
    let dx = dy.device().empty(&input_shape, dy.dtype())?;
    let g = Geometry {
        hw: [h, w],
        ohw: [oh, ow],
        pads,
        mode,
    };
    launch(op, false, dy, &dx, &g)?;
    Ok(dx)
}
