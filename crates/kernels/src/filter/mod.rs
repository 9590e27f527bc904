//! Image filters on planes of f32 values (`[H, W]` or `[C, H, W]`, one plane
//! per channel): correlation with any kernel (box blur, Laplacian, sharpen,
//! Sobel and Scharr derivatives, a user's matrix), separable Gaussian blur,
//! gradient magnitude and direction, rank filters (median, erosion,
//! dilation, opening, closing), unsharp masking and thresholds (fixed and
//! Otsu's). Borders as OpenCV names them: zero, replicate, reflect-101.
//!
//! | kernel | mapping |
//! |---|---|
//! | `filter/correlate` | one output per invocation, the window summed in f32 in raster order (naive) |
//! | `filter/correlate_tiled` | 16×16 outputs per workgroup from a shared-memory tile with its halo (kernels up to 17×17), same sums |
//! | `filter/rank` | one output per invocation, the window (≤ 81 values) insertion-sorted in registers |
//! | `filter/median3` | 3×3 medians by a 19-exchange selection network, one output per invocation |
//! | `filter/median5` | 5×5 medians by a 113-exchange selection network, one output per invocation |
//! | `filter/gradient` | one pixel per invocation: `sqrt(gx² + gy²)`, `atan2(gy, gx)` |
//! | `filter/threshold` | one value per invocation |
//!
//! Correlation and the rank filters have variant tables
//! ([`CORRELATE_TABLE`], [`RANK_TABLE`]) whose rows give identical values.
//! Images larger than one storage binding run in bands of rows ([`bands`]).

mod bands;
mod tables;

use weft_device::{Binding, DType, Error, Kernel, Result, Tensor};

use crate::shaders;
use bands::banded;
pub use tables::{
    CORRELATE_TABLE, CORRELATE_VARIANTS, CorrelateArgs, CorrelateProblem, CorrelateVariant,
    MAX_TILED_KERNEL, MEDIAN3_NETWORK, MEDIAN5_NETWORK, NAIVE, RANK_TABLE, RANK_VARIANTS, RankArgs,
    RankProblem, RankVariant, SELECT, SORT, TILED,
};

const PARAMS: weft_device::ShaderFile = shaders::wgsl!("filter/params.wgsl");
const NETWORK: weft_device::ShaderFile = shaders::wgsl!("filter/network.wgsl");

shaders::plain!(CORRELATE, [PARAMS], "filter/correlate.wgsl");
shaders::plain!(CORRELATE_TILED, [PARAMS], "filter/correlate_tiled.wgsl");
shaders::plain!(RANK, [PARAMS], "filter/rank.wgsl");
shaders::plain!(RANK_SELECT, [PARAMS], "filter/rank_select.wgsl");
shaders::plain!(MEDIAN3, [PARAMS, NETWORK], "filter/median3.wgsl");
shaders::plain!(MEDIAN5, [PARAMS, NETWORK], "filter/median5.wgsl");
shaders::plain!(GRADIENT, [PARAMS], "filter/gradient.wgsl");
shaders::plain!(THRESHOLD, [PARAMS], "filter/threshold.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(
        &[],
        &[
            &CORRELATE,
            &CORRELATE_TILED,
            &RANK,
            &RANK_SELECT,
            &MEDIAN3,
            &MEDIAN5,
            &GRADIENT,
            &THRESHOLD,
        ],
    )
}

/// What a window reads outside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Zeros (OpenCV's `BORDER_CONSTANT` with 0).
    Zero,
    /// The edge pixel repeated (`BORDER_REPLICATE`).
    Replicate,
    /// Mirrored about the edge pixel, which is not repeated
    /// (`BORDER_REFLECT_101`, OpenCV's default).
    Reflect101,
}

impl Border {
    pub(crate) fn code(self) -> u32 {
        match self {
            Border::Zero => 0,
            Border::Replicate => 1,
            Border::Reflect101 => 2,
        }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct FilterUniform {
    n: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    border: u32,
    rank: u32,
    level: f32,
}

/// `[H, W]` of an f32 image of rank 2 or 3.
fn plane(op: &str, x: &Tensor) -> Result<[usize; 2]> {
    if x.dtype() != DType::F32 {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("filters take f32 images, got {}", x.dtype()),
        ));
    }
    let s = x.shape();
    if !(2..=3).contains(&s.len()) || s.contains(&0) {
        return Err(Error::shape(
            op,
            format!("expected a non-empty [H, W] or [C, H, W] image, got {s:?}"),
        ));
    }
    crate::check_u32_elements(op, x)?;
    Ok([s[s.len() - 2], s[s.len() - 1]])
}

fn launch(
    op: &str,
    shader: &'static weft_device::Shader,
    wg: usize,
    uniform: FilterUniform,
    bindings: &[Binding<'_>],
    dev: &weft_device::Device,
) -> Result<()> {
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&uniform),
        bindings,
        (uniform.n as usize).div_ceil(wg) as u64,
    )
}

fn uniform(x: &Tensor, hw: [usize; 2], k: [usize; 2], border: Border) -> FilterUniform {
    FilterUniform {
        n: x.numel() as u32,
        h: hw[0] as u32,
        w: hw[1] as u32,
        kh: k[0] as u32,
        kw: k[1] as u32,
        border: border.code(),
        ..Default::default()
    }
}

/// Correlation with a `kh × kw` kernel (row-major `weights`), anchored at
/// its centre, as OpenCV's `filter2D` (no flip), by the table's choice.
pub fn correlate(
    x: &Tensor,
    weights: &[f32],
    kh: usize,
    kw: usize,
    border: Border,
) -> Result<Tensor> {
    correlate_by(x, weights, kh, kw, border, None)
}

/// [`correlate`] by a chosen row of [`CORRELATE_TABLE`] (every row gives the
/// same sums, in the same order); `None` lets the table choose.
pub fn correlate_by(
    x: &Tensor,
    weights: &[f32],
    kh: usize,
    kw: usize,
    border: Border,
    variant: Option<&'static CorrelateVariant>,
) -> Result<Tensor> {
    const OP: &str = "correlate";
    plane(OP, x)?;
    if kh == 0 || kw == 0 || weights.len() != kh * kw {
        return Err(Error::invalid(
            OP,
            "kernel",
            format!("{} weights for a {kh}x{kw} kernel", weights.len()),
        ));
    }
    let dev = x.device();
    let w = dev.tensor(&[weights.len()], weights)?;
    // Windows reach kh/2 rows above and at most as many below.
    let mut y = banded(OP, &[x], 1, kh / 2, |band| {
        let x = band[0];
        let [h, wd] = plane(OP, x)?;
        let problem = CorrelateProblem {
            planes: x.numel() / (h * wd),
            hw: [h, wd],
            kernel: [kh, kw],
            border,
        };
        let y = dev.empty(x.shape(), DType::F32)?;
        let args = CorrelateArgs {
            x,
            weights: &w,
            y: &y,
        };
        CORRELATE_TABLE.run(dev, &problem, variant, &args)?;
        Ok(vec![y])
    })?;
    Ok(y.remove(0))
}

/// A separable filter: `row` along each row, then `column` along each column
/// (two passes of [`correlate`]).
pub fn separable(x: &Tensor, row: &[f32], column: &[f32], border: Border) -> Result<Tensor> {
    let horizontal = correlate(x, row, 1, row.len(), border)?;
    correlate(&horizontal, column, column.len(), 1, border)
}

/// The normalised Gaussian of standard deviation `sigma` over `2·⌈3σ⌉ + 1` taps.
pub fn gaussian_kernel(sigma: f32) -> Result<Vec<f32>> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::invalid(
            "gaussian",
            "sigma",
            format!("must be positive, got {sigma}"),
        ));
    }
    let r = (3.0 * sigma as f64).ceil();
    if r > MAX_BLUR_RADIUS as f64 {
        return Err(Error::invalid(
            "gaussian",
            "sigma",
            format!(
                "{sigma} needs a kernel of radius {r}, above {MAX_BLUR_RADIUS} (sigma at most {})",
                MAX_BLUR_RADIUS / 3
            ),
        ));
    }
    let r = r as i64;
    let taps: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * (sigma as f64).powi(2))).exp())
        .collect();
    let sum: f64 = taps.iter().sum();
    Ok(taps.iter().map(|t| (t / sum) as f32).collect())
}

/// Largest radius of the separable blurs' kernels (8,193 taps a pass).
pub const MAX_BLUR_RADIUS: usize = 4096;

/// Gaussian blur of standard deviation `sigma`, separable in two passes.
pub fn gaussian_blur(x: &Tensor, sigma: f32, border: Border) -> Result<Tensor> {
    let k = gaussian_kernel(sigma)?;
    separable(x, &k, &k, border)
}

/// Mean over a `(2r+1)²` box, separable.
pub fn box_blur(x: &Tensor, radius: usize, border: Border) -> Result<Tensor> {
    if radius > MAX_BLUR_RADIUS {
        return Err(Error::invalid(
            "box_blur",
            "radius",
            format!("at most {MAX_BLUR_RADIUS}, got {radius}"),
        ));
    }
    let n = 2 * radius + 1;
    let k = vec![1.0 / n as f32; n];
    separable(x, &k, &k, border)
}

/// A 3×3 derivative pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derivative {
    /// `[-1 0 1; -2 0 2; -1 0 1]` and its transpose.
    Sobel,
    /// `[-3 0 3; -10 0 10; -3 0 3]` and its transpose.
    Scharr,
}

/// The x and y derivatives (OpenCV's `Sobel`/`Scharr` with `dx`, `dy` = 1).
pub fn derivatives(x: &Tensor, kind: Derivative, border: Border) -> Result<(Tensor, Tensor)> {
    let (a, b) = match kind {
        Derivative::Sobel => (1.0, 2.0),
        Derivative::Scharr => (3.0, 10.0),
    };
    let gx = [-a, 0.0, a, -b, 0.0, b, -a, 0.0, a];
    let gy = [-a, -b, -a, 0.0, 0.0, 0.0, a, b, a];
    Ok((
        correlate(x, &gx, 3, 3, border)?,
        correlate(x, &gy, 3, 3, border)?,
    ))
}

/// Gradient magnitude `sqrt(gx² + gy²)` and direction `atan2(gy, gx)`.
pub fn gradient(gx: &Tensor, gy: &Tensor) -> Result<(Tensor, Tensor)> {
    const OP: &str = "gradient";
    plane(OP, gx)?;
    if gy.shape() != gx.shape() || gy.dtype() != DType::F32 {
        return Err(Error::shape(
            OP,
            format!("gx is {:?}, gy {:?}", gx.shape(), gy.shape()),
        ));
    }
    let mut out = banded(OP, &[gx, gy], 2, 0, |band| {
        let (gx, gy) = (band[0], band[1]);
        let hw = plane(OP, gx)?;
        let dev = gx.device();
        let (m, d) = (
            dev.empty(gx.shape(), DType::F32)?,
            dev.empty(gx.shape(), DType::F32)?,
        );
        launch(
            OP,
            &GRADIENT,
            256,
            uniform(gx, hw, [1, 1], Border::Zero),
            &[
                Binding::Read(gx.binding()),
                Binding::Read(gy.binding()),
                Binding::ReadWrite(m.binding()),
                Binding::ReadWrite(d.binding()),
            ],
            dev,
        )?;
        Ok(vec![m, d])
    })?;
    let d = out.pop().expect("two outputs");
    Ok((out.pop().expect("two outputs"), d))
}

/// The Laplacian `[0 1 0; 1 -4 1; 0 1 0]`.
pub fn laplacian(x: &Tensor, border: Border) -> Result<Tensor> {
    correlate(
        x,
        &[0.0, 1.0, 0.0, 1.0, -4.0, 1.0, 0.0, 1.0, 0.0],
        3,
        3,
        border,
    )
}

/// Unsharp masking: `x + amount·(x − gaussian_blur(x, sigma))`.
pub fn unsharp(x: &Tensor, sigma: f32, amount: f32, border: Border) -> Result<Tensor> {
    if !amount.is_finite() {
        return Err(Error::invalid(
            "unsharp",
            "amount",
            format!("must be finite, got {amount}"),
        ));
    }
    let blurred = gaussian_blur(x, sigma, border)?;
    let sharp = crate::elementwise::scale(x, 1.0 + amount, 0.0)?;
    let detail = crate::elementwise::scale(&blurred, -amount, 0.0)?;
    crate::elementwise::add(&sharp, &detail)
}

/// Which value of each sorted window a rank filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// The minimum: erosion.
    Min,
    /// The median (the middle of `(2r+1)²` values).
    Median,
    /// The maximum: dilation.
    Max,
}

/// Largest window radius of [`rank`]: 65×65 windows.
pub const MAX_RANK_RADIUS: usize = 32;

/// Largest window radius of the `sort` row (its window in registers): 9×9.
pub const MAX_SORT_RADIUS: usize = 4;

/// A rank filter over `(2r+1)²` windows, `r ≤ 32` (the border values count),
/// by the table's choice: a selection network for 3×3 and 5×5 medians, the
/// register sort up to 9×9, the bitwise search beyond.
pub fn rank(x: &Tensor, radius: usize, which: Rank, border: Border) -> Result<Tensor> {
    rank_by(x, radius, which, border, None)
}

/// [`rank`] by a chosen row of [`RANK_TABLE`] (all exact); `None` lets the
/// table choose.
pub fn rank_by(
    x: &Tensor,
    radius: usize,
    which: Rank,
    border: Border,
    variant: Option<&'static RankVariant>,
) -> Result<Tensor> {
    const OP: &str = "rank_filter";
    plane(OP, x)?;
    if radius > MAX_RANK_RADIUS {
        return Err(Error::invalid(
            OP,
            "radius",
            format!("at most {MAX_RANK_RADIUS} (65x65 windows), got {radius}"),
        ));
    }
    let mut y = banded(OP, &[x], 1, radius, |band| {
        let x = band[0];
        let [h, w] = plane(OP, x)?;
        let problem = RankProblem {
            planes: x.numel() / (h * w),
            hw: [h, w],
            radius,
            which,
            border,
        };
        let dev = x.device();
        let y = dev.empty(x.shape(), DType::F32)?;
        RANK_TABLE.run(dev, &problem, variant, &RankArgs { x, y: &y })?;
        Ok(vec![y])
    })?;
    Ok(y.remove(0))
}

/// Erosion then dilation (removes bright specks smaller than the window).
pub fn opening(x: &Tensor, radius: usize, border: Border) -> Result<Tensor> {
    rank(
        &rank(x, radius, Rank::Min, border)?,
        radius,
        Rank::Max,
        border,
    )
}

/// Dilation then erosion (fills dark holes smaller than the window).
pub fn closing(x: &Tensor, radius: usize, border: Border) -> Result<Tensor> {
    rank(
        &rank(x, radius, Rank::Max, border)?,
        radius,
        Rank::Min,
        border,
    )
}

/// 1 where the value exceeds `level`, else 0.
pub fn threshold(x: &Tensor, level: f32) -> Result<Tensor> {
    const OP: &str = "threshold";
    plane(OP, x)?;
    if !level.is_finite() {
        return Err(Error::invalid(
            OP,
            "level",
            format!("must be finite, got {level}"),
        ));
    }
    let mut y = banded(OP, &[x], 1, 0, |band| {
        let x = band[0];
        let hw = plane(OP, x)?;
        let mut u = uniform(x, hw, [1, 1], Border::Zero);
        u.level = level;
        let dev = x.device();
        let y = dev.empty(x.shape(), DType::F32)?;
        launch(
            OP,
            &THRESHOLD,
            256,
            u,
            &[Binding::Read(x.binding()), Binding::ReadWrite(y.binding())],
            dev,
        )?;
        Ok(vec![y])
    })?;
    Ok(y.remove(0))
}

/// Otsu's level for values in [0, 1]: the 256-bin histogram's split that
/// maximises the between-class variance, as the bin's upper edge.
pub fn otsu_level(values: &[f32]) -> f32 {
    let mut hist = [0u64; 256];
    for &v in values {
        hist[((v.clamp(0.0, 1.0) * 255.0).round() as usize).min(255)] += 1;
    }
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0, mut best, mut level) = (0u64, 0.0f64, -1.0f64, 0usize);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0 || w1 == 0 {
            continue;
        }
        let m0 = sum0 / w0 as f64;
        let m1 = (sum_all - sum0) / w1 as f64;
        let between = w0 as f64 * w1 as f64 * (m0 - m1).powi(2);
        if between > best {
            best = between;
            level = t;
        }
    }
    (level as f32 + 0.5) / 255.0
}
