//! GEMM: C = op(A)·op(B) (+ bias), then a fused activation; batched, with
//! transposes and broadcast operands expressed as strides.
//!
//! Shapes: A is `[M, K]` (`[K, M]` when `trans_a`), optionally with a leading
//! batch dimension; B is `[K, N]` (`[N, K]` when `trans_b`), likewise. An operand
//! without a batch dimension (or with batch 1) is shared by every batch. C is
//! `[batch, M, N]`, or `[M, N]` when neither operand has a batch dimension.
//! Bias is `[M]` (one value per row) or `[N]` (per column).
//!
//! Variants: the rows of [`VARIANTS`], each correct on every problem it
//! accepts; `weft bench --list` prints them with their constraints and `weft
//! bench --op gemm` compares them. [`TABLE`]'s automatic choice takes vector
//! loads where the layout allows and register blocks otherwise.

use weft_device::{
    Binding, BufferRange, Caps, Device, Error, Feature, Kernel, Result, Shader, Tensor,
};

use crate::precision::Precision;
use crate::registry::{self, Problem, Source, Table, Tile, Unsupported, Variant};
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
    /// Kernel variant (a row of [`VARIANTS`]); `None`: the tuner's choice or
    /// the default.
    pub variant: Option<&'static GemmVariant>,
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
    /// Element offsets of A, B and C in their bindings (0 from [`infer`]):
    /// kernels that launch the GEMM on a chunk of a larger tensor (a batch
    /// chunk of images) add them to every index, C(b, m, n) being
    /// `c[c_off + b*M*N + m*N + n]`. Vector kernels need multiples of 4;
    /// the packed-f16 kernel needs 0.
    ///
    /// [`infer`]: Self::infer
    pub a_off: usize,
    pub b_off: usize,
    pub c_off: usize,
    /// Elements between C's rows: N, or more where C is a column block of a
    /// wider matrix (a GEMM split by columns). Vector kernels need a multiple
    /// of 4; the packed-f16 kernel needs N.
    pub c_rs: usize,
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
            a_off: 0,
            b_off: 0,
            c_off: 0,
            c_rs: n,
        })
    }

    pub fn a_index(&self, b: usize, m: usize, k: usize) -> usize {
        self.a_off + b * self.a_bs + m * self.a_rs + k * self.a_cs
    }

    pub fn b_index(&self, b: usize, k: usize, n: usize) -> usize {
        self.b_off + b * self.b_bs + k * self.b_rs + n * self.b_cs
    }

    /// Whether every offset and batch stride is a multiple of 4 (vector
    /// kernels index whole vec4s).
    fn vec4_aligned(&self) -> bool {
        [self.a_off, self.b_off, self.c_off, self.a_bs, self.b_bs]
            .iter()
            .all(|s| s.is_multiple_of(4))
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

/// A GEMM as its variants see it: shapes and strides, the fused epilogue, and
/// the precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmProblem {
    pub dims: GemmDims,
    pub bias: BiasMode,
    pub activation: Activation,
    pub precision: Precision,
}

/// The operands of a GEMM launch: bindings of A, B, the bias and C on
/// `device` (whole tensors, or windows of them with the problem's offsets
/// locating the operands inside).
pub struct GemmArgs<'a> {
    pub device: &'a Device,
    pub a: BufferRange<'a>,
    pub b: BufferRange<'a>,
    pub bias: Option<BufferRange<'a>>,
    pub c: BufferRange<'a>,
}

impl<'a> GemmArgs<'a> {
    /// Whole tensors as the operands.
    pub fn tensors(a: &'a Tensor, b: &'a Tensor, bias: Option<&'a Tensor>, c: &'a Tensor) -> Self {
        GemmArgs {
            device: a.device(),
            a: a.binding(),
            b: b.binding(),
            bias: bias.map(Tensor::binding),
            c: c.binding(),
        }
    }
}

impl Problem for GemmProblem {
    type Args<'a> = GemmArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        self.dims.shape_class()
    }

    fn is_empty(&self) -> bool {
        self.dims.m * self.dims.n * self.dims.batch == 0
    }
}

/// A GEMM kernel variant: a row of [`VARIANTS`].
pub type GemmVariant = Variant<GemmProblem>;

/// A row of a typed, blocked kernel that accepts any strides.
const fn blocked(
    name: &'static str,
    idea: &'static str,
    constants: &'static [(&'static str, f64)],
    rows: usize,
    cols: usize,
) -> GemmVariant {
    Variant {
        name,
        idea,
        requires: "any strides (transposes, broadcast batches)",
        // Set by each row: a reference to a static cannot pass through a
        // const fn's arguments into a promoted slice.
        shaders: &[],
        constants,
        tile: Tile::Block { rows, cols },
        precisions: registry::TYPED,
        supports: registry::any_problem,
        scratch: registry::no_scratch,
        launch: launch_blocked,
    }
}

/// A block of the vec4 kernel: its override constants, and the rows and
/// columns of C one workgroup covers.
type Vec4Block = (&'static [(&'static str, f64)], usize, usize);

const BLOCK_8X8: Vec4Block = (
    &[("TM", 8.0), ("TN4", 2.0), ("WG_X", 8.0), ("WG_Y", 8.0)],
    64,
    64,
);
const BLOCK_16X16: Vec4Block = (
    &[("TM", 16.0), ("TN4", 4.0), ("WG_X", 16.0), ("WG_Y", 16.0)],
    256,
    256,
);
const BLOCK_16X16_64X128: Vec4Block = (
    &[("TM", 16.0), ("TN4", 4.0), ("WG_X", 8.0), ("WG_Y", 4.0)],
    64,
    128,
);

/// A row of the vec4 kernel (`gemm_vec4.wgsl`) with its block.
const fn vec4(name: &'static str, idea: &'static str, block: Vec4Block) -> GemmVariant {
    let (constants, rows, cols) = block;
    Variant {
        requires: "row-major A and B (no transposes); K, N, row and batch strides and offsets \
                   multiples of 4",
        supports: row_major_aligned,
        ..blocked(name, idea, constants, rows, cols)
    }
}

/// A row of the NT kernel (`gemm_vec4_nt.wgsl`: x·Wᵀ, both operands along K).
const fn vec4_nt(name: &'static str, idea: &'static str) -> GemmVariant {
    Variant {
        requires: "row-major A and transposed row-major B (x·Wᵀ: both contiguous along K), \
                   K, row and batch strides multiples of 4",
        supports: nt_aligned,
        ..blocked(name, idea, &[("TM", 8.0), ("TN", 8.0)], 64, 64)
    }
}

fn nt_aligned(p: &GemmProblem, _: &Caps) -> Result<(), Unsupported> {
    let d = &p.dims;
    registry::require(d.a_cs == 1 && d.b_rs == 1, || {
        "needs row-major A and B given as [N, K] (trans_b)".into()
    })?;
    registry::require(
        [d.k, d.a_rs, d.b_cs].iter().all(|s| s.is_multiple_of(4)) && d.vec4_aligned(),
        || {
            format!(
                "needs K, the row and batch strides and the offsets multiples of 4 \
                 (K = {}, row strides {} and {})",
                d.k, d.a_rs, d.b_cs
            )
        },
    )
}

/// A row of the vec4 kernel with A's rows shared across subgroups
/// (`gemm/a_rows_subgroup.wgsl`).
const fn vec4_sg(name: &'static str, idea: &'static str, block: Vec4Block) -> GemmVariant {
    let (constants, rows, cols) = block;
    Variant {
        requires: "subgroups; row-major A and B (no transposes); K, N, row and batch strides \
                   and offsets multiples of 4",
        supports: |p, caps| {
            has_subgroups(p, caps)?;
            row_major_aligned(p, caps)
        },
        ..blocked(name, idea, constants, rows, cols)
    }
}

/// Every GEMM variant, the baseline first (`weft bench --list` prints them).
pub const VARIANTS: &[GemmVariant] = &[
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_NAIVE)],
        ..blocked(
            "naive",
            "one output per invocation, loads straight from storage",
            &[],
            16,
            16,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_TILED)],
        ..blocked(
            "tiled",
            "16x16 tiles staged through workgroup memory",
            &[],
            16,
            16,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_REGISTER)],
        ..blocked(
            "register_4x4",
            "a 4x4 output block per invocation in registers",
            &[("TM", 4.0), ("TN", 4.0)],
            32,
            32,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_REGISTER)],
        ..blocked(
            "register_8x8",
            "an 8x8 output block per invocation in registers",
            &[("TM", 8.0), ("TN", 8.0)],
            64,
            64,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_VEC4)],
        ..vec4(
            "vec4_8x8",
            "8x8 register blocks with vec4 loads of A along K and of B along N",
            BLOCK_8X8,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_VEC4)],
        ..vec4(
            "vec4_16x16",
            "16x16 register blocks with vec4 loads, 16x16 invocations",
            BLOCK_16X16,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_VEC4)],
        ..vec4(
            "vec4_16x16_64x128",
            "16x16 register blocks with vec4 loads, 8x4 invocations: 64-row tiles for \
             convolutions' 64-512 output channels",
            BLOCK_16X16_64X128,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_VEC4_SG)],
        ..vec4_sg(
            "vec4_8x8_sg",
            "vec4_8x8 with A's rows loaded once per subgroup of 8 and broadcast",
            BLOCK_8X8,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_VEC4_SG)],
        ..vec4_sg(
            "vec4_16x16_sg",
            "vec4_16x16 with A's rows loaded once per subgroup of 8 and broadcast",
            BLOCK_16X16,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_VEC4_SG)],
        ..vec4_sg(
            "vec4_16x16_64x128_sg",
            "vec4_16x16_64x128 with A's rows loaded once per subgroup of 8 and broadcast",
            BLOCK_16X16_64X128,
        )
    },
    Variant {
        shaders: &[Source::Typed(&shaders::GEMM_VEC4_NT)],
        ..vec4_nt(
            "vec4_nt_8x8",
            "8x8 register blocks of dot products with vec4 loads of A and of B along K",
        )
    },
    Variant {
        requires: "subgroups; row-major A and transposed row-major B (x·Wᵀ: both contiguous \
                   along K), K, row and batch strides multiples of 4",
        supports: |p, caps| {
            has_subgroups(p, caps)?;
            nt_aligned(p, caps)
        },
        shaders: &[Source::Typed(&shaders::GEMM_VEC4_NT_SG)],
        ..vec4_nt(
            "vec4_nt_8x8_sg",
            "vec4_nt_8x8 with A's rows loaded once per subgroup of 8 and broadcast",
        )
    },
    Variant {
        requires: "subgroups",
        supports: has_subgroups,
        shaders: &[Source::Typed(&shaders::GEMM_SUBGROUP)],
        ..blocked(
            "subgroup",
            "A values shared across a subgroup with shuffles",
            &[],
            8,
            64,
        )
    },
    Variant {
        name: "packed_pairs",
        idea: "packed f16 storage, one output word (two outputs) per invocation",
        requires: "any strides, no offsets, a dense C",
        shaders: &[Source::Plain(&shaders::GEMM_F16P)],
        constants: &[],
        tile: Tile::PerProblem("256 invocations of one output word each"),
        precisions: &[Precision::F16Packed],
        supports: |p, _| {
            let d = &p.dims;
            registry::require(d.a_off + d.b_off + d.c_off == 0 && d.c_rs == d.n, || {
                "needs operands at the start of their bindings and a dense C".into()
            })
        },
        scratch: registry::no_scratch,
        launch: launch_packed,
    },
];

/// Rows the automatic choice names.
pub const REGISTER_4X4: &GemmVariant = registry::named(VARIANTS, "register_4x4");
pub const REGISTER_8X8: &GemmVariant = registry::named(VARIANTS, "register_8x8");
pub const VEC4_8X8: &GemmVariant = registry::named(VARIANTS, "vec4_8x8");
pub const VEC4_16X16_64X128: &GemmVariant = registry::named(VARIANTS, "vec4_16x16_64x128");
pub const VEC4_8X8_SG: &GemmVariant = registry::named(VARIANTS, "vec4_8x8_sg");
pub const VEC4_16X16_64X128_SG: &GemmVariant = registry::named(VARIANTS, "vec4_16x16_64x128_sg");
pub const VEC4_NT_8X8: &GemmVariant = registry::named(VARIANTS, "vec4_nt_8x8");
pub const VEC4_NT_8X8_SG: &GemmVariant = registry::named(VARIANTS, "vec4_nt_8x8_sg");
pub const SUBGROUP: &GemmVariant = registry::named(VARIANTS, "subgroup");
pub const PACKED_PAIRS: &GemmVariant = registry::named(VARIANTS, "packed_pairs");

/// The GEMM table.
pub static TABLE: Table<GemmProblem> = Table {
    op: "gemm",
    variants: VARIANTS,
    auto,
};

fn row_major_aligned(p: &GemmProblem, _: &Caps) -> Result<(), Unsupported> {
    let d = &p.dims;
    registry::require(d.a_cs == 1 && d.b_cs == 1, || {
        "needs row-major A and B (no transposes)".into()
    })?;
    registry::require(
        [d.k, d.n, d.a_rs, d.b_rs, d.c_rs]
            .iter()
            .all(|s| s.is_multiple_of(4)),
        || {
            format!(
                "needs K, N and the row strides multiples of 4 (K = {}, N = {}, C's rows {} apart)",
                d.k, d.n, d.c_rs
            )
        },
    )?;
    registry::require(d.vec4_aligned(), || {
        "needs offsets and batch strides multiples of 4".into()
    })
}

fn has_subgroups(_: &GemmProblem, caps: &Caps) -> Result<(), Unsupported> {
    registry::require(caps.has(Feature::Subgroups), || {
        "adapter has no subgroups".into()
    })
}

/// Whether the subgroup-shared rows of A pay: subgroups of exactly 8 lanes,
/// as CPU rasterisers with 256-bit vectors have, where an invocation's load
/// is a gather of 8 lanes and a broadcast is a shuffle (1024³: 55 against 41
/// GFLOP/s on lavapipe). Elsewhere the plain rows stay the default and the
/// tuner may measure both.
fn rows_shared_in_subgroups(caps: &Caps) -> bool {
    caps.has(Feature::Subgroups) && caps.subgroup_min_size == 8 && caps.subgroup_max_size == 8
}

/// The default choice: vector loads where the layout allows, register blocks
/// otherwise (measured fastest on lavapipe; see docs/PERFORMANCE.md).
fn auto(p: &GemmProblem, caps: &Caps) -> &'static GemmVariant {
    if p.precision == Precision::F16Packed {
        return PACKED_PAIRS;
    }
    if VEC4_8X8.check(p, caps).is_ok() {
        // 16x16 blocks feed twice the FMAs per load of 8x8 ones; on 64-row
        // tiles they suit convolutions' channel counts (64x25088x576:
        // 26.7 against 18.3 GFLOP/s) once M fills most of a tile.
        let (big, small) = if rows_shared_in_subgroups(caps) {
            (VEC4_16X16_64X128_SG, VEC4_8X8_SG)
        } else {
            (VEC4_16X16_64X128, VEC4_8X8)
        };
        // Narrow C (at most 64 columns: one image's 7×7 or 8×8 outputs at
        // batch 1) fills under half of a 128-column tile; the 64-column
        // tiles waste less than the bigger blocks gain (512×52×4608 with
        // shared rows: 6.5 against 9.5 ms).
        return if p.dims.m >= 48 && p.dims.n > 64 {
            big
        } else {
            small
        };
    }
    if VEC4_NT_8X8.check(p, caps).is_ok() {
        // x·Wᵀ: with few rows (a dense layer at batch ≤ 16) the 64-row blocks
        // are mostly padding and the subgroup kernel, which shares A across
        // lanes, wins (8×1000×512: 6.1 against 2.3 GFLOP/s); from 32 rows on
        // the NT blocks do (64×120×400: 12.9 against register_8x8's 8.3).
        if p.dims.m <= 16 && SUBGROUP.check(p, caps).is_ok() {
            return SUBGROUP;
        }
        return if rows_shared_in_subgroups(caps) {
            VEC4_NT_8X8_SG
        } else {
            VEC4_NT_8X8
        };
    }
    if p.dims.m >= 32 && p.dims.n >= 32 {
        // Transposed A (dense layers' weight gradient dyᵀ·x): 8x8 blocks
        // halve the loads per FMA of 4x4 once both sides fill a block.
        REGISTER_8X8
    } else {
        REGISTER_4X4
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
    a_off: u32,
    b_off: u32,
    c_off: u32,
    c_rs: u32,
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
    let problem = GemmProblem {
        dims,
        bias: spec.bias,
        activation: spec.activation,
        precision: Precision::resolve("gemm", dev, a.dtype(), spec.precision)?,
    };
    let limit = dev.limits().max_storage_buffer_binding_size;
    if b.byte_size() > limit && !dims.batched_out && dims.b_cs != 1 {
        return gemm_by_column_blocks(&problem, a, b, bias, spec, c, limit);
    }
    if c.byte_size() > limit && !dims.batched_out && b.byte_size() <= limit {
        return gemm_by_row_blocks(&problem, a, b, bias, spec, c, limit);
    }
    if let Some(rows) = k_block(dev, &dims, b) {
        return gemm_by_k_blocks(&problem, a, b, bias, spec, c, rows);
    }
    TABLE.run(
        dev,
        &problem,
        spec.variant,
        &GemmArgs::tensors(a, b, bias, c),
    )
}

/// A GEMM whose B is larger than one binding, with B's columns stored as rows
/// (`x·Wᵀ` of a wide dense layer: VGG-16's first classifier layer is 392 MiB):
/// B is bound a block of its stored rows at a time and each block computes
/// the matching column block of C, its rows `N` apart.
fn gemm_by_column_blocks(
    whole: &GemmProblem,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: &GemmSpec,
    c: &Tensor,
    limit: u64,
) -> Result<()> {
    let dev = a.device();
    let d = whole.dims;
    // Blocks start at aligned binding offsets, so that B's window, the bias
    // (indexed by the block's own columns) and C's offset all line up.
    let align = crate::binding::align_elems(dev.limits(), b.dtype());
    let row_bytes = (d.k * b.dtype().element_bytes()) as u64;
    let cols = (limit / row_bytes.max(1)) as usize / align * align;
    if cols == 0 {
        return Err(Error::invalid(
            "gemm",
            "b",
            format!(
                "one column of B ({row_bytes} bytes) with its alignment ({align} columns) exceeds                  the device's max_storage_buffer_binding_size of {limit} bytes"
            ),
        ));
    }
    for j0 in (0..d.n).step_by(cols) {
        let width = cols.min(d.n - j0);
        let (b_window, b_off) = crate::binding::window(b, j0 * d.k, width * d.k, align)?;
        let bias_window = match (bias, spec.bias) {
            (Some(t), BiasMode::PerColumn) => Some(t.window(j0, width)?),
            (t, _) => t.map(Tensor::binding),
        };
        let problem = GemmProblem {
            dims: GemmDims {
                n: width,
                b_off: b_off as usize,
                c_off: j0,
                ..d
            },
            ..*whole
        };
        let args = GemmArgs {
            device: dev,
            a: a.binding(),
            b: b_window,
            bias: bias_window,
            c: c.binding(),
        };
        TABLE.run(dev, &problem, spec.variant, &args)?;
    }
    Ok(())
}

/// Rows of B per block when a GEMM must split its reduction: B larger than
/// one binding with its rows contiguous (`dz·W` through a wide dense layer,
/// B = W stored `[K, N]`), which neither column nor row blocks can bind.
fn k_block(dev: &weft_device::Device, dims: &GemmDims, b: &Tensor) -> Option<usize> {
    k_block_rows(dev, dims, b.byte_size(), b.dtype())
}

/// [`k_block`] from B's size and dtype.
fn k_block_rows(
    dev: &weft_device::Device,
    dims: &GemmDims,
    b_bytes: u64,
    dtype: weft_device::DType,
) -> Option<usize> {
    let limit = dev.limits().max_storage_buffer_binding_size;
    if b_bytes <= limit || dims.batched_out || dims.b_cs != 1 {
        return None;
    }
    let align = crate::binding::align_elems(dev.limits(), dtype);
    let row_bytes = (dims.n * dtype.element_bytes()) as u64;
    let slack = (align * dtype.element_bytes()) as u64;
    // Whole vec4s of A's offset (k0·a_cs with a_cs = 1 for an untransposed A).
    Some((limit.saturating_sub(slack) / row_bytes.max(1)) as usize / 4 * 4)
}

/// Bytes a GEMM of `a_shape`·`b_shape` (untransposed B) holds beyond its
/// output while it splits its reduction (see [`gemm_into`]): one partial
/// product of C's size; 0 when it runs in one launch. For memory planning.
pub fn gemm_temp_bytes(
    dev: &weft_device::Device,
    a_shape: &[usize],
    b_shape: &[usize],
    spec: &GemmSpec,
    dtype: weft_device::DType,
) -> u64 {
    let Ok(dims) = GemmDims::infer(a_shape, b_shape, spec.trans_a, spec.trans_b) else {
        return 0;
    };
    let b_bytes = dtype.storage_bytes(b_shape.iter().product());
    match k_block_rows(dev, &dims, b_bytes, dtype) {
        Some(rows) if rows > 0 && rows < dims.k => dtype.storage_bytes(dims.m * dims.n),
        _ => 0,
    }
}

/// A GEMM whose B is larger than one binding and stored with its rows (the
/// reduction index) contiguous: the reduction runs in blocks of `rows` rows of
/// B, the first into C, each later one into a partial product added to C in
/// place (one more rounding per block). The bias joins the first block; a
/// fused activation cannot apply to partial sums and is refused.
fn gemm_by_k_blocks(
    whole: &GemmProblem,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: &GemmSpec,
    c: &Tensor,
    rows: usize,
) -> Result<()> {
    let dev = a.device();
    let d = whole.dims;
    let limit = dev.limits().max_storage_buffer_binding_size;
    if rows == 0 {
        return Err(Error::invalid(
            "gemm",
            "b",
            format!(
                "four rows of B ({} bytes) exceed the device's max_storage_buffer_binding_size of {limit} bytes",
                4 * d.n * b.dtype().element_bytes()
            ),
        ));
    }
    if whole.activation != Activation::None || whole.precision == Precision::F16Packed {
        return Err(Error::BindingTooLarge {
            op: "gemm".into(),
            bytes: b.byte_size(),
            limit,
        });
    }
    let align = crate::binding::align_elems(dev.limits(), b.dtype());
    let partial = if rows < d.k {
        Some(dev.empty(c.shape(), c.dtype())?)
    } else {
        None
    };
    for k0 in (0..d.k).step_by(rows) {
        let depth = rows.min(d.k - k0);
        let (b_window, b_off) = crate::binding::window(b, k0 * d.n, depth * d.n, align)?;
        let first = k0 == 0;
        let out = match (&partial, first) {
            (Some(p), false) => p,
            _ => c,
        };
        let problem = GemmProblem {
            dims: GemmDims {
                k: depth,
                a_off: d.a_off + k0 * d.a_cs,
                b_off: b_off as usize,
                ..d
            },
            bias: if first { whole.bias } else { BiasMode::None },
            ..*whole
        };
        let args = GemmArgs {
            device: dev,
            a: a.binding(),
            b: b_window,
            bias: if first {
                bias.map(Tensor::binding)
            } else {
                None
            },
            c: out.binding(),
        };
        TABLE.run(dev, &problem, spec.variant, &args)?;
        if !first {
            crate::elementwise::accumulate(c, out)?;
        }
    }
    Ok(())
}

/// A GEMM whose C is larger than one binding (the weight gradient `dzᵀ·x` of
/// a wide dense layer: VGG-16's first classifier layer's is 392 MiB): C is
/// bound a block of its rows at a time, each computed from the matching rows
/// of op(A) (an offset into A, bound whole) and all of B.
fn gemm_by_row_blocks(
    whole: &GemmProblem,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: &GemmSpec,
    c: &Tensor,
    limit: u64,
) -> Result<()> {
    let dev = a.device();
    let d = whole.dims;
    let align = crate::binding::align_elems(dev.limits(), c.dtype());
    let row_bytes = (d.n * c.dtype().element_bytes()) as u64;
    // Blocks of whole vec4s of A's offset whose per-row bias windows start
    // at aligned offsets (both powers of two), with room in C's window for
    // its alignment slack.
    let step = align.max(4);
    let rows = ((limit.saturating_sub((align * c.dtype().element_bytes()) as u64))
        / row_bytes.max(1)) as usize
        / step
        * step;
    if rows == 0 {
        return Err(Error::invalid(
            "gemm",
            "c",
            format!(
                "{step} rows of C ({} bytes) exceed the device's max_storage_buffer_binding_size of {limit} bytes",
                step as u64 * row_bytes
            ),
        ));
    }
    for i0 in (0..d.m).step_by(rows) {
        let height = rows.min(d.m - i0);
        let (c_window, c_off) = crate::binding::window(c, i0 * d.n, height * d.n, align)?;
        let bias_window = match (bias, spec.bias) {
            (Some(t), BiasMode::PerRow) => Some(t.window(i0, height)?),
            (t, _) => t.map(Tensor::binding),
        };
        let problem = GemmProblem {
            dims: GemmDims {
                m: height,
                a_off: d.a_off + i0 * d.a_rs,
                c_off: c_off as usize,
                ..d
            },
            ..*whole
        };
        let args = GemmArgs {
            device: dev,
            a: a.binding(),
            b: b.binding(),
            bias: bias_window,
            c: c_window,
        };
        TABLE.run(dev, &problem, spec.variant, &args)?;
    }
    Ok(())
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

/// The register-blocked and tiled kernels: one workgroup per block of the
/// row's tile, every batch.
fn launch_blocked(v: &GemmVariant, p: &GemmProblem, args: &GemmArgs<'_>) -> Result<()> {
    let Tile::Block { rows, cols } = v.tile else {
        unreachable!("blocked GEMM rows declare a block tile")
    };
    let d = &p.dims;
    let (tiles_m, tiles_n) = (d.m.div_ceil(rows), d.n.div_ceil(cols));
    let shader = match v.shaders[0] {
        Source::Typed(t) => t.get(p.precision),
        Source::Plain(s) => Some(s),
    }
    .expect("a typed GEMM row has f32 and f16 forms");
    dispatch(
        v,
        shader,
        p,
        args,
        tiles_m,
        tiles_n,
        d.batch * tiles_m * tiles_n,
    )
}

/// Packed f16: one output word per invocation, 256 per workgroup.
fn launch_packed(v: &GemmVariant, p: &GemmProblem, args: &GemmArgs<'_>) -> Result<()> {
    let d = &p.dims;
    let Source::Plain(shader) = v.shaders[0] else {
        unreachable!("the packed GEMM row has one standalone body")
    };
    let words = (d.batch * d.m * d.n).div_ceil(2);
    dispatch(
        v,
        shader,
        p,
        args,
        d.m,
        d.n.div_ceil(512),
        words.div_ceil(256),
    )
}

fn dispatch(
    v: &GemmVariant,
    shader: &'static Shader,
    p: &GemmProblem,
    args: &GemmArgs<'_>,
    tiles_m: usize,
    tiles_n: usize,
    workgroups: usize,
) -> Result<()> {
    let d = &p.dims;
    if d.m == 0 || d.n == 0 || d.batch == 0 {
        return Ok(());
    }
    let params = GemmParams {
        m: d.m as u32,
        n: d.n as u32,
        k: d.k as u32,
        batch: d.batch as u32,
        a_rs: d.a_rs as u32,
        a_cs: d.a_cs as u32,
        a_bs: d.a_bs as u32,
        tiles_m: tiles_m as u32,
        b_rs: d.b_rs as u32,
        b_cs: d.b_cs as u32,
        b_bs: d.b_bs as u32,
        tiles_n: tiles_n as u32,
        c_bs: (d.m * d.c_rs) as u32,
        bias_bs: 0,
        a_off: d.a_off as u32,
        b_off: d.b_off as u32,
        c_off: d.c_off as u32,
        c_rs: d.c_rs as u32,
        _pad: [0; 2],
    };
    let mut constants = v.constants.to_vec();
    constants.extend(p.activation.constants());
    constants.push(("BIAS", p.bias.code() as f64));
    let kernel = Kernel::new("gemm", shader, "main").with_constants(&constants);
    // With K = 0 every output is bias + activation; kernels handle it (no loads).
    let dev = args.device;
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(args.a),
            Binding::Read(args.b),
            Binding::Read(args.bias.unwrap_or(args.a)),
            Binding::ReadWrite(args.c),
        ],
        workgroups as u64,
    )
}
