//! Weight gradients of conv2d and conv_transpose2d: one implicit GEMM over
//! K = N·H·W with the reduction split over workgroups, f32 partial sums added
//! in order by a finalize pass (deterministic).

use weft_device::{
    Binding, ComputeLimits, DType, Device, Kernel, Result, Shader, ShaderFile, Tensor,
};

use super::{
    OP_C2D_WEIGHT, OP_CT_WEIGHT, check_conv2d, check_transposed, weight_gemm, weight_winograd,
};
use crate::conv::params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams,
};
use crate::conv::{IN2_F16P, IN2_TYPED, OUT3_F16P, OUT3_TYPED, typed_shader};
use crate::precision::Precision;
use crate::registry::{self, Problem, Source, Table, Tile, Variant};
use crate::shaders::{plain, typed, wgsl};
use crate::tune;

const DW_PARAMS: ShaderFile = wgsl!("conv_backward/dw_params.wgsl");
typed!(DW, [IN2_TYPED, DW_PARAMS], "conv_backward/dw.wgsl");
plain!(DW_F16P, [IN2_F16P, DW_PARAMS], "conv_backward/dw.wgsl");
typed!(
    DW_WINDOW,
    [IN2_TYPED, DW_PARAMS],
    "conv_backward/dw_window.wgsl"
);
plain!(
    DW_WINDOW_F16P,
    [IN2_F16P, DW_PARAMS],
    "conv_backward/dw_window.wgsl"
);
typed!(DW_FINALIZE, [OUT3_TYPED], "conv_backward/dw_finalize.wgsl");
plain!(
    DW_FINALIZE_F16P,
    [OUT3_F16P],
    "conv_backward/dw_finalize.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    crate::shaders::list(
        &[
            &DW,
            &DW_WINDOW,
            &DW_FINALIZE,
            &weight_gemm::DW_ROWS,
            &weight_gemm::DW_PIXELS,
        ],
        &[
            &DW_F16P,
            &DW_WINDOW_F16P,
            &DW_FINALIZE_F16P,
            &weight_gemm::DW_SUM,
            &weight_winograd::DW_WINOGRAD,
        ],
    )
}

/// Budget of the weight gradient's f32 partial sums (never more than the
/// device's storage binding limit either).
pub const PARTIALS_BUDGET: u64 = 4 << 20;

/// Loop iterations one invocation of `dw.wgsl` / `dw_window.wgsl` may run:
/// lavapipe (llvmpipe) ends an invocation's loops after 65,535 iterations
/// in all, silently, so the K range is split until each invocation's row
/// and pixel loops stay under half of that, whatever the partial-sum budget
/// says (correct first; a few more partial sums otherwise).
pub const LOOP_BUDGET: usize = 32_768;

/// dw of `y = conv2d(x, w)`: OIHW of shape `w_shape`, in dy's dtype.
pub fn conv2d_backward_weight(
    x: &Tensor,
    dy: &Tensor,
    w_shape: [usize; 4],
    params: &Conv2dParams,
    precision: Option<Precision>,
) -> Result<Tensor> {
    check_conv2d(OP_C2D_WEIGHT, dy, "x", x, x.shape(), &w_shape, params)?;
    let dw = dy.device().empty(&w_shape, dy.dtype())?;
    conv2d_backward_weight_into(x, dy, params, precision, &dw)?;
    Ok(dw)
}

/// [`conv2d_backward_weight`] into `dw`, whose shape is the weight's.
pub fn conv2d_backward_weight_into(
    x: &Tensor,
    dy: &Tensor,
    params: &Conv2dParams,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    conv2d_weight(x, dy, params, None, precision, dw)
}

/// [`conv2d_backward_weight_into`] by a given variant (a row of [`VARIANTS`]).
pub fn conv2d_backward_weight_by(
    x: &Tensor,
    dy: &Tensor,
    params: &Conv2dParams,
    variant: &'static WeightGradVariant,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    conv2d_weight(x, dy, params, Some(variant), precision, dw)
}

fn conv2d_weight(
    x: &Tensor,
    dy: &Tensor,
    params: &Conv2dParams,
    variant: Option<&'static WeightGradVariant>,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    const OP: &str = OP_C2D_WEIGHT;
    let geo = check_conv2d(OP, dy, "x", x, x.shape(), dw.shape(), params)?;
    crate::check_output(OP, dw, &geo.weight_shape(), dy.dtype(), &[x, dy])?;
    let problem = WeightGradProblem {
        wg: WeightGrad::conv2d(&geo),
        precision: Precision::resolve(OP, dy.device(), dy.dtype(), precision)?,
    };
    let args = WeightGradArgs {
        op: OP,
        a: dy,
        b: x,
        dw,
    };
    TABLE.run(dy.device(), &problem, variant, &args)
}

/// dw of `y = conv_transpose2d(x, w)`: IOHW of shape `w_shape`, in dy's dtype.
pub fn conv_transpose2d_backward_weight(
    x: &Tensor,
    dy: &Tensor,
    w_shape: [usize; 4],
    params: &ConvTranspose2dParams,
    precision: Option<Precision>,
) -> Result<Tensor> {
    check_transposed(OP_CT_WEIGHT, dy, "x", x, x.shape(), &w_shape, params)?;
    let dw = dy.device().empty(&w_shape, dy.dtype())?;
    conv_transpose2d_backward_weight_into(x, dy, params, precision, &dw)?;
    Ok(dw)
}

/// [`conv_transpose2d_backward_weight`] into `dw`, whose shape is the weight's.
pub fn conv_transpose2d_backward_weight_into(
    x: &Tensor,
    dy: &Tensor,
    params: &ConvTranspose2dParams,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    transposed_weight(x, dy, params, None, precision, dw)
}

/// [`conv_transpose2d_backward_weight_into`] by a given variant (a row of
/// [`VARIANTS`]).
pub fn conv_transpose2d_backward_weight_by(
    x: &Tensor,
    dy: &Tensor,
    params: &ConvTranspose2dParams,
    variant: &'static WeightGradVariant,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    transposed_weight(x, dy, params, Some(variant), precision, dw)
}

fn transposed_weight(
    x: &Tensor,
    dy: &Tensor,
    params: &ConvTranspose2dParams,
    variant: Option<&'static WeightGradVariant>,
    precision: Option<Precision>,
    dw: &Tensor,
) -> Result<()> {
    const OP: &str = OP_CT_WEIGHT;
    let geo = check_transposed(OP, dy, "x", x, x.shape(), dw.shape(), params)?;
    crate::check_output(OP, dw, &geo.weight_shape(), dy.dtype(), &[x, dy])?;
    let problem = WeightGradProblem {
        wg: WeightGrad::conv_transpose2d(&geo),
        precision: Precision::resolve(OP, dy.device(), dy.dtype(), precision)?,
    };
    let args = WeightGradArgs {
        op: OP,
        a: x,
        b: dy,
        dw,
    };
    TABLE.run(dy.device(), &problem, variant, &args)
}

/// The weight gradient as its variants see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightGradProblem {
    pub wg: WeightGrad,
    pub precision: Precision,
}

/// The tensors: A and B as [`WeightGrad`] names them, and dW (A's dtype);
/// `op` names the launches.
pub struct WeightGradArgs<'a> {
    pub op: &'static str,
    pub a: &'a Tensor,
    pub b: &'a Tensor,
    pub dw: &'a Tensor,
}

impl Problem for WeightGradProblem {
    type Args<'a> = WeightGradArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        let w = &self.wg;
        format!(
            "k{}x{} s{}x{} d{}x{} g{} a{} b{} hw{} n{}",
            w.kh,
            w.kw,
            w.stride[0],
            w.stride[1],
            w.dilation[0],
            w.dilation[1],
            tune::bucket(w.groups),
            tune::bucket(w.a_c),
            tune::bucket(w.b_c),
            tune::bucket(w.a_h * w.a_w),
            tune::bucket(w.n)
        )
    }

    fn is_empty(&self) -> bool {
        self.wg.numel() == 0
    }
}

/// A weight-gradient variant: a row of [`VARIANTS`].
pub type WeightGradVariant = Variant<WeightGradProblem>;

/// Every weight-gradient variant, the baseline first.
pub const VARIANTS: &[WeightGradVariant] = &[
    Variant {
        name: "implicit_gemm",
        idea: "one implicit GEMM over K = N·H·W: rows (A channels) uniform per workgroup, \
               invocations over columns and K, the reduction split over workgroups",
        requires: "every problem",
        shaders: &[
            Source::Typed(&DW),
            Source::Plain(&DW_F16P),
            Source::Typed(&DW_FINALIZE),
            Source::Plain(&DW_FINALIZE_F16P),
        ],
        constants: &[("WINDOW", 0.0)],
        tile: Tile::PerProblem("TM rows (1-8) x WGN·4 columns, 64/WGN invocations along K"),
        precisions: registry::ALL_PRECISIONS,
        supports: registry::any_problem,
        scratch: |p, dev| partials_bytes(p, dev, false),
        launch: weight_grad,
    },
    Variant {
        name: "sliding_window",
        idea: "one run of K rows per invocation, each kernel row a sliding window of taps in \
               vec4 registers",
        requires: "unit column stride and dilation, kernel rows of at most 8 taps, at most 16 \
                   A channels per group",
        shaders: &[
            Source::Typed(&DW_WINDOW),
            Source::Plain(&DW_WINDOW_F16P),
            Source::Typed(&DW_FINALIZE),
            Source::Plain(&DW_FINALIZE_F16P),
        ],
        constants: &[("WINDOW", 1.0)],
        tile: Tile::PerProblem("TM rows (1-8) x one kernel row, 64 runs of K per workgroup"),
        precisions: registry::ALL_PRECISIONS,
        supports: |p, _| {
            let w = &p.wg;
            registry::require(w.windowed(), || {
                format!(
                    "needs unit column stride and dilation, at most 8 taps per kernel row and \
                     16 A channels per group (stride {:?}, dilation {:?}, {}x{}, {} channels)",
                    w.stride,
                    w.dilation,
                    w.kh,
                    w.kw,
                    w.m()
                )
            })
        },
        scratch: |p, dev| partials_bytes(p, dev, true),
        launch: weight_grad,
    },
    Variant {
        name: "im2col_gemm_nt",
        idea: "per chunk of images, B unrolled into im2col columns and A's channels into rows, \
               then dW = rows·colsᵀ by the vec4 NT GEMM (both operands contiguous along the \
               reduction), split into GEMM batches when the tiles are few; f32 products \
               added in order",
        requires: "f32 or native f16 (columns and sums in f32), groups 1, one image's columns \
                   within the binding limit",
        shaders: &[
            Source::Typed(&crate::conv::forward::CONV_IM2COL_F32),
            Source::Typed(&weight_gemm::DW_ROWS),
            Source::Plain(&weight_gemm::DW_SUM),
        ],
        constants: &[],
        tile: Tile::PerProblem("the GEMM's 64x64 blocks, batches of split reductions"),
        precisions: registry::TYPED,
        supports: weight_gemm::supports,
        scratch: weight_gemm::scratch,
        launch: weight_gemm::launch,
    },
    Variant {
        name: "pixels_gemm",
        idea: "per chunk of images, B unrolled pixel by pixel ([pixels, patch], im2col \
               transposed) and A's channels into rows, then dW = rows·cols by the row-major \
               16x16 vec4 GEMM, split and summed in order as im2col_gemm_nt",
        requires: "f32 or native f16 (columns and sums in f32), groups 1, C_in·KH·KW a multiple \
                   of 4, one image's columns within the binding limit",
        shaders: &[
            Source::Typed(&weight_gemm::DW_PIXELS),
            Source::Typed(&weight_gemm::DW_ROWS),
            Source::Plain(&weight_gemm::DW_SUM),
        ],
        constants: &[("PIXELS", 1.0)],
        tile: Tile::PerProblem("the GEMM's tiles, batches of split reductions"),
        precisions: registry::TYPED,
        supports: weight_gemm::supports_pixels,
        scratch: weight_gemm::scratch,
        launch: weight_gemm::launch,
    },
    Variant {
        name: "winograd",
        idea: "Winograd F(2x2, 3x3) run backwards: per chunk of images, B's 4x4 tiles and A's \
               2x2 tiles transformed, 16 NT GEMMs reducing over the tiles (2.25x fewer \
               multiplies than direct), then dW = Gᵀ·dU·G, chunks added in order",
        requires: "f32 or native f16 (transforms and sums in f32), a 3x3 kernel at stride 1 \
                   and dilation 1, groups 1, one image's transforms within the binding limit",
        shaders: &[
            Source::Typed(&crate::conv::forward::CONV_WINOGRAD_INPUT_F32),
            Source::Typed(&crate::conv::forward::CONV_WINOGRAD_OUTPUT_GRAD),
            Source::Plain(&weight_winograd::DW_WINOGRAD),
        ],
        constants: &[],
        tile: Tile::PerProblem("the GEMM's tiles, 16 batches"),
        precisions: registry::TYPED,
        supports: weight_winograd::supports,
        scratch: weight_winograd::scratch,
        launch: weight_winograd::launch,
    },
];

pub const IMPLICIT_GEMM: &WeightGradVariant = registry::named(VARIANTS, "implicit_gemm");
pub const IM2COL_GEMM_NT: &WeightGradVariant = registry::named(VARIANTS, "im2col_gemm_nt");
pub const PIXELS_GEMM: &WeightGradVariant = registry::named(VARIANTS, "pixels_gemm");
pub const SLIDING_WINDOW: &WeightGradVariant = registry::named(VARIANTS, "sliding_window");
pub const WINOGRAD: &WeightGradVariant = registry::named(VARIANTS, "winograd");

/// The weight-gradient table (conv2d's and conv_transpose2d's).
pub static TABLE: Table<WeightGradProblem> = Table {
    op: OP_C2D_WEIGHT,
    variants: VARIANTS,
    // The sliding window wherever it applies: few rows, where the general
    // kernel's uniform loads of A buy little. Otherwise a GEMM form once its
    // blocks fill (at least 48 columns: VGG's first layer, 27 columns, stays
    // implicit) and either the reduction is long enough to amortise the
    // unrolling pass or the output is large enough to fill the GEMM's tiles
    // (ResNet-18's 7x7 C512 layers at batch 1: 49 pixels, 2.4M outputs, 3x
    // faster than implicit) (docs/PERFORMANCE.md: 2-3x on ResNet-18's layers): pixel-major
    // (the 16x16 row-major GEMM) where the patch is a multiple of 4,
    // patch-major (the NT GEMM) otherwise. Before them, Winograd where its
    // GEMMs are full: at least 32 channels on both sides and 128 tiles to
    // reduce over (ResNet-18's 3x3 layers at N = 8: 1.9-2.3x pixels_gemm
    // from 56² to 14², 1.2x at 7² with 128 tiles; 0.87x at N = 2 on 7², 32
    // tiles; 0.4x with 16 or 3 channels).
    auto: |p, caps| {
        let w = &p.wg;
        let gemm = w.ncols() >= 48 && (w.n * w.a_h * w.a_w >= 256 || w.a_c * w.ncols() >= 1 << 16);
        let winograd_full =
            w.a_c >= 32 && w.b_c >= 32 && w.n * w.a_h.div_ceil(2) * w.a_w.div_ceil(2) >= 128;
        if winograd_full && WINOGRAD.check(p, caps).is_ok() {
            WINOGRAD
        } else if SLIDING_WINDOW.check(p, caps).is_ok() {
            SLIDING_WINDOW
        } else if gemm && PIXELS_GEMM.check(p, caps).is_ok() {
            PIXELS_GEMM
        } else if gemm && IM2COL_GEMM_NT.check(p, caps).is_ok() {
            IM2COL_GEMM_NT
        } else {
            IMPLICIT_GEMM
        }
    },
};

/// Where the GEMM forms of the weight gradient sum: dW itself at f32; at f16
/// an f32 tensor of dW's size, cast into dW once every chunk is in (chunks
/// added in f32, one rounding to f16).
pub(super) struct F32Sum {
    acc: Option<Tensor>,
}

impl F32Sum {
    pub fn new(dw: &Tensor) -> Result<Self> {
        let acc = (dw.dtype() != DType::F32)
            .then(|| dw.device().empty(dw.shape(), DType::F32))
            .transpose()?;
        Ok(F32Sum { acc })
    }

    /// The f32 tensor the sums go to.
    pub fn target<'a>(&'a self, dw: &'a Tensor) -> &'a Tensor {
        self.acc.as_ref().unwrap_or(dw)
    }

    /// Writes the sums into dW (a cast at f16, nothing at f32).
    pub fn finish(self, dw: &Tensor) -> Result<()> {
        match self.acc {
            Some(acc) => crate::elementwise::cast_into(&acc, dw),
            None => Ok(()),
        }
    }

    /// Bytes [`F32Sum::new`] allocates for `p`.
    pub fn bytes(p: &WeightGradProblem) -> u64 {
        if p.precision == Precision::F32 {
            0
        } else {
            DType::F32.storage_bytes(p.wg.numel())
        }
    }
}

/// The weight gradient as the kernels see it:
/// `dW[a, b, ky, kx] = Σ_{n,py,px} A[n, a, py, px] · B[n, g·bg + b, py·sh − pt + ky·dh, px·sw − pl + kx·dw]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightGrad {
    pub n: usize,
    /// A's channels and spatial size (the K positions per image).
    pub a_c: usize,
    pub a_h: usize,
    pub a_w: usize,
    pub b_c: usize,
    pub b_h: usize,
    pub b_w: usize,
    pub groups: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Top and left padding.
    pub pad: [usize; 2],
}

/// Launch shape of the weight gradient.
#[derive(Debug, Clone, Copy)]
struct DwPlan {
    tm: usize,
    wgn: usize,
    splits: usize,
    rows_per_split: usize,
    tiles_m: usize,
    tiles_n: usize,
    /// Bytes of the f32 partial-sum buffer (0 when the kernel writes dW directly).
    scratch: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DwParams {
    n: u32,
    a_c: u32,
    a_h: u32,
    a_w: u32,
    b_c: u32,
    b_h: u32,
    b_w: u32,
    groups: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pt: u32,
    pl: u32,
    ag: u32,
    bg: u32,
    ncols: u32,
    numel: u32,
    tiles_m: u32,
    tiles_n: u32,
    splits: u32,
    rows_per_split: u32,
}

impl WeightGrad {
    /// conv2d: A = dy, B = x, dW is OIHW.
    pub fn conv2d(geo: &Conv2dGeometry) -> Self {
        WeightGrad {
            n: geo.n,
            a_c: geo.c_out,
            a_h: geo.oh,
            a_w: geo.ow,
            b_c: geo.c_in,
            b_h: geo.h,
            b_w: geo.w,
            groups: geo.groups,
            kh: geo.kh,
            kw: geo.kw,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: [geo.pad[0], geo.pad[1]],
        }
    }

    /// conv_transpose2d: A = x, B = dy, dW is IOHW.
    pub fn conv_transpose2d(geo: &ConvTranspose2dGeometry) -> Self {
        WeightGrad {
            n: geo.n,
            a_c: geo.c_in,
            a_h: geo.h,
            a_w: geo.w,
            b_c: geo.c_out,
            b_h: geo.oh,
            b_w: geo.ow,
            groups: geo.groups,
            kh: geo.kh,
            kw: geo.kw,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: geo.padding,
        }
    }

    /// Rows of the per-group GEMM (A channels per group).
    pub fn m(&self) -> usize {
        self.a_c / self.groups
    }

    /// Columns of the per-group GEMM: (b, ky, kx).
    pub fn ncols(&self) -> usize {
        self.b_c / self.groups * self.kh * self.kw
    }

    /// Elements of dW.
    pub fn numel(&self) -> usize {
        self.a_c * self.ncols()
    }

    /// Whether there is nothing to sum: no elements of dW, or no positions
    /// to sum over (dW = 0).
    pub fn nothing_to_sum(&self) -> bool {
        self.numel() == 0 || self.n * self.a_h * self.a_w == 0
    }

    /// Writes a gradient with nothing to sum (zeros where dW has elements);
    /// `None` when there is work for a kernel.
    pub(super) fn trivial(&self, dw: &Tensor) -> Option<Result<()>> {
        if self.numel() == 0 {
            Some(Ok(()))
        } else if self.nothing_to_sum() {
            Some(crate::elementwise::fill(dw, 0.0))
        } else {
            None
        }
    }

    /// Whether the sliding-window kernel (`dw_window.wgsl`) can run this
    /// problem: unit column stride and dilation, kernel rows of at most 8
    /// taps, and few rows (A channels per group), where dw.wgsl's uniform
    /// loads of A buy little.
    pub fn windowed(&self) -> bool {
        self.stride[1] == 1 && self.dilation[1] == 1 && self.kw <= 8 && self.m() <= 16
    }

    /// Block shape, tiles and splits of `dw_window.wgsl` (`window`) or
    /// `dw.wgsl`.
    fn plan(&self, limits: &ComputeLimits, precision: Precision, window: bool) -> DwPlan {
        let m = self.m();
        let ncols = self.ncols();
        let budget = PARTIALS_BUDGET.min(limits.max_storage_buffer_binding_size);
        let by_budget = ((budget / (self.numel() as u64 * 4)) as usize).max(1);
        let rows = self.n * self.a_h;
        let tm = m.div_ceil(m.div_ceil(8)).clamp(1, 8);
        if window {
            // One run of K rows per invocation; enough runs for ~16
            // workgroups (a few per CPU thread), each run a few rows long.
            let tiles_m = m.div_ceil(tm);
            let tiles_n = self.b_c / self.groups * self.kh;
            let blocks = self.groups * tiles_m * tiles_n;
            let want = 16usize.div_ceil(blocks) * 64;
            // Each row of the run loops over the row's pixels (+ the loop's
            // exit and the row's own step).
            let most_rows = (LOOP_BUDGET / (self.a_w + 2)).max(1);
            let splits = want.min(by_budget).clamp(1, rows.max(1));
            let rows_per_split = rows.div_ceil(splits).clamp(1, most_rows);
            let splits = rows.div_ceil(rows_per_split).max(1);
            return DwPlan {
                tm,
                wgn: 0,
                splits,
                rows_per_split,
                tiles_m,
                tiles_n,
                scratch: if splits == 1 && precision == Precision::F32 {
                    0
                } else {
                    (splits * self.numel()) as u64 * 4
                },
            };
        }
        // Rows are uniform across a workgroup (loads of A shared by all its
        // invocations); invocations spread over columns, and over K when the
        // columns are few.
        // (tm: at most 8 rows per workgroup, as evenly split as possible: 6
        // rows are one tile of 6, 12 two of 6, so no tile computes padding.)
        // The widest column span (64 invocations × 4 columns down to 1 × 4)
        // that wastes at most a quarter of its columns on the last tile.
        let wgn = [64usize, 32, 16, 8, 4, 2, 1]
            .into_iter()
            .find(|&wgn| {
                let span = ncols.div_ceil(wgn * 4) * wgn * 4;
                4 * (span - ncols) <= span
            })
            .unwrap_or(1);
        let wgk = 64 / wgn;
        let tiles_m = m.div_ceil(tm);
        let tiles_n = ncols.div_ceil(wgn * 4);
        let tiles = self.groups * tiles_m * tiles_n;
        // Enough workgroups to fill a GPU (~256), each invocation still summing
        // at least ~512 K positions; within the partial-sum budget.
        let by_work = (rows * self.a_w / (wgk * 512)).max(1);
        let want = 256usize.div_ceil(tiles);
        // An invocation takes every WGK-th row of its split, each a loop
        // over the row's pixels.
        let most_rows = (LOOP_BUDGET / (self.a_w + 2)).max(1) * wgk;
        let splits = want.min(by_work).min(by_budget).clamp(1, rows.max(1));
        let rows_per_split = rows.div_ceil(splits).clamp(1, most_rows);
        let splits = rows.div_ceil(rows_per_split).max(1);
        let scratch = if splits == 1 && precision == Precision::F32 {
            0
        } else {
            (splits * self.numel()) as u64 * 4
        };
        DwPlan {
            tm,
            wgn,
            splits,
            rows_per_split,
            tiles_m,
            tiles_n,
            scratch,
        }
    }
}

/// Bytes of the f32 partial sums a launch allocates (none when there is
/// nothing to sum).
fn partials_bytes(p: &WeightGradProblem, dev: &Device, window: bool) -> u64 {
    let wg = &p.wg;
    if wg.nothing_to_sum() {
        return 0;
    }
    wg.plan(dev.limits(), p.precision, window).scratch
}

/// Runs the weight gradient into dW (A's dtype) from A and B, with the
/// row's kernel (`WINDOW`: `dw_window.wgsl`, else `dw.wgsl`).
fn weight_grad(
    v: &WeightGradVariant,
    p: &WeightGradProblem,
    args: &WeightGradArgs<'_>,
) -> Result<()> {
    let (wg, precision) = (&p.wg, p.precision);
    let WeightGradArgs { op, a, b, dw: out } = *args;
    let dev = a.device();
    if let Some(done) = wg.trivial(out) {
        return done;
    }
    let numel = wg.numel();
    let windowed = v.constant("WINDOW") == Some(1.0);
    let plan = wg.plan(dev.limits(), precision, windowed);
    let params = DwParams {
        n: wg.n as u32,
        a_c: wg.a_c as u32,
        a_h: wg.a_h as u32,
        a_w: wg.a_w as u32,
        b_c: wg.b_c as u32,
        b_h: wg.b_h as u32,
        b_w: wg.b_w as u32,
        groups: wg.groups as u32,
        kh: wg.kh as u32,
        kw: wg.kw as u32,
        sh: wg.stride[0] as u32,
        sw: wg.stride[1] as u32,
        dh: wg.dilation[0] as u32,
        dw: wg.dilation[1] as u32,
        pt: wg.pad[0] as u32,
        pl: wg.pad[1] as u32,
        ag: wg.m() as u32,
        bg: (wg.b_c / wg.groups) as u32,
        ncols: wg.ncols() as u32,
        numel: numel as u32,
        tiles_m: plan.tiles_m as u32,
        tiles_n: plan.tiles_n as u32,
        splits: plan.splits as u32,
        rows_per_split: plan.rows_per_split as u32,
    };
    let constants = if windowed {
        [("TM", plan.tm as f64), ("KW_C", wg.kw as f64)]
    } else {
        [("TM", plan.tm as f64), ("WGN", plan.wgn as f64)]
    };
    let (dw_shader, finalize_shader) = match (precision, windowed) {
        (Precision::F16Packed, false) => (&DW_F16P, &DW_FINALIZE_F16P),
        (Precision::F16Packed, true) => (&DW_WINDOW_F16P, &DW_FINALIZE_F16P),
        (p, false) => (typed_shader(&DW, p), typed_shader(&DW_FINALIZE, p)),
        (p, true) => (typed_shader(&DW_WINDOW, p), typed_shader(&DW_FINALIZE, p)),
    };
    let blocks = wg.groups * plan.tiles_m * plan.tiles_n;
    let workgroups = if windowed {
        (blocks * plan.splits.div_ceil(64)) as u64
    } else {
        (plan.splits * blocks) as u64
    };
    let kernel = Kernel::new(op, dw_shader, "main").with_constants(&constants);
    if plan.scratch == 0 {
        // One split at f32: the partial sums are dW itself.
        dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(a.binding()),
                Binding::Read(b.binding()),
                Binding::ReadWrite(out.binding()),
            ],
            workgroups,
        )?;
        return Ok(());
    }
    let part = dev.empty(&[plan.splits * numel], DType::F32)?;
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(a.binding()),
            Binding::Read(b.binding()),
            Binding::ReadWrite(part.binding()),
        ],
        workgroups,
    )?;
    let fin = [numel as u32, plan.splits as u32, 0, 0];
    dev.dispatch(
        &Kernel::new(op, finalize_shader, "main"),
        bytemuck::cast_slice(&fin),
        &[
            Binding::Read(part.binding()),
            Binding::Read(part.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        numel.div_ceil(2).div_ceil(64) as u64,
    )?;
    Ok(())
}

/// Bytes of temporaries [`conv2d_backward_weight`] allocates after its output
/// (split partial sums), for memory planning.
pub fn conv2d_backward_weight_scratch_bytes(
    dev: &Device,
    geo: &Conv2dGeometry,
    precision: Precision,
) -> u64 {
    let problem = WeightGradProblem {
        wg: WeightGrad::conv2d(geo),
        precision,
    };
    TABLE.scratch_bytes(dev, &problem, None)
}

/// Bytes of temporaries [`conv_transpose2d_backward_weight`] allocates after
/// its output (split partial sums), for memory planning.
pub fn conv_transpose2d_backward_weight_scratch_bytes(
    dev: &Device,
    geo: &ConvTranspose2dGeometry,
    precision: Precision,
) -> u64 {
    let problem = WeightGradProblem {
        wg: WeightGrad::conv_transpose2d(geo),
        precision,
    };
    TABLE.scratch_bytes(dev, &problem, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lavapipe's 128 MiB bindings.
    fn limits() -> ComputeLimits {
        ComputeLimits {
            max_buffer_size: 1 << 30,
            max_storage_buffer_binding_size: 128 << 20,
            max_uniform_buffer_binding_size: 64 << 10,
            max_storage_buffers_per_shader_stage: 8,
            max_compute_workgroups_per_dimension: 65_535,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 64,
            max_compute_workgroup_storage_size: 32 << 10,
            min_storage_buffer_offset_alignment: 256,
            min_uniform_buffer_offset_alignment: 256,
        }
    }

    fn problem(n: usize, c_in: usize, c_out: usize, hw: usize, k: usize) -> WeightGrad {
        WeightGrad {
            n,
            a_c: c_out,
            a_h: hw,
            a_w: hw,
            b_c: c_in,
            b_h: hw,
            b_w: hw,
            groups: 1,
            kh: k,
            kw: k,
            stride: [1, 1],
            dilation: [1, 1],
            pad: [k / 2, k / 2],
        }
    }

    /// Layers whose K range once made one invocation loop past lavapipe's
    /// 65,535 iterations (VGG's conv1_2 at batch 16, U-Net's 64-channel and
    /// 16-channel layers and a 1x1 head at 512²) now split it below
    /// [`LOOP_BUDGET`] in both kernels.
    #[test]
    fn no_invocation_loops_past_the_budget() {
        let cases = [
            problem(16, 64, 64, 224, 3),
            problem(4, 64, 64, 512, 3),
            problem(16, 16, 16, 512, 3),
            problem(16, 64, 2, 512, 1),
            problem(64, 3, 64, 224, 7),
        ];
        for wg in cases {
            for window in [false, true] {
                if window && !wg.windowed() {
                    continue;
                }
                let plan = wg.plan(&limits(), Precision::F32, window);
                let rows = plan.rows_per_split;
                let iterations = if window {
                    rows * (wg.a_w + 2)
                } else {
                    rows.div_ceil(64 / plan.wgn) * (wg.a_w + 2)
                };
                assert!(
                    iterations <= LOOP_BUDGET,
                    "{wg:?} window {window}: {iterations} iterations ({} splits)",
                    plan.splits
                );
                assert!(plan.splits * rows >= wg.n * wg.a_h, "{wg:?}: rows left out");
            }
        }
    }
}
