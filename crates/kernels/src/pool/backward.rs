//! Pooling gradients in gather form: max pooling's from its indices (a
//! general path over index ranges, and one-pass forms for windows that cannot
//! overlap) and average pooling's.

use weft_device::{Binding, DType, Error, Kernel, Result, ShaderFile, Tensor};

use super::forward::plain_2x2;
use super::{
    PARAMS, Pool2dParams, PoolKind, PoolUniform, check_i32_plane, check_indices, check_u32, launch,
    nchw, resolve,
};
use crate::elementwise;
use crate::precision::Precision;
use crate::registry::{self, Problem, Source, Table, Tile, Unsupported, Variant};
use crate::tune;

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

/// Bytes of the one temporary tensor the `index_ranges` variant allocates:
/// the i32 index ranges, `2·(OH + OW + H + W)` elements.
pub fn max_pool2d_backward_temp_bytes(input_shape: [usize; 4], output_hw: [usize; 2]) -> u64 {
    let [_, _, h, w] = input_shape;
    DType::I32.storage_bytes(2 * (output_hw[0] + output_hw[1] + h + w))
}

/// Max pooling's gradient as its variants see it: `planes` planes of dy
/// (`ohw`) into dx (`hw`), with the forward's parameters when known (the
/// one-pass variants need them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxPoolBackwardProblem {
    pub planes: usize,
    pub hw: [usize; 2],
    pub ohw: [usize; 2],
    pub params: Option<Pool2dParams>,
    pub precision: Precision,
}

/// The tensors: dy, the forward's indices, dx.
pub struct MaxPoolBackwardArgs<'a> {
    pub dy: &'a Tensor,
    pub indices: &'a Tensor,
    pub dx: &'a Tensor,
}

impl Problem for MaxPoolBackwardProblem {
    type Args<'a> = MaxPoolBackwardArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        let params = self.params.map_or("any".to_string(), |p| {
            format!(
                "k{}x{} s{}x{} d{}x{}",
                p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.dilation[0], p.dilation[1]
            )
        });
        format!(
            "{params} hw{} n{}",
            tune::bucket(self.hw[0] * self.hw[1]),
            tune::bucket(self.planes)
        )
    }

    fn is_empty(&self) -> bool {
        self.planes * self.hw[0] * self.hw[1] == 0
    }
}

/// A max-pooling gradient variant: a row of [`VARIANTS`].
pub type MaxPoolBackwardVariant = Variant<MaxPoolBackwardProblem>;

/// Every max-pooling gradient variant, the baseline first.
pub const VARIANTS: &[MaxPoolBackwardVariant] = &[
    Variant {
        name: "index_ranges",
        idea: "each dx element sums, in output order, the dy of the outputs whose index names \
               it, over output ranges derived from the indices (any index tensor, overlapping \
               windows)",
        requires: "every problem",
        shaders: &[
            Source::Plain(&MAX_INDEX_RANGES),
            Source::Typed(&MAX_BACKWARD),
            Source::Plain(&MAX_BACKWARD_F16P),
        ],
        constants: &[],
        tile: Tile::PerProblem("64 dx elements (packed: words) per workgroup"),
        precisions: registry::ALL_PRECISIONS,
        supports: registry::any_problem,
        scratch: |p, _| {
            if p.is_empty() || p.ohw[0] * p.ohw[1] == 0 {
                0
            } else {
                max_pool2d_backward_temp_bytes([0, 0, p.hw[0], p.hw[1]], p.ohw)
            }
        },
        launch: launch_index_ranges,
    },
    Variant {
        name: "disjoint_windows",
        idea: "windows that cannot overlap (stride >= kernel, no dilation): each dx element \
               reads the one window that can hold it, one pass, no temporary",
        requires: "the forward's parameters with stride >= kernel and dilation 1",
        shaders: &[Source::Typed(&MAX_BACKWARD_DISJOINT)],
        constants: &[],
        tile: Tile::PerProblem("64 dx elements per workgroup"),
        precisions: registry::TYPED,
        supports: |p, _| disjoint(p).map(|_| ()),
        scratch: registry::no_scratch,
        launch: |_, p, a| launch_windows(&MAX_BACKWARD_DISJOINT, p, a, a.dx.numel()),
    },
    Variant {
        name: "windows_2x2",
        idea: "2x2 windows at stride 2 cover every element once: one invocation per window \
               writes its four dx elements",
        requires: "the forward's parameters: 2x2 windows at stride 2, even height and width, \
                   floor-sized output",
        shaders: &[Source::Typed(&MAX2X2_BACKWARD)],
        constants: &[],
        tile: Tile::PerProblem("64 windows per workgroup"),
        precisions: registry::TYPED,
        supports: |p, _| {
            let params = disjoint(p)?;
            let [h, w] = p.hw;
            registry::require(
                plain_2x2(&params)
                    && h.is_multiple_of(2)
                    && w.is_multiple_of(2)
                    && p.ohw == [h / 2, w / 2],
                || "needs 2x2 windows at stride 2 on an even height and width".into(),
            )
        },
        scratch: registry::no_scratch,
        launch: |_, p, a| launch_windows(&MAX2X2_BACKWARD, p, a, a.dy.numel()),
    },
];

pub const INDEX_RANGES: &MaxPoolBackwardVariant = registry::named(VARIANTS, "index_ranges");
pub const DISJOINT_WINDOWS: &MaxPoolBackwardVariant = registry::named(VARIANTS, "disjoint_windows");
pub const WINDOWS_2X2: &MaxPoolBackwardVariant = registry::named(VARIANTS, "windows_2x2");

/// The table of max pooling's gradient.
pub static TABLE: Table<MaxPoolBackwardProblem> = Table {
    op: "max_pool2d_backward",
    variants: VARIANTS,
    // One pass where the windows allow it, the most specialised first.
    auto: |p, caps| {
        [WINDOWS_2X2, DISJOINT_WINDOWS]
            .into_iter()
            .find(|v| v.check(p, caps).is_ok())
            .unwrap_or(INDEX_RANGES)
    },
};

/// The forward's parameters, when its windows cannot overlap.
fn disjoint(p: &MaxPoolBackwardProblem) -> std::result::Result<Pool2dParams, Unsupported> {
    let params = p
        .params
        .ok_or_else(|| Unsupported::new("needs the forward's pooling parameters"))?;
    registry::require(
        (0..2).all(|a| params.stride[a] >= params.kernel[a] && params.dilation[a] == 1),
        || {
            format!(
                "needs windows that cannot overlap (stride >= kernel, dilation 1), got kernel \
                 {:?} stride {:?} dilation {:?}",
                params.kernel, params.stride, params.dilation
            )
        },
    )?;
    Ok(params)
}

/// Gradient of max pooling: `dx[idx[o]] += dy[o]` over each plane, computed as
/// a deterministic gather (each input element sums, in output order, the `dy`
/// of the outputs whose index names it), correct when windows overlap and for
/// any index tensor. `indices` are those of [`max_pool2d_with_indices`](super::max_pool2d_with_indices);
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
    max_backward(dy, indices, None, None, precision, dx)
}

/// [`max_pool2d_backward`] knowing the forward's `params`: where windows
/// cannot overlap (stride ≥ kernel, no dilation) one pass and no temporary
/// (each input element reads the one window that can hold it); otherwise the
/// general gather. Same results as [`max_pool2d_backward`] for indices from
/// [`max_pool2d_with_indices`](super::max_pool2d_with_indices) with these `params`.
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
    max_backward(dy, indices, Some(params), None, precision, dx)
}

/// Max pooling's gradient by a given variant (a row of [`VARIANTS`]; `None`
/// lets the table choose), with the forward's `params` if known.
pub fn max_pool2d_backward_by(
    dy: &Tensor,
    indices: &Tensor,
    params: Option<&Pool2dParams>,
    variant: Option<&'static MaxPoolBackwardVariant>,
    precision: Option<Precision>,
    dx: &Tensor,
) -> Result<()> {
    max_backward(dy, indices, params, variant, precision, dx)
}

fn max_backward(
    dy: &Tensor,
    indices: &Tensor,
    params: Option<&Pool2dParams>,
    variant: Option<&'static MaxPoolBackwardVariant>,
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
    if let Some(params) = params
        && resolve(op, PoolKind::Max, params, h, w)? != [oh, ow]
    {
        return Err(Error::shape(
            op,
            format!(
                "grad_output {:?} is not the pooled size of grad_input {:?}",
                dy.shape(),
                dx.shape()
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
    let problem = MaxPoolBackwardProblem {
        planes: n * c,
        hw: [h, w],
        ohw: [oh, ow],
        params: params.copied(),
        precision,
    };
    TABLE.run(
        dev,
        &problem,
        variant,
        &MaxPoolBackwardArgs { dy, indices, dx },
    )
}

/// Input-gradient elements per invocation of `pool/max_backward.wgsl`.
const MAX_RUN: usize = 8;

/// `index_ranges`: the ranges of outputs naming each row and column, then
/// the gather.
fn launch_index_ranges(
    _: &MaxPoolBackwardVariant,
    p: &MaxPoolBackwardProblem,
    a: &MaxPoolBackwardArgs<'_>,
) -> Result<()> {
    let op = "max_pool2d_backward";
    let dev = a.dy.device();
    let ([h, w], [oh, ow], planes) = (p.hw, p.ohw, p.planes);
    let ranges = dev.empty(&[2 * (oh + ow + h + w)], DType::I32)?;
    let base = PoolUniform::planes(planes, [h, w], [oh, ow]);
    let ranges_bindings = [
        Binding::Read(a.indices.binding()),
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
    let shader = match p.precision {
        Precision::F16Packed => &MAX_BACKWARD_F16P,
        prec => MAX_BACKWARD
            .get(prec)
            .expect("typed shaders have f32 and f16 forms"),
    };
    let kernel = Kernel::new(op, shader, "main");
    let packed = p.precision == Precision::F16Packed;
    // The typed body takes runs of MAX_RUN elements along a row, the packed
    // one words.
    let items = if packed {
        a.dx.numel()
    } else {
        a.dx.numel() / w.max(1) * w.div_ceil(MAX_RUN)
    };
    launch(
        &kernel,
        base,
        items,
        packed,
        &[
            Binding::Read(a.dy.binding()),
            Binding::Read(a.indices.binding()),
            Binding::Read(ranges.binding()),
            Binding::ReadWrite(a.dx.binding()),
        ],
        dev,
    )
}

/// The one-pass kernels: `items` invocations of `typed`.
fn launch_windows(
    typed: &'static crate::precision::Typed,
    p: &MaxPoolBackwardProblem,
    a: &MaxPoolBackwardArgs<'_>,
    items: usize,
) -> Result<()> {
    let shader = typed
        .get(p.precision)
        .expect("typed shaders have f32 and f16 forms");
    let params = p
        .params
        .expect("the one-pass rows require the forward's parameters");
    launch(
        &Kernel::new("max_pool2d_backward", shader, "main"),
        PoolUniform::new(p.planes, p.hw, p.ohw, &params),
        items,
        false,
        &[
            Binding::Read(a.dy.binding()),
            Binding::Read(a.indices.binding()),
            Binding::ReadWrite(a.dx.binding()),
        ],
        a.dy.device(),
    )
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
