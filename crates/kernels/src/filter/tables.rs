//! The filters' variant tables: correlation (a window per output read from
//! memory, or a shared tile) and rank filters (the general sort, or a
//! selection network for 3×3 and 5×5 medians). Every row of a table gives
//! the same values, so the automatic choice and the tuner pick by speed only.

use weft_device::{Binding, Kernel, Result, Tensor};

use super::{
    Border, CORRELATE, CORRELATE_TILED, FilterUniform, MAX_SORT_RADIUS, MEDIAN3, MEDIAN5, RANK,
    RANK_SELECT, Rank, launch,
};
use crate::precision::Precision;
use crate::registry::{self, Problem, Source, Table, Tile, Variant};
use crate::tune;

/// Largest kernel side of the tiled correlation.
pub const MAX_TILED_KERNEL: usize = 17;

/// A correlation of `planes` images of `hw` with a `kernel`-sized window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelateProblem {
    pub planes: usize,
    pub hw: [usize; 2],
    pub kernel: [usize; 2],
    pub border: Border,
}

/// The tensors of a correlation: the image, the kernel's weights (row-major)
/// and the output, of the image's shape.
pub struct CorrelateArgs<'a> {
    pub x: &'a Tensor,
    pub weights: &'a Tensor,
    pub y: &'a Tensor,
}

impl Problem for CorrelateProblem {
    type Args<'a> = CorrelateArgs<'a>;

    fn precision(&self) -> Precision {
        Precision::F32
    }

    fn shape_class(&self) -> String {
        format!(
            "k{}x{} hw{} n{}",
            self.kernel[0],
            self.kernel[1],
            tune::bucket(self.hw[0] * self.hw[1]),
            tune::bucket(self.planes)
        )
    }

    fn is_empty(&self) -> bool {
        self.planes * self.hw[0] * self.hw[1] == 0
    }
}

/// A row of [`CORRELATE_TABLE`].
pub type CorrelateVariant = Variant<CorrelateProblem>;

fn correlate_uniform(p: &CorrelateProblem) -> FilterUniform {
    FilterUniform {
        n: (p.planes * p.hw[0] * p.hw[1]) as u32,
        h: p.hw[0] as u32,
        w: p.hw[1] as u32,
        kh: p.kernel[0] as u32,
        kw: p.kernel[1] as u32,
        border: p.border.code(),
        ..Default::default()
    }
}

fn correlate_bindings<'a>(a: &'a CorrelateArgs<'a>) -> [Binding<'a>; 3] {
    [
        Binding::Read(a.x.binding()),
        Binding::Read(a.weights.binding()),
        Binding::ReadWrite(a.y.binding()),
    ]
}

fn launch_naive(_: &CorrelateVariant, p: &CorrelateProblem, a: &CorrelateArgs<'_>) -> Result<()> {
    let u = correlate_uniform(p);
    launch(
        CORRELATE_OP,
        &CORRELATE,
        256,
        u,
        &correlate_bindings(a),
        a.x.device(),
    )
}

fn launch_tiled(_: &CorrelateVariant, p: &CorrelateProblem, a: &CorrelateArgs<'_>) -> Result<()> {
    let tiles = p.planes * p.hw[0].div_ceil(16) * p.hw[1].div_ceil(16);
    a.x.device().dispatch(
        &Kernel::new(CORRELATE_OP, &CORRELATE_TILED, "main"),
        bytemuck::bytes_of(&correlate_uniform(p)),
        &correlate_bindings(a),
        tiles as u64,
    )
}

const CORRELATE_OP: &str = "correlate";

/// Every correlation variant.
pub const CORRELATE_VARIANTS: &[CorrelateVariant] = &[
    Variant {
        name: "naive",
        idea: "one output per invocation, its window read from memory and summed in raster order",
        requires: "any kernel",
        shaders: &[Source::Plain(&CORRELATE)],
        constants: &[],
        tile: Tile::PerProblem("256 outputs per workgroup"),
        precisions: &[Precision::F32],
        supports: registry::any_problem,
        scratch: registry::no_scratch,
        launch: launch_naive,
    },
    Variant {
        name: "tiled",
        idea: "16x16 outputs per workgroup from a shared-memory tile with its halo, the same sums \
               in the same order",
        requires: "kernels up to 17x17",
        shaders: &[Source::Plain(&CORRELATE_TILED)],
        constants: &[],
        tile: Tile::Block { rows: 16, cols: 16 },
        precisions: &[Precision::F32],
        supports: |p, _| {
            registry::require(p.kernel[0].max(p.kernel[1]) <= MAX_TILED_KERNEL, || {
                format!(
                    "takes kernels up to {MAX_TILED_KERNEL}x{MAX_TILED_KERNEL}, got {}x{}",
                    p.kernel[0], p.kernel[1]
                )
            })
        },
        scratch: registry::no_scratch,
        launch: launch_tiled,
    },
];

pub const NAIVE: &CorrelateVariant = registry::named(CORRELATE_VARIANTS, "naive");
pub const TILED: &CorrelateVariant = registry::named(CORRELATE_VARIANTS, "tiled");

/// The correlation table.
pub static CORRELATE_TABLE: Table<CorrelateProblem> = Table {
    op: CORRELATE_OP,
    variants: CORRELATE_VARIANTS,
    // Tiled wherever the kernel fits its tile: 1.5-3x the naive kernel on
    // lavapipe (docs/PERFORMANCE.md, `weft bench --suite image`).
    auto: |p, caps| {
        if TILED.check(p, caps).is_ok() {
            TILED
        } else {
            NAIVE
        }
    },
};

/// A rank filter over `(2·radius+1)²` windows of `planes` images of `hw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankProblem {
    pub planes: usize,
    pub hw: [usize; 2],
    pub radius: usize,
    pub which: Rank,
    pub border: Border,
}

/// The image and the output of a rank filter.
pub struct RankArgs<'a> {
    pub x: &'a Tensor,
    pub y: &'a Tensor,
}

impl Problem for RankProblem {
    type Args<'a> = RankArgs<'a>;

    fn precision(&self) -> Precision {
        Precision::F32
    }

    fn shape_class(&self) -> String {
        format!(
            "{:?} r{} hw{} n{}",
            self.which,
            self.radius,
            tune::bucket(self.hw[0] * self.hw[1]),
            tune::bucket(self.planes)
        )
    }

    fn is_empty(&self) -> bool {
        self.planes * self.hw[0] * self.hw[1] == 0
    }
}

/// A row of [`RANK_TABLE`].
pub type RankVariant = Variant<RankProblem>;

const RANK_OP: &str = "rank_filter";

fn launch_sort(_: &RankVariant, p: &RankProblem, a: &RankArgs<'_>) -> Result<()> {
    launch_rank(&RANK, 64, p, a)
}

fn launch_select(_: &RankVariant, p: &RankProblem, a: &RankArgs<'_>) -> Result<()> {
    launch_rank(&RANK_SELECT, 64, p, a)
}

/// A median network: the row's own shader, 256 outputs per workgroup.
fn launch_network(v: &RankVariant, p: &RankProblem, a: &RankArgs<'_>) -> Result<()> {
    match v.shaders[0] {
        Source::Plain(shader) => launch_rank(shader, 256, p, a),
        Source::Typed(_) => unreachable!("median networks are f32 only"),
    }
}

fn launch_rank(
    shader: &'static weft_device::Shader,
    wg: usize,
    p: &RankProblem,
    a: &RankArgs<'_>,
) -> Result<()> {
    let k = 2 * p.radius + 1;
    let u = FilterUniform {
        n: (p.planes * p.hw[0] * p.hw[1]) as u32,
        h: p.hw[0] as u32,
        w: p.hw[1] as u32,
        kh: k as u32,
        kw: k as u32,
        border: p.border.code(),
        rank: match p.which {
            Rank::Min => 0,
            Rank::Median => (k * k / 2) as u32,
            Rank::Max => (k * k - 1) as u32,
        },
        ..Default::default()
    };
    let bindings = [
        Binding::Read(a.x.binding()),
        Binding::ReadWrite(a.y.binding()),
    ];
    launch(RANK_OP, shader, wg, u, &bindings, a.x.device())
}

/// A median network's constraint: medians of `(2r+1)²` windows only.
fn median_of(p: &RankProblem, radius: usize) -> std::result::Result<(), registry::Unsupported> {
    let k = 2 * radius + 1;
    registry::require(p.which == Rank::Median && p.radius == radius, || {
        format!(
            "computes {k}x{k} medians only, not {:?} of {}x{} windows",
            p.which,
            2 * p.radius + 1,
            2 * p.radius + 1
        )
    })
}

/// Every rank-filter variant.
pub const RANK_VARIANTS: &[RankVariant] = &[
    Variant {
        name: "sort",
        idea: "one output per invocation, its window (up to 81 values) insertion-sorted in \
               registers",
        requires: "any rank, radius up to 4",
        shaders: &[Source::Plain(&RANK)],
        constants: &[],
        tile: Tile::PerProblem("64 outputs per workgroup"),
        precisions: &[Precision::F32],
        supports: |p, _| {
            registry::require(p.radius <= MAX_SORT_RADIUS, || {
                format!(
                    "sorts windows of up to {0}x{0} values in registers, not {1}x{1}",
                    2 * MAX_SORT_RADIUS + 1,
                    2 * p.radius + 1
                )
            })
        },
        scratch: registry::no_scratch,
        launch: launch_sort,
    },
    Variant {
        name: "select",
        idea: "one output per invocation, no window stored: a search over the values' \
               order-preserving bit patterns, one bit per pass over the window (counting the \
               keys below a candidate), from the highest bit where the window's extremes differ",
        requires: "any rank, any radius",
        shaders: &[Source::Plain(&RANK_SELECT)],
        constants: &[],
        tile: Tile::PerProblem("64 outputs per workgroup"),
        precisions: &[Precision::F32],
        supports: registry::any_problem,
        scratch: registry::no_scratch,
        launch: launch_select,
    },
    Variant {
        name: "median3",
        idea: "3x3 medians by a 19-exchange selection network, branch-free",
        requires: "3x3 medians",
        shaders: &[Source::Plain(&MEDIAN3)],
        constants: &[],
        tile: Tile::PerProblem("256 outputs per workgroup"),
        precisions: &[Precision::F32],
        supports: |p, _| median_of(p, 1),
        scratch: registry::no_scratch,
        launch: launch_network,
    },
    Variant {
        name: "median5",
        idea: "5x5 medians by a 113-exchange selection network (Batcher's merge sort pruned to \
               the median), branch-free",
        requires: "5x5 medians",
        shaders: &[Source::Plain(&MEDIAN5)],
        constants: &[],
        tile: Tile::PerProblem("256 outputs per workgroup"),
        precisions: &[Precision::F32],
        supports: |p, _| median_of(p, 2),
        scratch: registry::no_scratch,
        launch: launch_network,
    },
];

pub const SORT: &RankVariant = registry::named(RANK_VARIANTS, "sort");
pub const SELECT: &RankVariant = registry::named(RANK_VARIANTS, "select");
pub const MEDIAN3_NETWORK: &RankVariant = registry::named(RANK_VARIANTS, "median3");
pub const MEDIAN5_NETWORK: &RankVariant = registry::named(RANK_VARIANTS, "median5");

/// The rank-filter table.
pub static RANK_TABLE: Table<RankProblem> = Table {
    op: RANK_OP,
    variants: RANK_VARIANTS,
    // A median network where one applies, else the sort up to 7x7, else
    // the search (faster from 9x9 on: docs/IMAGE.md).
    auto: |p, caps| {
        [MEDIAN3_NETWORK, MEDIAN5_NETWORK]
            .into_iter()
            .find(|v| v.check(p, caps).is_ok())
            .unwrap_or(if p.radius <= 3 { SORT } else { SELECT })
    },
};
