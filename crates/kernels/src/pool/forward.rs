//! Pooling forward: [`pool2d`] (max, avg, sum, min) and
//! [`max_pool2d_with_indices`].

use weft_device::{Binding, DType, Kernel, Result, ShaderFile, Tensor};

use super::{
    PARAMS, Pool2dParams, PoolKind, PoolUniform, check_i32_plane, check_u32, launch, nchw, resolve,
};
use crate::precision::Precision;
use crate::registry::{self, Problem, Source, Table, Tile, Unsupported, Variant};
use crate::tune;

const FORWARD: ShaderFile = crate::shaders::wgsl!("pool/forward.wgsl");
crate::shaders::typed!(POOL2D, [PARAMS, FORWARD], "pool/pool2d.wgsl");
crate::shaders::plain!(POOL2D_F16P, [PARAMS, FORWARD], "pool/pool2d_f16p.wgsl");
const MAX2X2_COMMON: ShaderFile = crate::shaders::wgsl!("pool/max2x2_common.wgsl");
crate::shaders::typed!(MAX2X2_WGSL, [PARAMS, MAX2X2_COMMON], "pool/max2x2.wgsl");
crate::shaders::typed!(
    MAX2X2_VEC4_WGSL,
    [PARAMS, MAX2X2_COMMON],
    "pool/max2x2_vec4.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&POOL2D, &MAX2X2_WGSL, &MAX2X2_VEC4_WGSL], &[&POOL2D_F16P])
}

/// A pooling as its variants see it: `planes` planes of `hw` pooled to
/// `ohw`, with or without PyTorch's indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool2dProblem {
    pub kind: PoolKind,
    pub planes: usize,
    pub hw: [usize; 2],
    pub ohw: [usize; 2],
    pub params: Pool2dParams,
    /// Also write the I32 flat positions of the maxima (max pooling only).
    pub with_indices: bool,
    pub precision: Precision,
}

/// The tensors: x, the output, and the indices when asked for; `op` names
/// the launches.
pub struct Pool2dArgs<'a> {
    pub op: &'static str,
    pub x: &'a Tensor,
    pub out: &'a Tensor,
    pub indices: Option<&'a Tensor>,
}

impl Problem for Pool2dProblem {
    type Args<'a> = Pool2dArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        let p = &self.params;
        format!(
            "{:?} i{} k{}x{} s{}x{} p{}x{} d{}x{} hw{} ow{} n{}",
            self.kind,
            self.with_indices as u8,
            p.kernel[0],
            p.kernel[1],
            p.stride[0],
            p.stride[1],
            p.padding[0],
            p.padding[1],
            p.dilation[0],
            p.dilation[1],
            tune::bucket(self.hw[0] * self.hw[1]),
            self.ohw[1] % 4,
            tune::bucket(self.planes)
        )
    }

    fn is_empty(&self) -> bool {
        self.planes * self.ohw[0] * self.ohw[1] == 0
    }
}

/// A pooling variant: a row of [`VARIANTS`].
pub type Pool2dVariant = Variant<Pool2dProblem>;

/// Every pooling variant, the baseline first.
pub const VARIANTS: &[Pool2dVariant] = &[
    Variant {
        name: "window",
        idea: "one output (packed f16: one output word) per invocation over its window",
        requires: "every problem (indices with max pooling only)",
        shaders: &[Source::Typed(&POOL2D), Source::Plain(&POOL2D_F16P)],
        constants: &[],
        tile: Tile::PerProblem("64 outputs per workgroup"),
        precisions: registry::ALL_PRECISIONS,
        supports: |p, _| {
            registry::require(!p.with_indices || p.kind == PoolKind::Max, || {
                format!("indices belong to max pooling, not {:?}", p.kind)
            })
        },
        scratch: registry::no_scratch,
        launch: launch_window,
    },
    Variant {
        name: "max2x2",
        idea: "2x2 windows at stride 2: 2 outputs per invocation from vec2 loads (1 where OW \
               is odd)",
        requires: "max pooling, 2x2 windows, stride 2, no padding or dilation, even width, \
                   floor-sized output",
        shaders: &[Source::Typed(&MAX2X2_WGSL)],
        constants: &[],
        tile: Tile::PerProblem("64 invocations of V (2 or 1) outputs"),
        precisions: registry::TYPED,
        supports: |p, _| max2x2(p),
        scratch: registry::no_scratch,
        launch: launch_max2x2,
    },
    Variant {
        name: "max2x2_vec4",
        idea: "2x2 windows at stride 2: 4 outputs per invocation from vec4 loads and a vec4 \
               store",
        requires: "as max2x2, and OW a multiple of 4",
        shaders: &[Source::Typed(&MAX2X2_VEC4_WGSL)],
        constants: &[("V", 4.0)],
        tile: Tile::PerProblem("64 invocations of 4 outputs"),
        precisions: registry::TYPED,
        supports: |p, _| {
            max2x2(p)?;
            registry::require(p.ohw[1].is_multiple_of(4), || {
                format!("needs OW a multiple of 4, got {}", p.ohw[1])
            })
        },
        scratch: registry::no_scratch,
        launch: launch_max2x2,
    },
];

pub const WINDOW: &Pool2dVariant = registry::named(VARIANTS, "window");
pub const MAX2X2: &Pool2dVariant = registry::named(VARIANTS, "max2x2");
pub const MAX2X2_VEC4: &Pool2dVariant = registry::named(VARIANTS, "max2x2_vec4");

/// The pooling table.
pub static TABLE: Table<Pool2dProblem> = Table {
    op: "pool2d",
    variants: VARIANTS,
    // The widest 2x2 form that applies (measured 3.4x faster on lavapipe,
    // docs/PERFORMANCE.md), the general window otherwise.
    auto: |p, caps| {
        [MAX2X2_VEC4, MAX2X2]
            .into_iter()
            .find(|v| v.check(p, caps).is_ok())
            .unwrap_or(WINDOW)
    },
};

/// Whether `params` are plain 2×2 windows at stride 2 (no padding or dilation).
pub(super) fn plain_2x2(params: &Pool2dParams) -> bool {
    params.kernel == [2, 2]
        && params.stride == [2, 2]
        && params.padding == [0, 0]
        && params.dilation == [1, 1]
}

/// The 2×2 kernels: max pooling of plain 2×2 windows at stride 2 on even
/// widths, floor-sized outputs.
fn max2x2(p: &Pool2dProblem) -> std::result::Result<(), Unsupported> {
    registry::require(p.kind == PoolKind::Max, || {
        format!("max pooling only, not {:?}", p.kind)
    })?;
    registry::require(plain_2x2(&p.params), || {
        "needs 2x2 windows at stride 2 with no padding or dilation".into()
    })?;
    let ([h, w], ohw) = (p.hw, p.ohw);
    registry::require(w.is_multiple_of(2), || {
        format!("needs an even input width, got {w}")
    })?;
    registry::require(ohw == [h / 2, w / 2] && ohw[0] * ohw[1] > 0, || {
        format!(
            "needs a non-empty floor-sized output, got {ohw:?} from {:?}",
            p.hw
        )
    })
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
    pool2d_by(x, kind, params, None, precision, out)
}

/// [`pool2d_into`] by a given variant (a row of [`VARIANTS`]); `None` lets the
/// table choose.
pub fn pool2d_by(
    x: &Tensor,
    kind: PoolKind,
    params: &Pool2dParams,
    variant: Option<&'static Pool2dVariant>,
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
    let problem = Pool2dProblem {
        kind,
        planes: n * c,
        hw: [h, w],
        ohw: [oh, ow],
        params: *params,
        with_indices: false,
        precision,
    };
    let args = Pool2dArgs {
        op,
        x,
        out,
        indices: None,
    };
    TABLE.run(dev, &problem, variant, &args)
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
    max_pool2d_with_indices_by(x, params, None, precision, out, indices)
}

/// [`max_pool2d_with_indices_into`] by a given variant (a row of
/// [`VARIANTS`]); `None` lets the table choose.
pub fn max_pool2d_with_indices_by(
    x: &Tensor,
    params: &Pool2dParams,
    variant: Option<&'static Pool2dVariant>,
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
    let problem = Pool2dProblem {
        kind: PoolKind::Max,
        planes: n * c,
        hw: [h, w],
        ohw: [oh, ow],
        params: *params,
        with_indices: true,
        precision,
    };
    let args = Pool2dArgs {
        op,
        x,
        out,
        indices: Some(indices),
    };
    TABLE.run(dev, &problem, variant, &args)
}

/// `window`: `pool/pool2d.wgsl` (entry `main` or `with_indices`).
fn launch_window(_: &Pool2dVariant, p: &Pool2dProblem, a: &Pool2dArgs<'_>) -> Result<()> {
    let shader = match p.precision {
        Precision::F16Packed => &POOL2D_F16P,
        prec => POOL2D
            .get(prec)
            .expect("typed shaders have f32 and f16 forms"),
    };
    let (entry, bindings) = match a.indices {
        Some(indices) => (
            "with_indices",
            vec![
                Binding::Read(a.x.binding()),
                Binding::ReadWrite(a.out.binding()),
                Binding::ReadWrite(indices.binding()),
            ],
        ),
        None => (
            "main",
            vec![
                Binding::Read(a.x.binding()),
                Binding::ReadWrite(a.out.binding()),
            ],
        ),
    };
    let constants = [("KIND", p.kind.code() as f64)];
    let constants: &[(&str, f64)] = if a.indices.is_some() { &[] } else { &constants };
    let kernel = Kernel::new(a.op, shader, entry).with_constants(constants);
    launch(
        &kernel,
        PoolUniform::new(p.planes, p.hw, p.ohw, &p.params),
        a.out.numel(),
        p.precision == Precision::F16Packed,
        &bindings,
        a.x.device(),
    )
}

/// `max2x2` and `max2x2_vec4` (entry `main` or `with_indices`): V outputs
/// per invocation, 4 for the vec4 row, else 2 where OW is even, else 1.
fn launch_max2x2(v: &Pool2dVariant, p: &Pool2dProblem, a: &Pool2dArgs<'_>) -> Result<()> {
    let per = match v.constant("V") {
        Some(per) => per as usize,
        None if p.ohw[1].is_multiple_of(2) => 2,
        None => 1,
    };
    let typed = match v.shaders[0] {
        Source::Typed(t) => t,
        Source::Plain(_) => unreachable!("the 2x2 rows have typed bodies"),
    };
    let shader = typed
        .get(p.precision)
        .expect("typed shaders have f32 and f16 forms");
    let constants = [("V", per as f64)];
    let constants: &[(&str, f64)] = if per == 4 { &[] } else { &constants };
    let entry = if a.indices.is_some() {
        "with_indices"
    } else {
        "main"
    };
    let kernel = Kernel::new(a.op, shader, entry).with_constants(constants);
    let [h, w] = p.hw;
    let uniform = PoolUniform::new(p.planes, [h, w], [h / 2, w / 2], &Pool2dParams::new([2, 2]));
    let mut bindings = vec![
        Binding::Read(a.x.binding()),
        Binding::ReadWrite(a.out.binding()),
    ];
    if let Some(indices) = a.indices {
        bindings.push(Binding::ReadWrite(indices.binding()));
    }
    launch(
        &kernel,
        uniform,
        a.out.numel() / per,
        false,
        &bindings,
        a.x.device(),
    )
}
