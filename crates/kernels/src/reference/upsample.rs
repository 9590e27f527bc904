//! Upsampling references (PyTorch's `F.interpolate(size=...)`, nearest and
//! bilinear) and their gradients as scatters, in f64.
//!
//! Nearest picks its source exactly as PyTorch and the kernel do (an f32
//! product, floored), so its results are exact (`scale = |value|`, or Σ|dy| for
//! the gradient). Bilinear weights come from the same f32 scale but are
//! evaluated in f64; the kernel evaluates the source coordinate in f32, whose
//! rounding (≤ ε_f32·(|src| + 1)) moves a value by at most that times the
//! largest difference of neighbouring inputs, and may pick the neighbouring
//! pair of pixels when the coordinate is within rounding of an integer. The
//! scale therefore adds `(|src_h| + |src_w| + 2)·M·ε_f32/ε_storage` to Σ|w·x|,
//! with M the largest |x| (or, for the gradient, each |dy|) within one pixel of
//! the interpolation footprint.

use weft_device::DType;

use super::RefOut;
use crate::testing::{EPS_F32, eps};
use crate::upsample::UpsampleMode;

/// Bilinear (or nearest) coefficients of one output index along one axis.
#[derive(Debug, Clone, Copy)]
struct Axis {
    i0: usize,
    i1: usize,
    l0: f64,
    l1: f64,
    /// |src| + 1 (0 where the map is exact: nearest, or equal sizes).
    slack: f64,
    /// Inputs within one pixel of the footprint: `lo..=hi`.
    lo: usize,
    hi: usize,
}

fn axis(
    mode: UpsampleMode,
    dst: usize,
    in_size: usize,
    out_size: usize,
    factor: Option<f64>,
) -> Axis {
    let scale = mode.scale_with(in_size, out_size, factor);
    match mode {
        UpsampleMode::Nearest => {
            // PyTorch's index choice, as the kernel makes it.
            let i = crate::upsample::nearest_source(dst, in_size, out_size, factor);
            Axis {
                i0: i,
                i1: i,
                l0: 1.0,
                l1: 0.0,
                slack: 0.0,
                lo: i,
                hi: i,
            }
        }
        UpsampleMode::Bilinear { .. } if in_size == out_size => Axis {
            i0: dst,
            i1: dst,
            l0: 1.0,
            l1: 0.0,
            slack: 0.0,
            lo: dst,
            hi: dst,
        },
        UpsampleMode::Bilinear { align_corners } => {
            let scale = scale as f64;
            let src = if align_corners {
                scale * dst as f64
            } else {
                (scale * (dst as f64 + 0.5) - 0.5).max(0.0)
            };
            let i0 = (src.floor() as usize).min(in_size - 1);
            let l1 = (src - i0 as f64).clamp(0.0, 1.0);
            let i1 = if i0 < in_size - 1 { i0 + 1 } else { i0 };
            Axis {
                i0,
                i1,
                l0: 1.0 - l1,
                l1,
                slack: src.abs() + 1.0,
                lo: i0.saturating_sub(1),
                hi: (i1 + 1).min(in_size - 1),
            }
        }
    }
}

/// Upsampling of `x` (`[N, C, H, W]`) to `out_hw`; `storage` is the dtype the
/// result is compared in (it sets the coordinate-rounding term of the scale).
pub fn upsample2d<T: Copy + Into<f64>>(
    x: &[T],
    shape: [usize; 4],
    out_hw: [usize; 2],
    mode: UpsampleMode,
    storage: DType,
) -> RefOut {
    upsample2d_scaled(x, shape, out_hw, mode, None, storage)
}

/// [`upsample2d`] with coordinates mapped by `1/factors` when scale factors
/// gave the size (`F.interpolate(scale_factor=...)`).
pub fn upsample2d_scaled<T: Copy + Into<f64>>(
    x: &[T],
    shape: [usize; 4],
    out_hw: [usize; 2],
    mode: UpsampleMode,
    factors: Option<[f64; 2]>,
    storage: DType,
) -> RefOut {
    let [n, c, h, w] = shape;
    let [oh, ow] = out_hw;
    let ratio = EPS_F32 / eps(storage);
    let mut out = RefOut::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        let xp = |y: usize, x_: usize| -> f64 { x[plane * h * w + y * w + x_].into() };
        for oy in 0..oh {
            let a = axis(mode, oy, h, oh, factors.map(|f| f[0]));
            for ox in 0..ow {
                let b = axis(mode, ox, w, ow, factors.map(|f| f[1]));
                let terms = [
                    a.l0 * b.l0 * xp(a.i0, b.i0),
                    a.l0 * b.l1 * xp(a.i0, b.i1),
                    a.l1 * b.l0 * xp(a.i1, b.i0),
                    a.l1 * b.l1 * xp(a.i1, b.i1),
                ];
                let value = a.l0 * (b.l0 * xp(a.i0, b.i0) + b.l1 * xp(a.i0, b.i1))
                    + a.l1 * (b.l0 * xp(a.i1, b.i0) + b.l1 * xp(a.i1, b.i1));
                let mut m = 0.0f64;
                for yy in a.lo..=a.hi {
                    for xx in b.lo..=b.hi {
                        m = m.max(xp(yy, xx).abs());
                    }
                }
                let mag: f64 = terms.iter().map(|t| t.abs()).sum();
                out.push(value, mag + (a.slack + b.slack) * m * ratio);
            }
        }
    }
    out
}

/// Gradient of [`upsample2d`]: each `dy[oy, ox]` scattered to the inputs it
/// was interpolated from, times their weights.
pub fn upsample2d_backward<T: Copy + Into<f64>>(
    dy: &[T],
    input_shape: [usize; 4],
    out_hw: [usize; 2],
    mode: UpsampleMode,
    storage: DType,
) -> RefOut {
    upsample2d_backward_scaled(dy, input_shape, out_hw, mode, None, storage)
}

/// Gradient of [`upsample2d_scaled`].
pub fn upsample2d_backward_scaled<T: Copy + Into<f64>>(
    dy: &[T],
    input_shape: [usize; 4],
    out_hw: [usize; 2],
    mode: UpsampleMode,
    factors: Option<[f64; 2]>,
    storage: DType,
) -> RefOut {
    let [n, c, h, w] = input_shape;
    let [oh, ow] = out_hw;
    let ratio = EPS_F32 / eps(storage);
    let mut out = RefOut {
        value: vec![0.0; n * c * h * w],
        scale: vec![0.0; n * c * h * w],
    };
    for plane in 0..n * c {
        let base = plane * h * w;
        for oy in 0..oh {
            let a = axis(mode, oy, h, oh, factors.map(|f| f[0]));
            for ox in 0..ow {
                let b = axis(mode, ox, w, ow, factors.map(|f| f[1]));
                let g: f64 = dy[(plane * oh + oy) * ow + ox].into();
                for (iy, wy) in [(a.i0, a.l0), (a.i1, a.l1)] {
                    for (ix, wx) in [(b.i0, b.l0), (b.i1, b.l1)] {
                        out.value[base + iy * w + ix] += wy * wx * g;
                        out.scale[base + iy * w + ix] += (wy * wx * g).abs();
                    }
                }
                let slack = (a.slack + b.slack) * g.abs() * ratio;
                for iy in a.lo..=a.hi {
                    for ix in b.lo..=b.hi {
                        out.scale[base + iy * w + ix] += slack;
                    }
                }
            }
        }
    }
    out
}
