//! Dropout with a counter-based RNG: `y = x · keep / (1 − p)` where the keep
//! decision of element `i` is a pure function of `(seed, i)` (Philox-4x32-10,
//! [`crate::reference::dropout::philox4x32_10`]). The mask is never stored:
//! the backward pass regenerates it from the same seed, and the same seed
//! always gives the same mask (on every device: the decisions are integer
//! arithmetic). Use a fresh seed per layer and step.
//!
//! Element `i` is kept iff word `i mod 4` of `philox4x32_10([i/4, 0, 0, 0],
//! [seed_lo, seed_hi])` is at least [`keep_threshold`]`(p)`; kept elements are
//! multiplied by [`keep_scale`]`(p)` = `1 / (1 − p)` in f32 (PyTorch's
//! `input * (mask / (1 − p))`), dropped ones by 0.
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `dropout/dropout` | f32, f16, packed f16 | 4 elements (packed: 2 words) per invocation, one Philox call |
//! | `dropout/mask` | f32 output | 4 elements per invocation |

use weft_device::{Binding, DType, Device, Error, Kernel, Result, ShaderFile, Tensor};

use crate::precision::Precision;
use crate::shaders;

const WG: usize = 64;
/// Elements one invocation (one Philox call) covers.
const PER_INVOCATION: usize = 4;

const PHILOX: ShaderFile = shaders::wgsl!("dropout/philox.wgsl");
const PARAMS: ShaderFile = shaders::wgsl!("dropout/params.wgsl");

shaders::typed!(DROPOUT, [PHILOX, PARAMS], "dropout/dropout.wgsl");
shaders::plain!(DROPOUT_F16P, [PHILOX, PARAMS], "dropout/dropout_f16p.wgsl");
shaders::plain!(DROPOUT_MASK, [PHILOX, PARAMS], "dropout/mask.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[&DROPOUT], &[&DROPOUT_F16P, &DROPOUT_MASK])
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct DropoutUniform {
    n: u32,
    threshold: u32,
    scale: f32,
    seed_lo: u32,
    seed_hi: u32,
    _pad: [u32; 3],
}

impl DropoutUniform {
    fn new(n: usize, p: f32, seed: u64) -> Self {
        DropoutUniform {
            n: n as u32,
            threshold: keep_threshold(p),
            scale: keep_scale(p),
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
            _pad: [0; 3],
        }
    }
}

/// The Philox word an element must reach to be kept: `round(p · 2³²)`, so that
/// elements are kept with probability `1 − p` (to within 2⁻³²).
pub fn keep_threshold(p: f32) -> u32 {
    (p as f64 * 4_294_967_296.0).round().min(u32::MAX as f64) as u32
}

/// The multiplier of kept elements: `1 / (1 − p)` in f32.
pub fn keep_scale(p: f32) -> f32 {
    1.0 / (1.0 - p)
}

fn check_p(op: &str, p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid(
            op,
            "p",
            format!("dropout probability must be in [0, 1), got {p}"),
        ));
    }
    Ok(())
}

fn check_len(op: &str, n: usize) -> Result<()> {
    if n > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!("{n} elements are more than 32-bit indexing allows"),
        ));
    }
    Ok(())
}

/// `y = x · keep / (1 − p)` with the mask of `(p, seed)`. `p` must be in
/// `[0, 1)`; `p = 0` copies `x`.
pub fn dropout(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    let out = x.device().empty(x.shape(), x.dtype())?;
    dropout_into(x, p, seed, None, &out)?;
    Ok(out)
}

/// Gradient of [`dropout`]: `dx = dy · keep / (1 − p)` with the mask
/// regenerated from the same `(p, seed)`.
pub fn dropout_backward(dy: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    let out = dy.device().empty(dy.shape(), dy.dtype())?;
    apply("dropout_backward", dy, p, seed, None, &out)?;
    Ok(out)
}

/// [`dropout`] (or, on a gradient, [`dropout_backward`]) into `out`, with an
/// explicit precision.
pub fn dropout_into(
    x: &Tensor,
    p: f32,
    seed: u64,
    precision: Option<Precision>,
    out: &Tensor,
) -> Result<()> {
    apply("dropout", x, p, seed, precision, out)
}

/// `out = x · keep / (1 − p)`, errors naming `op`.
fn apply(
    op: &str,
    x: &Tensor,
    p: f32,
    seed: u64,
    precision: Option<Precision>,
    out: &Tensor,
) -> Result<()> {
    check_p(op, p)?;
    if !x.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("expected an f32 or f16 tensor, got {}", x.dtype()),
        ));
    }
    let dev = x.device();
    let precision = Precision::resolve(op, dev, x.dtype(), precision)?;
    crate::check_output(op, out, x.shape(), x.dtype(), &[x])?;
    check_len(op, x.numel())?;
    if p == 0.0 {
        return dev.copy(x, out);
    }
    let shader = match precision {
        Precision::F16Packed => &DROPOUT_F16P,
        typed => DROPOUT
            .get(typed)
            .expect("typed shaders have f32 and f16 forms"),
    };
    let n = x.numel();
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&DropoutUniform::new(n, p, seed)),
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        n.div_ceil(PER_INVOCATION * WG) as u64,
    )
}

/// The F32 keep mask (1 kept, 0 dropped) that [`dropout`] applies to a tensor of
/// `shape` with `(p, seed)`.
pub fn dropout_mask(dev: &Device, shape: &[usize], p: f32, seed: u64) -> Result<Tensor> {
    let op = "dropout_mask";
    check_p(op, p)?;
    let n: usize = shape.iter().product();
    check_len(op, n)?;
    let mask = dev.empty(shape, DType::F32)?;
    dev.dispatch(
        &Kernel::new(op, &DROPOUT_MASK, "main"),
        bytemuck::bytes_of(&DropoutUniform::new(n, p, seed)),
        &[Binding::ReadWrite(mask.binding())],
        n.div_ceil(PER_INVOCATION * WG) as u64,
    )?;
    Ok(mask)
}
