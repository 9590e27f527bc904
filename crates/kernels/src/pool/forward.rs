//! Pooling forward: [`pool2d`] (max, avg, sum, min) and
//! [`max_pool2d_with_indices`].

use weft_device::{Binding, DType, Kernel, Result, ShaderFile, Tensor};

use super::{
    PARAMS, Pool2dParams, PoolKind, PoolUniform, check_i32_plane, check_u32, launch, nchw, resolve,
};
use crate::precision::Precision;

const FORWARD: ShaderFile = crate::shaders::wgsl!("pool/forward.wgsl");
crate::shaders::typed!(POOL2D, [PARAMS, FORWARD], "pool/pool2d.wgsl");
crate::shaders::plain!(POOL2D_F16P, [PARAMS, FORWARD], "pool/pool2d_f16p.wgsl");
const MAX2X2_COMMON: ShaderFile = crate::shaders::wgsl!("pool/max2x2_common.wgsl");
crate::shaders::typed!(MAX2X2, [PARAMS, MAX2X2_COMMON], "pool/max2x2.wgsl");
crate::shaders::typed!(
    MAX2X2_VEC4,
    [PARAMS, MAX2X2_COMMON],
    "pool/max2x2_vec4.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&POOL2D, &MAX2X2, &MAX2X2_VEC4], &[&POOL2D_F16P])
}

/// Pools `x` (`[N, C, H, W]`, f32 or f16) into a new `[N, C, OH, OW]` tensor.
pub fn pool2d(
    x: &Tensor,
    kind: PoolKind,
    params: &Pool2dParams,
    precision: Option<Precision>,
) -> Result<Tensor> {
    let op = kind.op_name();
    let [n, c, h, w] = nchw(op, "input", x)?;
    let [oh, ow] = resolve(op, kind, params, h, w)?;
    let out = x.device().empty(&[n, c, oh, ow], x.dtype())?;
    pool2d_into(x, kind, params, precision, &out)?;
    Ok(out)
}

/// [`pool2d`] into `out`, which must be `[N, C, OH, OW]` of `x`'s dtype.
pub fn pool2d_into(
    x: &Tensor,
    kind: PoolKind,
    params: &Pool2dParams,
    precision: Option<Precision>,
    out: &Tensor,
) -> Result<()> {
    let op = kind.op_name();
    let dev = x.device();
    let [n, c, h, w] = nchw(op, "input", x)?;
    let [oh, ow] = resolve(op, kind, params, h, w)?;
    let precision = Precision::resolve(op, dev, x.dtype(), precision)?;
    crate::check_output(op, out, &[n, c, oh, ow], x.dtype(), &[x])?;
    check_u32(op, "input", x.numel())?;
    if kind == PoolKind::Max
        && let Some(v) = max2x2_block(params, precision, [h, w], [oh, ow])
    {
        return launch_max2x2(op, "main", v, x, [n * c, h, w], out, None);
    }
    let shader = match precision {
        Precision::F16Packed => &POOL2D_F16P,
        p => POOL2D.get(p).expect("typed shaders have f32 and f16 forms"),
    };
    let constants = [("KIND", kind.code() as f64)];
    let kernel = Kernel::new(op, shader, "main").with_constants(&constants);
    launch(
        &kernel,
        PoolUniform::new(n * c, [h, w], [oh, ow], params),
        out.numel(),
        precision == Precision::F16Packed,
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        dev,
    )
}

/// Max pooling returning PyTorch's indices: an I32 tensor of the output's shape,
/// each the flat position `h·W + w` of the maximum within its input plane (the
/// first maximum wins ties; NaN propagates, the last NaN of a window winning, as
/// in PyTorch).
pub fn max_pool2d_with_indices(
    x: &Tensor,
    params: &Pool2dParams,
    precision: Option<Precision>,
) -> Result<(Tensor, Tensor)> {
    let op = "max_pool2d_with_indices";
    let [n, c, h, w] = nchw(op, "input", x)?;
    let [oh, ow] = resolve(op, PoolKind::Max, params, h, w)?;
    let dev = x.device();
    let out = dev.empty(&[n, c, oh, ow], x.dtype())?;
    let indices = dev.empty(&[n, c, oh, ow], DType::I32)?;
    max_pool2d_with_indices_into(x, params, precision, &out, &indices)?;
    Ok((out, indices))
}

/// [`max_pool2d_with_indices`] into `out` (`[N, C, OH, OW]`, `x`'s dtype) and
/// `indices` (same shape, I32).
pub fn max_pool2d_with_indices_into(
    x: &Tensor,
    params: &Pool2dParams,
    precision: Option<Precision>,
    out: &Tensor,
    indices: &Tensor,
) -> Result<()> {
    let op = "max_pool2d_with_indices";
    let dev = x.device();
    let [n, c, h, w] = nchw(op, "input", x)?;
    let [oh, ow] = resolve(op, PoolKind::Max, params, h, w)?;
    let precision = Precision::resolve(op, dev, x.dtype(), precision)?;
    let shape = [n, c, oh, ow];
    crate::check_output(op, out, &shape, x.dtype(), &[x])?;
    crate::check_output(op, indices, &shape, DType::I32, &[x, out])?;
    check_u32(op, "input", x.numel())?;
    check_i32_plane(op, h, w)?;
    if let Some(v) = max2x2_block(params, precision, [h, w], [oh, ow]) {
        return launch_max2x2(op, "with_indices", v, x, [n * c, h, w], out, Some(indices));
    }
    let shader = match precision {
        Precision::F16Packed => &POOL2D_F16P,
        p => POOL2D.get(p).expect("typed shaders have f32 and f16 forms"),
    };
    let kernel = Kernel::new(op, shader, "with_indices");
    launch(
        &kernel,
        PoolUniform::new(n * c, [h, w], [oh, ow], params),
        out.numel(),
        precision == Precision::F16Packed,
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(out.binding()),
            Binding::ReadWrite(indices.binding()),
        ],
        dev,
    )
}

/// Outputs per invocation of `pool/max2x2.wgsl` (2 or 1, dividing OW) or
/// `pool/max2x2_vec4.wgsl` (4) when
/// it serves this max pooling: 2×2 windows, stride 2, no padding or dilation,
/// even width, floor-sized output, f32 or native f16.
pub(super) fn max2x2_block(
    params: &Pool2dParams,
    precision: Precision,
    hw: [usize; 2],
    ohw: [usize; 2],
) -> Option<usize> {
    let plain = params.kernel == [2, 2]
        && params.stride == [2, 2]
        && params.padding == [0, 0]
        && params.dilation == [1, 1];
    if !plain
        || precision == Precision::F16Packed
        || !hw[1].is_multiple_of(2)
        || ohw != [hw[0] / 2, hw[1] / 2]
        || ohw[0] * ohw[1] == 0
    {
        return None;
    }
    [4, 2, 1].into_iter().find(|v| ohw[1].is_multiple_of(*v))
}

/// Launches `pool/max2x2.wgsl` (entry `main` or `with_indices`) over `planes`
/// planes of `h × w`.
fn launch_max2x2(
    op: &str,
    entry: &'static str,
    v: usize,
    x: &Tensor,
    [planes, h, w]: [usize; 3],
    out: &Tensor,
    indices: Option<&Tensor>,
) -> Result<()> {
    let dev = x.device();
    let precision = Precision::for_dtype(dev, x.dtype())?;
    let typed = if v == 4 { &MAX2X2_VEC4 } else { &MAX2X2 };
    let shader = typed
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    let constants = [("V", v as f64)];
    let constants: &[(&str, f64)] = if v == 4 { &[] } else { &constants };
    let kernel = Kernel::new(op, shader, entry).with_constants(constants);
    let uniform = PoolUniform::new(planes, [h, w], [h / 2, w / 2], &Pool2dParams::new([2, 2]));
    launch(
        &kernel,
        uniform,
        out.numel() / v,
        false,
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(out.binding()),
            Binding::ReadWrite(indices.unwrap_or(out).binding()),
        ],
        dev,
    )
}
