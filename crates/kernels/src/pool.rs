//! 2-D pooling with PyTorch's semantics (NCHW): max, average, sum and min
//! pooling ([`pool2d`]), max pooling with PyTorch's indices
//! ([`max_pool2d_with_indices`]), their gradients in gather form
//! ([`max_pool2d_backward`], [`avg_pool2d_backward`]), global pooling and
//! [`max_unpool2d`].
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `pool/pool2d` (max, avg, sum, min, with indices) | f32, f16, packed f16 | one output (packed: one output word) per invocation |
//! | `pool/avg_backward` | f32, f16, packed f16 | one input-gradient element (word) per invocation, gather |
//! | `pool/max2x2`, `pool/max2x2_vec4` (max, with indices) | f32, f16 | 2×2 stride 2 on even widths: 1 or 2 outputs per invocation with vec2 loads, 4 with vec4 loads and stores where OW % 4 == 0 |
//! | `pool/max_backward_disjoint` | f32, f16 | non-overlapping windows ([`max_pool2d_backward_windows`]): one dx element per invocation, one pass |
//! | `pool/max_backward` + `pool/max_index_ranges` | f32, f16, packed f16 | gather over output ranges derived from the indices |
//! | `pool/global_pool` (avg, max) | f32, f16 (packed: `pool2d` with the whole plane as kernel) | one workgroup per plane, tree reduction |
//! | `pool/global_avg_backward` | f32, f16 (packed: `avg_backward`) | one element per invocation |
//! | `pool/max_unpool` | f32, f16 | zero fill, then one scatter store per input element |
//!
//! Every kernel reads and accumulates in f32 and rounds once on the store, so
//! f16 sums beyond 65504 stay finite when their average is. Gradients are
//! deterministic: no float atomics anywhere.

use weft_device::{Binding, DType, Device, Error, Feature, Kernel, Result, ShaderFile, Tensor};

use crate::elementwise;
use crate::precision::Precision;

/// Invocations per workgroup of the one-item-per-invocation kernels.
const WG: usize = 64;
/// Planes one `reduce` invocation of `max_index_ranges.wgsl` folds.
const RANGE_CHUNK: usize = 32;

const PARAMS: ShaderFile = crate::shaders::wgsl!("pool/params.wgsl");
const FORWARD: ShaderFile = crate::shaders::wgsl!("pool/forward.wgsl");
const AVG_GRAD: ShaderFile = crate::shaders::wgsl!("pool/avg_grad.wgsl");
const MAX_GRAD: ShaderFile = crate::shaders::wgsl!("pool/max_grad.wgsl");

crate::shaders::typed!(POOL2D, [PARAMS, FORWARD], "pool/pool2d.wgsl");
crate::shaders::plain!(POOL2D_F16P, [PARAMS, FORWARD], "pool/pool2d_f16p.wgsl");
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
const MAX2X2_COMMON: ShaderFile = crate::shaders::wgsl!("pool/max2x2_common.wgsl");
crate::shaders::typed!(MAX2X2, [PARAMS, MAX2X2_COMMON], "pool/max2x2.wgsl");
crate::shaders::typed!(
    MAX2X2_VEC4,
    [PARAMS, MAX2X2_COMMON],
    "pool/max2x2_vec4.wgsl"
);
crate::shaders::typed!(
    MAX_BACKWARD_DISJOINT,
    [PARAMS],
    "pool/max_backward_disjoint.wgsl"
);
crate::shaders::typed!(MAX2X2_BACKWARD, [PARAMS], "pool/max2x2_backward.wgsl");
crate::shaders::typed!(GLOBAL_POOL, [PARAMS], "pool/global_pool.wgsl");
crate::shaders::typed!(
    GLOBAL_AVG_BACKWARD,
    [PARAMS],
    "pool/global_avg_backward.wgsl"
);
crate::shaders::typed!(MAX_UNPOOL, [PARAMS], "pool/max_unpool.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(
        &[
            &POOL2D,
            &AVG_BACKWARD,
            &MAX_BACKWARD,
            &GLOBAL_POOL,
            &GLOBAL_AVG_BACKWARD,
            &MAX_UNPOOL,
            &MAX2X2,
            &MAX2X2_VEC4,
            &MAX_BACKWARD_DISJOINT,
            &MAX2X2_BACKWARD,
        ],
        &[
            &POOL2D_F16P,
            &AVG_BACKWARD_F16P,
            &MAX_BACKWARD_F16P,
            &MAX_INDEX_RANGES,
        ],
    )
}

/// Hyper-parameters of a 2-D pooling, as PyTorch's `max_pool2d` / `avg_pool2d`
/// take them (`[height, width]` pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Implicit padding on both sides (−∞ for max, 0 for avg/sum); at most half
    /// the kernel.
    pub padding: [usize; 2],
    /// Spacing of window positions; max and min pooling only.
    pub dilation: [usize; 2],
    /// Round the output size up (the last window must still start inside the
    /// input or its left padding).
    pub ceil_mode: bool,
    /// Average pooling: count padded positions in the divisor.
    pub count_include_pad: bool,
    /// Average pooling: divide by this instead of the window size.
    pub divisor_override: Option<usize>,
}

impl Pool2dParams {
    /// A `kernel`-sized window with PyTorch's defaults: stride = kernel, no
    /// padding, dilation 1, floor mode, `count_include_pad = true`.
    pub fn new(kernel: [usize; 2]) -> Self {
        Pool2dParams {
            kernel,
            stride: kernel,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    /// Output height and width for an `h × w` input, with PyTorch's
    /// `pooling_output_shape` (floor or ceil mode; in ceil mode the last window
    /// must start inside the input or the left padding) and its checks: positive
    /// kernel, stride and dilation, padding at most half the kernel, and at
    /// least one output.
    pub fn out_hw(&self, op: &str, h: usize, w: usize) -> Result<[usize; 2]> {
        for (name, v) in [
            ("kernel", self.kernel),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ] {
            if v.contains(&0) {
                return Err(Error::invalid(
                    op,
                    name,
                    format!("must be positive, got {v:?}"),
                ));
            }
        }
        if self.padding[0] > self.kernel[0] / 2 || self.padding[1] > self.kernel[1] / 2 {
            return Err(Error::invalid(
                op,
                "padding",
                format!(
                    "must be at most half the kernel size: padding {:?}, kernel {:?}",
                    self.padding, self.kernel
                ),
            ));
        }
        if h == 0 || w == 0 {
            return Err(Error::shape(
                op,
                format!("input planes must be non-empty, got {h}x{w}"),
            ));
        }
        let mut out = [0usize; 2];
        for (a, size) in [h, w].into_iter().enumerate() {
            let (k, s, p, d) = (
                self.kernel[a] as i64,
                self.stride[a] as i64,
                self.padding[a] as i64,
                self.dilation[a] as i64,
            );
            let size = size as i64;
            let ceil = if self.ceil_mode { s - 1 } else { 0 };
            let mut o = (size + 2 * p - d * (k - 1) - 1 + ceil).div_euclid(s) + 1;
            if self.ceil_mode && (o - 1) * s >= size + p {
                o -= 1;
            }
            if o < 1 {
                return Err(Error::invalid(
                    op,
                    "kernel",
                    format!(
                        "kernel {:?} (dilation {:?}) is larger than the padded input {}x{} (padding {:?}): no output",
                        self.kernel,
                        self.dilation,
                        h + 2 * self.padding[0],
                        w + 2 * self.padding[1],
                        self.padding
                    ),
                ));
            }
            out[a] = o as usize;
        }
        Ok(out)
    }
}

/// What a pooling window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// PyTorch's `max_pool2d`: NaN propagates, padding is −∞.
    Max,
    /// PyTorch's `avg_pool2d`.
    Avg,
    /// The average times its divisor: the sum of the in-bounds elements.
    Sum,
    /// −max_pool2d(−x).
    Min,
}

impl PoolKind {
    /// Every kind.
    pub const ALL: [PoolKind; 4] = [PoolKind::Max, PoolKind::Avg, PoolKind::Sum, PoolKind::Min];

    /// The `KIND` override constant of `pool/forward.wgsl`.
    fn code(self) -> u32 {
        match self {
            PoolKind::Max => 0,
            PoolKind::Avg => 1,
            PoolKind::Sum => 2,
            PoolKind::Min => 3,
        }
    }

    /// The op name used in errors.
    pub fn op_name(self) -> &'static str {
        match self {
            PoolKind::Max => "max_pool2d",
            PoolKind::Avg => "avg_pool2d",
            PoolKind::Sum => "sum_pool2d",
            PoolKind::Min => "min_pool2d",
        }
    }
}

/// The uniform block of every pooling kernel (`pool/params.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolUniform {
    n: u32,
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    divisor: u32,
    include_pad: u32,
}

impl PoolUniform {
    /// The block for `planes` planes of `h × w` pooled to `oh × ow` by `params`.
    fn new(planes: usize, hw: [usize; 2], ohw: [usize; 2], params: &Pool2dParams) -> Self {
        PoolUniform {
            n: 0,
            planes: planes as u32,
            h: hw[0] as u32,
            w: hw[1] as u32,
            oh: ohw[0] as u32,
            ow: ohw[1] as u32,
            kh: params.kernel[0] as u32,
            kw: params.kernel[1] as u32,
            sh: params.stride[0] as u32,
            sw: params.stride[1] as u32,
            ph: params.padding[0] as u32,
            pw: params.padding[1] as u32,
            dh: params.dilation[0] as u32,
            dw: params.dilation[1] as u32,
            divisor: params.divisor_override.unwrap_or(0) as u32,
            include_pad: params.count_include_pad as u32,
        }
    }

    fn with_n(mut self, n: usize) -> Self {
        self.n = n as u32;
        self
    }

    /// A block with only the plane geometry (global pooling, unpooling).
    fn planes(planes: usize, hw: [usize; 2], ohw: [usize; 2]) -> Self {
        PoolUniform::new(planes, hw, ohw, &Pool2dParams::new([1, 1]))
    }
}

/// The `[N, C, H, W]` of a float NCHW tensor.
fn nchw(op: &str, what: &str, t: &Tensor) -> Result<[usize; 4]> {
    let shape = <[usize; 4]>::try_from(t.shape()).map_err(|_| {
        Error::shape(
            op,
            format!("{what} must be 4-D (NCHW), got shape {:?}", t.shape()),
        )
    })?;
    if !t.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("{what} must be f32 or f16, got {}", t.dtype()),
        ));
    }
    Ok(shape)
}

/// Rejects tensors whose flat indices do not fit the kernels' 32-bit arithmetic.
fn check_u32(op: &str, what: &str, elements: usize) -> Result<()> {
    if elements > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!("{what} has {elements} elements, more than 32-bit indexing allows"),
        ));
    }
    Ok(())
}

/// An I32 index tensor of exactly `shape`.
fn check_indices(op: &str, indices: &Tensor, shape: &[usize]) -> Result<()> {
    if indices.dtype() != DType::I32 {
        return Err(Error::invalid(
            op,
            "indices",
            format!("expected an i32 tensor, got {}", indices.dtype()),
        ));
    }
    if indices.shape() != shape {
        return Err(Error::shape(
            op,
            format!(
                "indices: expected shape {shape:?}, got {:?}",
                indices.shape()
            ),
        ));
    }
    Ok(())
}

/// Checks the parameters that depend on the kind (PyTorch's avg_pool2d has no
/// dilation; a zero divisor is an error) and resolves the output size.
fn resolve(
    op: &str,
    kind: PoolKind,
    params: &Pool2dParams,
    h: usize,
    w: usize,
) -> Result<[usize; 2]> {
    if matches!(kind, PoolKind::Avg | PoolKind::Sum) && params.dilation != [1, 1] {
        return Err(Error::invalid(
            op,
            "dilation",
            format!(
                "average and sum pooling take no dilation, got {:?}",
                params.dilation
            ),
        ));
    }
    if params.divisor_override == Some(0) {
        return Err(Error::invalid(op, "divisor_override", "must not be zero"));
    }
    if params
        .divisor_override
        .is_some_and(|d| d > i32::MAX as usize)
    {
        return Err(Error::invalid(
            op,
            "divisor_override",
            "must fit in 32 bits",
        ));
    }
    params.out_hw(op, h, w)
}

/// The precision of a kernel with f32 and native-f16 forms only: f16 tensors
/// without the shader-f16 feature are a `MissingFeature` error.
fn typed_precision(op: &str, dev: &Device, dtype: DType) -> Result<Precision> {
    let precision = Precision::for_dtype(dev, dtype)?;
    if precision == Precision::F16Packed {
        dev.require(op, Feature::ShaderF16)?;
    }
    Ok(precision)
}

/// Launches `kernel` over `items` work items, one per invocation (or two per
/// invocation for packed f16).
fn launch(
    kernel: &Kernel<'_>,
    uniform: PoolUniform,
    items: usize,
    packed: bool,
    bindings: &[Binding<'_>],
    dev: &Device,
) -> Result<()> {
    let units = if packed { items.div_ceil(2) } else { items };
    dev.dispatch(
        kernel,
        bytemuck::bytes_of(&uniform.with_n(items)),
        bindings,
        units.div_ceil(WG) as u64,
    )
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
fn max2x2_block(
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

/// I32 flat positions need planes of at most `i32::MAX` elements.
fn check_i32_plane(op: &str, h: usize, w: usize) -> Result<()> {
    if h.checked_mul(w).is_none_or(|hw| hw > i32::MAX as usize) {
        return Err(Error::shape(
            op,
            format!("a {h}x{w} plane has more positions than i32 indices address"),
        ));
    }
    Ok(())
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
/// packed f16 (and sum or min) run [`pool2d`] with the whole plane as window.
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
/// runs [`avg_pool2d_backward`] with the whole plane as window).
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

/// PyTorch's `MaxUnpool2d`: an `[N, C, OH, OW]` tensor of zeros with
/// `x[n, c, i]` stored at flat position `indices[n, c, i]` of its plane.
/// `indices` (I32, `x`'s shape) are those of [`max_pool2d_with_indices`];
/// positions outside the `OH × OW` plane are skipped (PyTorch raises an error),
/// and when two different values name one position, which lands is unspecified.
pub fn max_unpool2d(x: &Tensor, indices: &Tensor, output_hw: [usize; 2]) -> Result<Tensor> {
    let op = "max_unpool2d";
    let [n, c, _, _] = nchw(op, "input", x)?;
    if output_hw.contains(&0) {
        return Err(Error::invalid(
            op,
            "output_size",
            format!("must be positive, got {output_hw:?}"),
        ));
    }
    let out = x
        .device()
        .empty(&[n, c, output_hw[0], output_hw[1]], x.dtype())?;
    max_unpool2d_into(x, indices, &out)?;
    Ok(out)
}

/// [`max_unpool2d`] into `out`, whose `[N, C, OH, OW]` gives the output size
/// (zero-filled first).
pub fn max_unpool2d_into(x: &Tensor, indices: &Tensor, out: &Tensor) -> Result<()> {
    let op = "max_unpool2d";
    let [n, c, h, w] = nchw(op, "input", x)?;
    check_indices(op, indices, &[n, c, h, w])?;
    let [on, oc, oh, ow] = <[usize; 4]>::try_from(out.shape()).map_err(|_| {
        Error::shape(
            op,
            format!("output must be 4-D (NCHW), got shape {:?}", out.shape()),
        )
    })?;
    if (on, oc) != (n, c) {
        return Err(Error::shape(
            op,
            format!(
                "output {:?} and input {:?} differ in batch or channels",
                out.shape(),
                x.shape()
            ),
        ));
    }
    if oh == 0 || ow == 0 {
        return Err(Error::invalid(
            op,
            "output_size",
            format!("must be positive, got [{oh}, {ow}]"),
        ));
    }
    check_i32_plane(op, oh, ow)?;
    let dev = x.device();
    let precision = typed_precision(op, dev, x.dtype())?;
    crate::check_output(op, out, &[n, c, oh, ow], x.dtype(), &[x, indices])?;
    check_u32(op, "output", out.numel())?;
    elementwise::fill_words(out, 0)?;
    let shader = MAX_UNPOOL
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    let kernel = Kernel::new(op, shader, "main");
    launch(
        &kernel,
        PoolUniform::planes(n * c, [h, w], [oh, ow]),
        x.numel(),
        false,
        &[
            Binding::Read(x.binding()),
            Binding::Read(indices.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        dev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(p: Pool2dParams, h: usize, w: usize) -> Result<[usize; 2]> {
        p.out_hw("pool", h, w)
    }

    #[test]
    fn output_sizes_follow_pytorch() {
        assert_eq!(out(Pool2dParams::new([2, 2]), 7, 8).unwrap(), [3, 4]);
        let ceil = Pool2dParams {
            ceil_mode: true,
            ..Pool2dParams::new([2, 2])
        };
        assert_eq!(out(ceil, 7, 8).unwrap(), [4, 4]);
        // ceil mode: the last window must start inside the input or left padding.
        let p = Pool2dParams {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            ceil_mode: true,
            ..Pool2dParams::new([3, 3])
        };
        assert_eq!(out(p, 6, 6).unwrap(), [4, 4]);
        assert_eq!(out(p, 5, 5).unwrap(), [3, 3]);
        // (5 + 2 - 2 + 1) / 2 + 1 = 4, but window 3 would start at 3*2 - 1 = 5,
        // in the right padding: dropped.
        let p = Pool2dParams {
            padding: [1, 1],
            ceil_mode: true,
            ..Pool2dParams::new([2, 2])
        };
        assert_eq!(out(p, 5, 5).unwrap(), [3, 3]);
        // 1x1 input with ceil mode and a kernel larger than the input.
        let p = Pool2dParams {
            ceil_mode: true,
            ..Pool2dParams::new([2, 2])
        };
        assert_eq!(out(p, 1, 1).unwrap(), [1, 1]);
        let p = Pool2dParams {
            dilation: [2, 3],
            stride: [1, 1],
            ..Pool2dParams::new([3, 2])
        };
        assert_eq!(out(p, 9, 9).unwrap(), [5, 6]);
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = out(Pool2dParams::new([3, 3]), 2, 5).unwrap_err();
        assert!(
            e.to_string().contains("larger than the padded input"),
            "{e}"
        );
        let p = Pool2dParams {
            padding: [2, 0],
            ..Pool2dParams::new([3, 3])
        };
        assert!(out(p, 9, 9).unwrap_err().to_string().contains("padding"));
        let p = Pool2dParams {
            stride: [0, 1],
            ..Pool2dParams::new([3, 3])
        };
        assert!(out(p, 9, 9).unwrap_err().to_string().contains("stride"));
    }
}
