//! Pooling gradients in gather form: max pooling's from its indices (a
//! general path over index ranges, and one-pass forms for windows that cannot
//! overlap) and average pooling's.

use weft_device::{Binding, DType, Error, Kernel, Result, ShaderFile, Tensor};

use super::forward::max2x2_block;
use super::{
    PARAMS, Pool2dParams, PoolKind, PoolUniform, check_i32_plane, check_indices, check_u32, launch,
    nchw, resolve,
};
use crate::elementwise;
use crate::precision::Precision;

/// Planes one `reduce` invocation of `max_index_ranges.wgsl` folds.
const RANGE_CHUNK: usize = 32;

const AVG_GRAD: ShaderFile = crate::shaders::wgsl!("pool/avg_grad.wgsl");
const MAX_GRAD: ShaderFile = crate::shaders::wgsl!("pool/max_grad.wgsl");
crate::shaders::typed!(AVG_BACKWARD, [PARAMS, AVG_GRAD], "pool/avg_backward.wgsl");
crate::shaders::plain!(
    AVG_BACKWARD_F16P,
    [PARAMS, AVG_GRAD],
    "pool/avg_backward_f16p.wgsl"
);
crate::shaders::typed!(MAX_BACKWARD, [PARAMS, MAX_GRAD], "pool/max_backward.wgsl");
crate::shaders::plain!(
    MAX_BACKWARD_F16P,
    [PARAMS, MAX_GRAD],
    "pool/max_backward_f16p.wgsl"
);
crate::shaders::plain!(MAX_INDEX_RANGES, [PARAMS], "pool/max_index_ranges.wgsl");
crate::shaders::typed!(
    MAX_BACKWARD_DISJOINT,
    [PARAMS],
    "pool/max_backward_disjoint.wgsl"
);
crate::shaders::typed!(MAX2X2_BACKWARD, [PARAMS], "pool/max2x2_backward.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(
        &[
            &AVG_BACKWARD,
            &MAX_BACKWARD,
            &MAX_BACKWARD_DISJOINT,
            &MAX2X2_BACKWARD,
        ],
        &[&AVG_BACKWARD_F16P, &MAX_BACKWARD_F16P, &MAX_INDEX_RANGES],
    )
}

/// Bytes of the one temporary tensor [`max_pool2d_backward`] allocates: the
/// i32 index ranges, `2·(OH + OW + H + W)` elements.
pub fn max_pool2d_backward_temp_bytes(input_shape: [usize; 4], output_hw: [usize; 2]) -> u64 {
    let [_, _, h, w] = input_shape;
    DType::I32.storage_bytes(2 * (output_hw[0] + output_hw[1] + h + w))
}

/// Gradient of max pooling: `dx[idx[o]] += dy[o]` over each plane, computed as
/// a deterministic gather (each input element sums, in output order, the `dy`
/// of the outputs whose index names it), correct when windows overlap and for
/// any index tensor. `indices` are those of [`max_pool2d_with_indices`];
/// `input_shape` is the forward input's `[N, C, H, W]`.
pub fn max_pool2d_backward(
    dy: &Tensor,
    indices: &Tensor,
    input_shape: [usize; 4],
) -> Result<Tensor> {
    let dx = dy.device().empty(&input_shape, dy.dtype())?;
    max_pool2d_backward_into(dy, indices, None, &dx)?;
    Ok(dx)
}

/// [`max_pool2d_backward`] into `dx` (whose shape is the forward input's), with
/// an explicit precision.
pub fn max_pool2d_backward_into(
    dy: &Tensor,
    indices: &Tensor,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    let op = "max_pool2d_backward";
    let dev = dy.device();
    let [n, c, oh, ow] = nchw(op, "grad_output", dy)?;
    check_indices(op, indices, dy.shape())?;
    let [dn, dc, h, w] = <[usize; 4]>::try_from(dx.shape()).map_err(|_| {
        Error::shape(
            op,
            format!("grad_input must be 4-D (NCHW), got shape {:?}", dx.shape()),
        )
    })?;
    if (dn, dc) != (n, c) {
        return Err(Error::shape(
            op,
            format!(
                "input shape [{dn}, {dc}, {h}, {w}] and grad_output {:?} differ in batch or channels",
                dy.shape()
            ),
        ));
    }
    let precision = Precision::resolve(op, dev, dy.dtype(), precision)?;
    crate::check_output(op, dx, &[n, c, h, w], dy.dtype(), &[dy, indices])?;
    check_u32(op, "grad_input", dx.numel())?;
    check_u32(op, "grad_output", dy.numel())?;
    check_i32_plane(op, h, w)?;
    if dx.numel() == 0 {
        return Ok(());
    }
    if dy.numel() == 0 {
        return elementwise::fill_words(dx, 0);
    }
    let planes = n * c;
    let ranges = dev.empty(&[2 * (oh + ow + h + w)], DType::I32)?;
    let base = PoolUniform::planes(planes, [h, w], [oh, ow]);
    let ranges_bindings = [
        Binding::Read(indices.binding()),
        Binding::ReadWrite(ranges.binding()),
    ];
    for (entry, items) in [
        ("init", 2 * (oh + ow)),
        ("reduce", oh * ow * planes.div_ceil(RANGE_CHUNK)),
        ("invert", h + w),
    ] {
        let kernel = Kernel::new(op, &MAX_INDEX_RANGES, entry);
        launch(&kernel, base, items, false, &ranges_bindings, dev)?;
    }
    let shader = match precision {
        Precision::F16Packed => &MAX_BACKWARD_F16P,
        p => MAX_BACKWARD
            .get(p)
            .expect("typed shaders have f32 and f16 forms"),
    };
    let kernel = Kernel::new(op, shader, "main");
    launch(
        &kernel,
        base,
        dx.numel(),
        precision == Precision::F16Packed,
        &[
            Binding::Read(dy.binding()),
            Binding::Read(indices.binding()),
            Binding::Read(ranges.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        dev,
    )
}

/// [`max_pool2d_backward`] knowing the forward's `params`: where windows
/// cannot overlap (stride ≥ kernel, no dilation) one pass and no temporary
/// (each input element reads the one window that can hold it); otherwise the
/// general gather. Same results as [`max_pool2d_backward`] for indices from
/// [`max_pool2d_with_indices`] with these `params`.
pub fn max_pool2d_backward_windows(
    dy: &Tensor,
    indices: &Tensor,
    input_shape: [usize; 4],
    params: &Pool2dParams,
) -> Result<Tensor> {
    let dx = dy.device().empty(&input_shape, dy.dtype())?;
    max_pool2d_backward_windows_into(dy, indices, params, None, &dx)?;
    Ok(dx)
}

/// [`max_pool2d_backward_windows`] into `dx`, with an explicit precision.
pub fn max_pool2d_backward_windows_into(
    dy: &Tensor,
    indices: &Tensor,
    params: &Pool2dParams,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    let op = "max_pool2d_backward";
    let dev = dy.device();
    let resolved = Precision::resolve(op, dev, dy.dtype(), precision)?;
    if !windows_disjoint(params) || resolved == Precision::F16Packed {
        return max_pool2d_backward_into(dy, indices, precision, dx);
    }
    let [n, c, oh, ow] = nchw(op, "grad_output", dy)?;
    check_indices(op, indices, dy.shape())?;
    let [_, _, h, w] = nchw(op, "grad_input", dx)?;
    crate::check_output(op, dx, &[n, c, h, w], dy.dtype(), &[dy, indices])?;
    if resolve(op, PoolKind::Max, params, h, w)? != [oh, ow] {
        return Err(Error::shape(
            op,
            format!(
                "grad_output {:?} is not the pooled size of grad_input {:?}",
                dy.shape(),
                dx.shape()
            ),
        ));
    }
    check_u32(op, "grad_input", dx.numel())?;
    check_i32_plane(op, h, w)?;
    if dx.numel() == 0 {
        return Ok(());
    }
    if dy.numel() == 0 {
        return elementwise::fill_words(dx, 0);
    }
    if max2x2_block(params, resolved, [h, w], [oh, ow]).is_some() && h.is_multiple_of(2) {
        // Every element in exactly one 2x2 window: one invocation per window.
        let shader = MAX2X2_BACKWARD
            .get(resolved)
            .expect("typed shaders have f32 and f16 forms");
        return launch(
            &Kernel::new(op, shader, "main"),
            PoolUniform::new(n * c, [h, w], [oh, ow], params),
            dy.numel(),
            false,
            &[
                Binding::Read(dy.binding()),
                Binding::Read(indices.binding()),
                Binding::ReadWrite(dx.binding()),
            ],
            dev,
        );
    }
    let shader = MAX_BACKWARD_DISJOINT
        .get(resolved)
        .expect("typed shaders have f32 and f16 forms");
    launch(
        &Kernel::new(op, shader, "main"),
        PoolUniform::new(n * c, [h, w], [oh, ow], params),
        dx.numel(),
        false,
        &[
            Binding::Read(dy.binding()),
            Binding::Read(indices.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        dev,
    )
}

/// No input element lies in two windows: stride ≥ kernel, no dilation.
fn windows_disjoint(params: &Pool2dParams) -> bool {
    (0..2).all(|a| params.stride[a] >= params.kernel[a] && params.dilation[a] == 1)
}

/// Gradient of [`PoolKind::Avg`] pooling with `params` (PyTorch's
/// `avg_pool2d_backward`), as a deterministic gather. Sum pooling is average
/// pooling with `divisor_override = Some(1)`; pass that to get its gradient.
pub fn avg_pool2d_backward(
    dy: &Tensor,
    input_shape: [usize; 4],
    params: &Pool2dParams,
) -> Result<Tensor> {
    let dx = dy.device().empty(&input_shape, dy.dtype())?;
    avg_pool2d_backward_into(dy, params, None, &dx)?;
    Ok(dx)
}

/// [`avg_pool2d_backward`] into `dx` (whose shape is the forward input's), with
/// an explicit precision.
pub fn avg_pool2d_backward_into(
    dy: &Tensor,
    params: &Pool2dParams,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    let op = "avg_pool2d_backward";
    let dev = dy.device();
    let [n, c, oh, ow] = nchw(op, "grad_output", dy)?;
    let [dn, dc, h, w] = <[usize; 4]>::try_from(dx.shape()).map_err(|_| {
        Error::shape(
            op,
            format!("grad_input must be 4-D (NCHW), got shape {:?}", dx.shape()),
        )
    })?;
    let expect = resolve(op, PoolKind::Avg, params, h, w)?;
    if (dn, dc) != (n, c) || expect != [oh, ow] {
        return Err(Error::shape(
            op,
            format!(
                "grad_output: expected [{dn}, {dc}, {}, {}] for input [{dn}, {dc}, {h}, {w}], got {:?}",
                expect[0],
                expect[1],
                dy.shape()
            ),
        ));
    }
    let precision = Precision::resolve(op, dev, dy.dtype(), precision)?;
    crate::check_output(op, dx, &[n, c, h, w], dy.dtype(), &[dy])?;
    check_u32(op, "grad_input", dx.numel())?;
    let shader = match precision {
        Precision::F16Packed => &AVG_BACKWARD_F16P,
        p => AVG_BACKWARD
            .get(p)
            .expect("typed shaders have f32 and f16 forms"),
    };
    let kernel = Kernel::new(op, shader, "main");
    launch(
        &kernel,
        PoolUniform::new(n * c, [h, w], [oh, ow], params),
        dx.numel(),
        precision == Precision::F16Packed,
        &[
            Binding::Read(dy.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        dev,
    )
}
