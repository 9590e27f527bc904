//! Global pooling over whole planes and its gradient.

use weft_device::{Binding, Error, Kernel, Result, Tensor};

use super::backward::avg_pool2d_backward_into;
use super::forward::pool2d_into;
use super::{PARAMS, Pool2dParams, PoolKind, PoolUniform, check_u32, launch, nchw};
use crate::precision::Precision;

crate::shaders::typed!(GLOBAL_POOL, [PARAMS], "pool/global_pool.wgsl");
crate::shaders::typed!(
    GLOBAL_AVG_BACKWARD,
    [PARAMS],
    "pool/global_avg_backward.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&GLOBAL_POOL, &GLOBAL_AVG_BACKWARD], &[])
}

/// Mean over each plane: `[N, C, H, W]` → `[N, C, 1, 1]` (PyTorch's
/// `adaptive_avg_pool2d(x, 1)`), reduced in f32 by a fixed tree.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    global_pool(x, PoolKind::Avg)
}

/// Maximum over each plane: `[N, C, H, W]` → `[N, C, 1, 1]`; NaN propagates.
pub fn global_max_pool(x: &Tensor) -> Result<Tensor> {
    global_pool(x, PoolKind::Max)
}

fn global_pool(x: &Tensor, kind: PoolKind) -> Result<Tensor> {
    let [n, c, _, _] = nchw(global_op(kind), "input", x)?;
    let out = x.device().empty(&[n, c, 1, 1], x.dtype())?;
    global_pool_into(x, kind, None, &out)?;
    Ok(out)
}

fn global_op(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::Max => "global_max_pool",
        PoolKind::Min => "global_min_pool",
        PoolKind::Sum => "global_sum_pool",
        PoolKind::Avg => "global_avg_pool",
    }
}

/// Global pooling into `out` (`[N, C, 1, 1]`) with an explicit precision.
/// `kind` is [`PoolKind::Avg`] or [`PoolKind::Max`] on the reduction kernel;
/// packed f16 (and sum or min) run [`pool2d`](super::pool2d) with the whole plane as window.
pub fn global_pool_into(
    x: &Tensor,
    kind: PoolKind,
    precision: Option<Precision>,
    out: &Tensor,
) -> Result<()> {
    let op = global_op(kind);
    let dev = x.device();
    let [n, c, h, w] = nchw(op, "input", x)?;
    if h == 0 || w == 0 {
        return Err(Error::shape(
            op,
            format!("input planes must be non-empty, got {h}x{w}"),
        ));
    }
    let precision = Precision::resolve(op, dev, x.dtype(), precision)?;
    crate::check_output(op, out, &[n, c, 1, 1], x.dtype(), &[x])?;
    check_u32(op, "input", x.numel())?;
    let entry = match kind {
        PoolKind::Avg => "global_avg",
        PoolKind::Max => "global_max",
        _ => "",
    };
    if precision == Precision::F16Packed || entry.is_empty() {
        return pool2d_into(x, kind, &Pool2dParams::new([h, w]), Some(precision), out);
    }
    let shader = GLOBAL_POOL
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    let kernel = Kernel::new(op, shader, entry);
    let planes = n * c;
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&PoolUniform::planes(planes, [h, w], [1, 1]).with_n(planes)),
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        planes as u64,
    )
}

/// Gradient of [`global_avg_pool`]: `dx[n, c, h, w] = dy[n, c] / (H·W)`.
pub fn global_avg_pool_backward(dy: &Tensor, input_shape: [usize; 4]) -> Result<Tensor> {
    let dx = dy.device().empty(&input_shape, dy.dtype())?;
    global_avg_pool_backward_into(dy, None, &dx)?;
    Ok(dx)
}

/// [`global_avg_pool_backward`] into `dx` with an explicit precision (packed f16
/// runs [`avg_pool2d_backward`](super::avg_pool2d_backward) with the whole plane as window).
pub fn global_avg_pool_backward_into(
    dy: &Tensor,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    let op = "global_avg_pool_backward";
    let dev = dy.device();
    let [n, c, oh, ow] = nchw(op, "grad_output", dy)?;
    let [dn, dc, h, w] = <[usize; 4]>::try_from(dx.shape()).map_err(|_| {
        Error::shape(
            op,
            format!("grad_input must be 4-D (NCHW), got shape {:?}", dx.shape()),
        )
    })?;
    if (oh, ow) != (1, 1) || (dn, dc) != (n, c) {
        return Err(Error::shape(
            op,
            format!(
                "grad_output: expected [{dn}, {dc}, 1, 1] for input [{dn}, {dc}, {h}, {w}], got {:?}",
                dy.shape()
            ),
        ));
    }
    if h == 0 || w == 0 {
        return Err(Error::shape(
            op,
            format!("input planes must be non-empty, got {h}x{w}"),
        ));
    }
    let precision = Precision::resolve(op, dev, dy.dtype(), precision)?;
    crate::check_output(op, dx, &[n, c, h, w], dy.dtype(), &[dy])?;
    check_u32(op, "grad_input", dx.numel())?;
    if precision == Precision::F16Packed {
        return avg_pool2d_backward_into(dy, &Pool2dParams::new([h, w]), Some(precision), dx);
    }
    let shader = GLOBAL_AVG_BACKWARD
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    let kernel = Kernel::new(op, shader, "main");
    launch(
        &kernel,
        PoolUniform::planes(n * c, [h, w], [1, 1]),
        dx.numel(),
        false,
        &[
            Binding::Read(dy.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        dev,
    )
}
