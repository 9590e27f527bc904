//! Batch norm's "planes" variants (f32 and native f16): every pass walks
//! contiguous runs of one (image, channel) plane, so the channel is found once
//! per run rather than once per element, loads are vec4s when H·W % 4 == 0,
//! and no kernel uses workgroup memory or barriers. On CPU backends those
//! three (per-element integer division, scalar loads, barrier trees) cost
//! 10-40x the memory traffic of batch norm itself (docs/PERFORMANCE.md).
//!
//! | pass | kernel | invocations |
//! |---|---|---|
//! | statistics | `plane_moments`: mean and M2 of each segment of 512 | N·C·segments |
//! | | `plane_finalize`: balanced Chan merge in image, segment order; saved and running statistics | C |
//! | forward | `plane_apply`: affine + activation over runs of 256 | N·C·runs |
//! | backward | `plane_dot`: Σdy, Σdy·(x−mean) of each segment | N·C·segments |
//! | | `plane_backward_finalize`: dgamma, dbeta, coefficients | C |
//! | | `plane_backward_apply`: dx over runs of 256 | N·C·runs |

use weft_device::{Binding, BufferRange, DType, Kernel, Result, Tensor};

use super::{
    BatchNormArgs, BatchNormBackwardArgs, BatchNormBackwardProblem, BatchNormProblem,
    BatchNormSpec, BnParams, PARAMS,
};
use crate::binding::vec4_alias;
use crate::precision::Precision;
use crate::shaders::{self, ACTIVATION};

shaders::typed!(MOMENTS, [PARAMS], "batch_norm/plane_moments.wgsl");
shaders::plain!(FINALIZE, [PARAMS], "batch_norm/plane_finalize.wgsl");
shaders::typed!(APPLY, [ACTIVATION, PARAMS], "batch_norm/plane_apply.wgsl");
shaders::typed!(DOT, [PARAMS], "batch_norm/plane_dot.wgsl");
shaders::plain!(
    BACKWARD_FINALIZE,
    [PARAMS],
    "batch_norm/plane_backward_finalize.wgsl"
);
shaders::typed!(
    BACKWARD_APPLY,
    [PARAMS],
    "batch_norm/plane_backward_apply.wgsl"
);

/// Elements per statistics segment (a multiple of 4).
const SEGMENT: usize = 512;
/// Elements per run of the elementwise passes (a multiple of 4).
const RUN: usize = 256;
/// Invocations per workgroup of every planes kernel.
const WG: usize = 64;

/// Statistics segments per plane.
fn segments(hw: usize) -> usize {
    hw.div_ceil(SEGMENT).max(1)
}

/// Bytes of the f32 partials of a statistics or gradient pass.
pub(super) fn partials_bytes([n, c, h, w]: [usize; 4]) -> u64 {
    (n * c * segments(h * w) * 8) as u64
}

fn typed(t: &'static crate::precision::Typed, p: Precision) -> &'static weft_device::Shader {
    t.get(p)
        .expect("the planes rows have f32 and native-f16 forms only")
}

/// The parameter block of a pass over `shape` in pieces of `piece` elements
/// per plane.
fn params(shape: [usize; 4], piece: usize) -> BnParams {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let pieces = hw.div_ceil(piece).max(1);
    BnParams {
        n: n as u32,
        c: c as u32,
        hw: hw as u32,
        count: (n * c * pieces) as u32,
        chunk: piece as u32,
        chunks: pieces as u32,
        numel: (n * c * hw) as u32,
        ..Default::default()
    }
}

/// A tensor's range twice: as scalars and as a vec4 view of the same bytes
/// (widened to whole vec4s; the kernels read it only when `VEC4` is set).
fn views<'a>(op: &str, t: &'a Tensor) -> Result<(BufferRange<'a>, BufferRange<'a>)> {
    Ok((t.binding(), vec4_alias(op, t.binding(), &[])?.0))
}

/// An output's scalar and vec4 views. Only the one the shader's VEC4
/// constant selects is the tensor; the other is the device's placeholder,
/// since WebGPU refuses two writable bindings over one buffer.
fn output_views<'a>(
    op: &str,
    t: &'a Tensor,
    v4: bool,
) -> Result<(BufferRange<'a>, BufferRange<'a>)> {
    let (s, v) = views(op, t)?;
    let spare = t.device().placeholder();
    Ok(if v4 { (spare, v) } else { (s, spare) })
}

/// Whether the vec4 paths apply to planes of `hw` elements.
fn vec4(hw: usize) -> bool {
    hw.is_multiple_of(4)
}

/// Training-mode forward: statistics, then the affine pass.
pub(super) fn train(p: &BatchNormProblem, a: &BatchNormArgs<'_>) -> Result<()> {
    const OP: &str = "batch_norm";
    let [n, c, h, w] = p.shape;
    let hw = h * w;
    if n * c * hw == 0 {
        return Ok(());
    }
    let x = a.x;
    let dev = x.device();
    let partial = dev.empty(&[n * c * segments(hw), 2], DType::F32)?;
    let v4 = vec4(hw);
    let mut stats = params(p.shape, SEGMENT);
    stats.eps = p.eps;
    stats.momentum = p.momentum;
    let (xs, xv) = views(OP, x)?;
    dev.dispatch(
        &Kernel::new(OP, typed(&MOMENTS, p.precision), "main")
            .with_constants(&[("VEC4", v4 as u8 as f64)]),
        bytemuck::bytes_of(&stats),
        &[
            Binding::Read(xs),
            Binding::Read(xv),
            Binding::ReadWrite(partial.binding()),
        ],
        (stats.count as usize).div_ceil(WG) as u64,
    )?;
    dev.dispatch(
        &Kernel::new(OP, &FINALIZE, "main"),
        bytemuck::bytes_of(&stats),
        &[
            Binding::Read(partial.binding()),
            Binding::ReadWrite(a.out.save_mean.binding()),
            Binding::ReadWrite(a.out.save_invstd.binding()),
            Binding::ReadWrite(a.running_mean.binding()),
            Binding::ReadWrite(a.running_var.binding()),
        ],
        c.div_ceil(WG) as u64,
    )?;
    let spec = BatchNormSpec {
        eps: p.eps,
        momentum: p.momentum,
        activation: p.activation,
        precision: Some(p.precision),
    };
    let stat = &a.out.save_invstd;
    apply(
        OP,
        p.precision,
        p.shape,
        x,
        [a.gamma, a.beta, &a.out.save_mean, stat],
        &spec,
        0,
        &a.out.y,
    )
}

/// The affine + activation pass over plane runs; `channel` holds gamma,
/// beta, the mean and `stat`: invstd (mode 0) or the variance (mode 1).
#[allow(clippy::too_many_arguments)]
pub(super) fn apply(
    op: &str,
    precision: Precision,
    shape: [usize; 4],
    x: &Tensor,
    channel: [&Tensor; 4],
    spec: &BatchNormSpec,
    mode: u32,
    y: &Tensor,
) -> Result<()> {
    let [n, c, h, w] = shape;
    let hw = h * w;
    if n * c * hw == 0 {
        return Ok(());
    }
    let v4 = vec4(hw);
    let mut run = params(shape, RUN);
    run.eps = spec.eps;
    run.mode = mode;
    let mut constants = spec.activation.constants().to_vec();
    constants.push(("VEC4", v4 as u8 as f64));
    let (xs, xv) = views(op, x)?;
    let (ys, yv) = output_views(op, y, v4)?;
    let [gamma, beta, mean, stat] = channel;
    x.device().dispatch(
        &Kernel::new(op, typed(&APPLY, precision), "main").with_constants(&constants),
        bytemuck::bytes_of(&run),
        &[
            Binding::Read(xs),
            Binding::Read(xv),
            Binding::Read(gamma.binding()),
            Binding::Read(beta.binding()),
            Binding::Read(mean.binding()),
            Binding::Read(stat.binding()),
            Binding::ReadWrite(ys),
            Binding::ReadWrite(yv),
        ],
        (run.count as usize).div_ceil(WG) as u64,
    )
}

/// The gradient: per-segment sums, per-channel coefficients, then dx.
pub(super) fn backward(p: &BatchNormBackwardProblem, a: &BatchNormBackwardArgs<'_>) -> Result<()> {
    const OP: &str = "batch_norm_backward";
    let [n, c, h, w] = p.shape;
    let hw = h * w;
    if c == 0 {
        return Ok(());
    }
    if n * hw == 0 {
        crate::elementwise::fill(&a.grads.dgamma, 0.0)?;
        return crate::elementwise::fill(&a.grads.dbeta, 0.0);
    }
    let dev = a.x.device();
    let partial = dev.empty(&[n * c * segments(hw), 2], DType::F32)?;
    let coef = dev.empty(&[c * 4], DType::F32)?;
    let constants = [("VEC4", vec4(hw) as u8 as f64)];
    let (gs, gv) = views(OP, a.dy)?;
    let (xs, xv) = views(OP, a.x)?;
    let sums = params(p.shape, SEGMENT);
    dev.dispatch(
        &Kernel::new(OP, typed(&DOT, p.precision), "main").with_constants(&constants),
        bytemuck::bytes_of(&sums),
        &[
            Binding::Read(gs),
            Binding::Read(gv),
            Binding::Read(xs),
            Binding::Read(xv),
            Binding::Read(a.save_mean.binding()),
            Binding::ReadWrite(partial.binding()),
        ],
        (sums.count as usize).div_ceil(WG) as u64,
    )?;
    dev.dispatch(
        &Kernel::new(OP, &BACKWARD_FINALIZE, "main"),
        bytemuck::bytes_of(&sums),
        &[
            Binding::Read(partial.binding()),
            Binding::Read(a.gamma.binding()),
            Binding::Read(a.save_mean.binding()),
            Binding::Read(a.save_invstd.binding()),
            Binding::ReadWrite(a.grads.dgamma.binding()),
            Binding::ReadWrite(a.grads.dbeta.binding()),
            Binding::ReadWrite(coef.binding()),
        ],
        c.div_ceil(WG) as u64,
    )?;
    let run = params(p.shape, RUN);
    let (ds, dv) = output_views(OP, &a.grads.dx, vec4(hw))?;
    dev.dispatch(
        &Kernel::new(OP, typed(&BACKWARD_APPLY, p.precision), "main").with_constants(&constants),
        bytemuck::bytes_of(&run),
        &[
            Binding::Read(gs),
            Binding::Read(gv),
            Binding::Read(xs),
            Binding::Read(xv),
            Binding::Read(coef.binding()),
            Binding::ReadWrite(ds),
            Binding::ReadWrite(dv),
        ],
        (run.count as usize).div_ceil(WG) as u64,
    )
}
