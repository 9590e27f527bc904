//! GEMM: C = op(A)·op(B) (+ bias), then a fused activation; batched, with
//! transposes and broadcast operands expressed as strides.
//!
//! Shapes: A is `[M, K]` (`[K, M]` when `trans_a`), optionally with a leading
//! batch dimension; B is `[K, N]` (`[N, K]` when `trans_b`), likewise. An operand
//! without a batch dimension (or with batch 1) is shared by every batch. C is
//! `[batch, M, N]`, or `[M, N]` when neither operand has a batch dimension.
//! Bias is `[M]` (one value per row) or `[N]` (per column).
//!
//! Variants (every one correct on every shape it accepts; `weft bench` compares):
//!
//! | variant | idea |
//! |---|---|
//! | `naive` | one output per invocation, loads straight from storage |
//! | `tiled` | 16×16 tiles staged through workgroup memory |
//! | `register_4x4`, `register_8x8` | a TM×TN output block per invocation in registers, any strides |
//! | `vec4_8x8`, `vec4_16x16` | register blocks with vec4 loads; row-major operands, K and N multiples of 4 |
//! | `subgroup` | A values shared across a subgroup with shuffles; needs subgroups |
//! | `packed_pairs` | packed f16 storage, one output word per invocation |

use weft_device::{Binding, Device, Error, Feature, Kernel, Result, Tensor};

use crate::precision::Precision;
use crate::{Activation, shaders, tune};

/// Where a GEMM's bias goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BiasMode {
    #[default]
    None,
    /// One value per output row (M): convolution channels in `W · cols`.
    PerRow,
    /// One value per output column (N): dense layers in `x · Wᵀ`.
    PerColumn,
}

impl BiasMode {
    fn code(self) -> u32 {
        match self {
            BiasMode::None => 0,
            BiasMode::PerRow => 1,
            BiasMode::PerColumn => 2,
        }
    }
}

/// Options of a GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GemmSpec {
    pub trans_a: bool,
    pub trans_b: bool,
    pub bias: BiasMode,
    pub activation: Activation,
    /// Kernel variant; `None` picks [`GemmVariant::auto`].
    pub variant: Option<GemmVariant>,
    /// Storage precision; `None` follows the operands' dtype.
    pub precision: Option<Precision>,
}

/// Sizes and element strides of a GEMM problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmDims {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// A(b, m, k) = a[b*a_bs + m*a_rs + k*a_cs].
    pub a_bs: usize,
    pub a_rs: usize,
    pub a_cs: usize,
    /// B(b, k, n) = b[b*b_bs + k*b_rs + n*b_cs].
    pub b_bs: usize,
    pub b_rs: usize,
    pub b_cs: usize,
    /// Whether the output has a batch dimension.
    pub batched_out: bool,
}

impl GemmDims {
    /// Infers dimensions and strides from operand shapes.
    pub fn infer(
        a_shape: &[usize],
        b_shape: &[usize],
        trans_a: bool,
        trans_b: bool,
    ) -> Result<GemmDims> {
        let split = |name: &str, s: &[usize]| -> Result<(Option<usize>, usize, usize)> {
            match *s {
                [r, c] => Ok((None, r, c)),
                [b, r, c] => Ok((Some(b), r, c)),
                _ => Err(Error::shape(
                    "gemm",
                    format!("{name} must have rank 2 or 3, got shape {s:?}"),
                )),
            }
        };
        let (ab, ar, ac) = split("A", a_shape)?;
        let (bb, br, bc) = split("B", b_shape)?;
        let (m, ka) = if trans_a { (ac, ar) } else { (ar, ac) };
        let (kb, n) = if trans_b { (bc, br) } else { (br, bc) };
        if ka != kb {
            return Err(Error::shape(
                "gemm",
                format!(
                    "inner dimensions differ: A {a_shape:?}{} has K = {ka}, B {b_shape:?}{} has K = {kb}",
                    if trans_a { "ᵀ" } else { "" },
                    if trans_b { "ᵀ" } else { "" }
                ),
            ));
        }
        let batch = match (ab, bb) {
            (Some(x), Some(y)) if x != y && x != 1 && y != 1 => {
                return Err(Error::shape(
                    "gemm",
                    format!("batch sizes differ: A has {x}, B has {y}"),
                ));
            }
            (Some(x), Some(y)) => x.max(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => 1,
        };
        let shared = |d: Option<usize>| d.is_none_or(|v| v == 1);
        let (a_rs, a_cs) = if trans_a { (1, m) } else { (ka, 1) };
        let (b_rs, b_cs) = if trans_b { (1, kb) } else { (n, 1) };
        Ok(GemmDims {
            batch,
            m,
            n,
            k: ka,
            a_bs: if shared(ab) { 0 } else { m * ka },
            a_rs,
            a_cs,
            b_bs: if shared(bb) { 0 } else { ka * n },
            b_rs,
            b_cs,
            batched_out: ab.is_some() || bb.is_some(),
        })
    }

    pub fn a_index(&self, b: usize, m: usize, k: usize) -> usize {
        b * self.a_bs + m * self.a_rs + k * self.a_cs
    }

    pub fn b_index(&self, b: usize, k: usize, n: usize) -> usize {
        b * self.b_bs + k * self.b_rs + n * self.b_cs
    }

    /// Output shape.
    pub fn out_shape(&self) -> Vec<usize> {
        if self.batched_out {
            vec![self.batch, self.m, self.n]
        } else {
            vec![self.m, self.n]
        }
    }

    /// The tuner's shape class: log2 buckets of the sizes, transposes, and
    /// whether the vector-load variants apply.
    pub fn shape_class(&self) -> String {
        let aligned = self.k.is_multiple_of(4) && self.n.is_multiple_of(4);
        format!(
            "b{} m{} n{} k{} ta{} tb{} a{}",
            tune::bucket(self.batch),
            tune::bucket(self.m),
            tune::bucket(self.n),
            tune::bucket(self.k),
            (self.a_cs != 1) as u8,
            (self.b_cs != 1) as u8,
            aligned as u8
        )
    }

    /// Floating-point operations (an FMA counts as two).
    pub fn flops(&self) -> f64 {
        2.0 * self.batch as f64 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

/// A GEMM kernel variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GemmVariant {
    Naive,
    Tiled,
    Register4x4,
    Register8x8,
    Vec4x8x8,
    Vec4x16x16,
    Subgroup,
    PackedPairs,
}

impl GemmVariant {
    /// Every variant, baseline first.
    pub const ALL: [GemmVariant; 8] = [
        GemmVariant::Naive,
        GemmVariant::Tiled,
        GemmVariant::Register4x4,
        GemmVariant::Register8x8,
        GemmVariant::Vec4x8x8,
        GemmVariant::Vec4x16x16,
        GemmVariant::Subgroup,
        GemmVariant::PackedPairs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GemmVariant::Naive => "naive",
            GemmVariant::Tiled => "tiled",
            GemmVariant::Register4x4 => "register_4x4",
            GemmVariant::Register8x8 => "register_8x8",
            GemmVariant::Vec4x8x8 => "vec4_8x8",
            GemmVariant::Vec4x16x16 => "vec4_16x16",
            GemmVariant::Subgroup => "subgroup",
            GemmVariant::PackedPairs => "packed_pairs",
        }
    }

    pub fn from_name(name: &str) -> Option<GemmVariant> {
        GemmVariant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Why this variant cannot run `dims` at `precision` on `dev`, if it cannot.
    pub fn unsupported(
        self,
        dev: &Device,
        dims: &GemmDims,
        precision: Precision,
    ) -> Option<String> {
        let packed = precision == Precision::F16Packed;
        match self {
            GemmVariant::PackedPairs if !packed => Some("packed f16 storage only".into()),
            GemmVariant::PackedPairs => None,
            _ if packed => Some("has no packed-f16 form".into()),
            GemmVariant::Subgroup if !dev.has(Feature::Subgroups) => {
                Some("adapter has no subgroups".into())
            }
            GemmVariant::Vec4x8x8 | GemmVariant::Vec4x16x16 => {
                let row_major =
                    dims.a_cs == 1 && dims.a_rs == dims.k && dims.b_cs == 1 && dims.b_rs == dims.n;
                if !row_major {
                    Some("needs row-major A and B (no transposes)".into())
                } else if !dims.k.is_multiple_of(4) || !dims.n.is_multiple_of(4) {
                    Some(format!(
                        "needs K and N multiples of 4 (K = {}, N = {})",
                        dims.k, dims.n
                    ))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Output rows and columns one workgroup covers (for packed pairs: words).
    fn block(self) -> (usize, usize) {
        match self {
            GemmVariant::Naive | GemmVariant::Tiled => (16, 16),
            GemmVariant::Register4x4 => (32, 32),
            GemmVariant::Register8x8 => (64, 64),
            GemmVariant::Vec4x8x8 => (64, 64),
            GemmVariant::Vec4x16x16 => (256, 256),
            GemmVariant::Subgroup => (8, 64),
            GemmVariant::PackedPairs => (1, 512),
        }
    }

    fn shader(self, precision: Precision) -> &'static weft_device::Shader {
        let typed = match self {
            GemmVariant::Naive => &shaders::GEMM_NAIVE,
            GemmVariant::Tiled => &shaders::GEMM_TILED,
            GemmVariant::Register4x4 | GemmVariant::Register8x8 => &shaders::GEMM_REGISTER,
            GemmVariant::Vec4x8x8 | GemmVariant::Vec4x16x16 => &shaders::GEMM_VEC4,
            GemmVariant::Subgroup => &shaders::GEMM_SUBGROUP,
            GemmVariant::PackedPairs => return &shaders::GEMM_F16P,
        };
        typed
            .get(precision)
            .expect("typed GEMM variants have f32 and f16 forms")
    }

    fn tile_constants(self) -> Vec<(&'static str, f64)> {
        match self {
            GemmVariant::Register4x4 => vec![("TM", 4.0), ("TN", 4.0)],
            GemmVariant::Register8x8 => vec![("TM", 8.0), ("TN", 8.0)],
            GemmVariant::Vec4x8x8 => vec![("TM", 8.0), ("TN4", 2.0), ("WG_X", 8.0), ("WG_Y", 8.0)],
            GemmVariant::Vec4x16x16 => {
                vec![("TM", 16.0), ("TN4", 4.0), ("WG_X", 16.0), ("WG_Y", 16.0)]
            }
            _ => vec![],
        }
    }

    /// The default choice for a problem: vector loads where the layout allows,
    /// register blocks otherwise (measured fastest on lavapipe; see
    /// docs/PERFORMANCE.md).
    pub fn auto(dev: &Device, dims: &GemmDims, precision: Precision) -> GemmVariant {
        if precision == Precision::F16Packed {
            return GemmVariant::PackedPairs;
        }
        if let Some(v) = tune::cached(dev, "gemm", &dims.shape_class(), precision)
            .and_then(|n| GemmVariant::from_name(&n))
            .filter(|v| v.unsupported(dev, dims, precision).is_none())
        {
            return v;
        }
        if GemmVariant::Vec4x8x8
            .unsupported(dev, dims, precision)
            .is_none()
        {
            GemmVariant::Vec4x8x8
        } else if dims.m >= 32 && dims.n >= 32 {
            // Transposed operands (dense layers' x·Wᵀ and dyᵀ·x): 8x8 blocks
            // halve the loads per FMA of 4x4 once both sides fill a block.
            GemmVariant::Register8x8
        } else {
            GemmVariant::Register4x4
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GemmParams {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_rs: u32,
    a_cs: u32,
    a_bs: u32,
    tiles_m: u32,
    b_rs: u32,
    b_cs: u32,
    b_bs: u32,
    tiles_n: u32,
    c_bs: u32,
    bias_bs: u32,
    _pad: [u32; 2],
}

/// C = op(A)·op(B) (+ bias), then activation, into a new tensor.
pub fn gemm(a: &Tensor, b: &Tensor, bias: Option<&Tensor>, spec: &GemmSpec) -> Result<Tensor> {
    let dims = check(a, b, bias, spec)?;
    let c = a.device().empty(&dims.out_shape(), a.dtype())?;
    gemm_into(a, b, bias, spec, &c)?;
    Ok(c)
}

/// [`gemm`] into an existing output tensor of the right shape and dtype.
pub fn gemm_into(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: &GemmSpec,
    c: &Tensor,
) -> Result<()> {
    let dev = a.device();
    let dims = check(a, b, bias, spec)?;
    crate::check_output("gemm", c, &dims.out_shape(), a.dtype(), &[a, b])?;
    let precision = Precision::resolve("gemm", dev, a.dtype(), spec.precision)?;
    if spec.variant.is_none()
        && tune::cached(dev, "gemm", &dims.shape_class(), precision).is_none()
        && dims.m * dims.n * dims.batch > 0
    {
        let candidates: Vec<(GemmVariant, &str)> = GemmVariant::ALL
            .into_iter()
            .filter(|v| v.unsupported(dev, &dims, precision).is_none())
            .map(|v| (v, v.name()))
            .collect();
        let tuned = tune::tune(
            dev,
            "gemm",
            &dims.shape_class(),
            precision,
            &candidates,
            |v| launch(&dims, a, b, bias, spec, v, precision, c),
        )?;
        if tuned.is_some() {
            return Ok(());
        }
    }
    let variant = spec
        .variant
        .unwrap_or_else(|| GemmVariant::auto(dev, &dims, precision));
    if let Some(why) = variant.unsupported(dev, &dims, precision) {
        return Err(Error::invalid(
            "gemm",
            "variant",
            format!("{} cannot run this problem: {why}", variant.name()),
        ));
    }
    launch(&dims, a, b, bias, spec, variant, precision, c)
}

/// Validates operand shapes and dtypes.
fn check(a: &Tensor, b: &Tensor, bias: Option<&Tensor>, spec: &GemmSpec) -> Result<GemmDims> {
    if a.dtype() != b.dtype() || !a.dtype().is_float() {
        return Err(Error::shape(
            "gemm",
            format!(
                "A and B must share a float dtype, got {} and {}",
                a.dtype(),
                b.dtype()
            ),
        ));
    }
    let dims = GemmDims::infer(a.shape(), b.shape(), spec.trans_a, spec.trans_b)?;
    match (bias, spec.bias) {
        (None, BiasMode::None) => {}
        (Some(t), mode @ (BiasMode::PerRow | BiasMode::PerColumn)) => {
            let want = if mode == BiasMode::PerRow {
                dims.m
            } else {
                dims.n
            };
            if t.shape() != [want] || t.dtype() != a.dtype() {
                return Err(Error::shape(
                    "gemm",
                    format!(
                        "bias: expected [{want}] {} ({mode:?}), got {:?} {}",
                        a.dtype(),
                        t.shape(),
                        t.dtype()
                    ),
                ));
            }
        }
        (Some(_), BiasMode::None) => {
            return Err(Error::invalid(
                "gemm",
                "bias",
                "a bias tensor was given with BiasMode::None",
            ));
        }
        (None, _) => {
            return Err(Error::invalid(
                "gemm",
                "bias",
                "BiasMode asks for a bias but none was given",
            ));
        }
    }
    Ok(dims)
}

#[allow(clippy::too_many_arguments)]
fn launch(
    dims: &GemmDims,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: &GemmSpec,
    variant: GemmVariant,
    precision: Precision,
    c: &Tensor,
) -> Result<()> {
    let dev = a.device();
    let (bm, bn) = variant.block();
    let tiles_m = dims.m.div_ceil(bm);
    let tiles_n = dims.n.div_ceil(bn);
    let params = GemmParams {
        m: dims.m as u32,
        n: dims.n as u32,
        k: dims.k as u32,
        batch: dims.batch as u32,
        a_rs: dims.a_rs as u32,
        a_cs: dims.a_cs as u32,
        a_bs: dims.a_bs as u32,
        tiles_m: tiles_m as u32,
        b_rs: dims.b_rs as u32,
        b_cs: dims.b_cs as u32,
        b_bs: dims.b_bs as u32,
        tiles_n: tiles_n as u32,
        c_bs: (dims.m * dims.n) as u32,
        bias_bs: 0,
        _pad: [0; 2],
    };
    let mut constants = variant.tile_constants();
    constants.extend(spec.activation.constants());
    constants.push(("BIAS", spec.bias.code() as f64));
    let kernel = Kernel::new("gemm", variant.shader(precision), "main").with_constants(&constants);
    let workgroups = match variant {
        GemmVariant::PackedPairs => (dims.batch * dims.m * dims.n).div_ceil(2).div_ceil(256),
        _ => dims.batch * tiles_m * tiles_n,
    };
    if dims.m == 0 || dims.n == 0 || dims.batch == 0 {
        return Ok(());
    }
    // With K = 0 every output is bias + activation; kernels handle it (no loads).
    let bias_binding = bias.unwrap_or(a).binding();
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(a.binding()),
            Binding::Read(b.binding()),
            Binding::Read(bias_binding),
            Binding::ReadWrite(c.binding()),
        ],
        workgroups as u64,
    )
}
