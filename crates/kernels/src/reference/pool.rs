//! Pooling references: PyTorch's `max_pool2d` / `avg_pool2d` loops (CPU
//! kernels) written out plainly, in f64, with their gradients as scatters.
//!
//! Inputs are generic over `f32` (tensors as stored) and `f64` (for the
//! finite-difference checks of the gradients). Max and min are exact
//! (`scale = |value|`); sums and averages carry `scale = Σ|terms| / divisor`.

use super::RefOut;
use crate::pool::{Pool2dParams, PoolKind};

/// Output of the forward reference: values and, for max pooling, PyTorch's
/// indices (flat `h·W + w` within the input plane; 0 for other kinds).
#[derive(Debug, Clone, Default)]
pub struct Pooled {
    pub out: RefOut,
    pub indices: Vec<i32>,
}

fn out_hw(params: &Pool2dParams, h: usize, w: usize) -> [usize; 2] {
    params
        .out_hw("reference pool2d", h, w)
        .expect("reference called with valid pooling parameters")
}

/// PyTorch's max-pooling window of one output along one axis: the first
/// in-bounds position (stepping by the dilation from the padded start) and the
/// exclusive end.
fn max_window(o: usize, size: usize, k: usize, s: usize, p: usize, d: usize) -> (i64, i64, i64) {
    let start = (o * s) as i64 - p as i64;
    let end = (start + ((k - 1) * d + 1) as i64).min(size as i64);
    let mut first = start;
    while first < 0 {
        first += d as i64;
    }
    (first, end, d as i64)
}

/// PyTorch's avg-pooling window along one axis: (clipped start, clipped end,
/// size of the window clipped to the padded input).
fn avg_window(o: usize, size: usize, k: usize, s: usize, p: usize) -> (i64, i64, i64) {
    let start = (o * s) as i64 - p as i64;
    let end = (start + k as i64).min((size + p) as i64);
    (start.max(0), end.min(size as i64), end - start)
}

/// The divisor PyTorch's avg_pool2d divides window (oy, ox) by.
fn avg_divisor(params: &Pool2dParams, hw: [usize; 2], oy: usize, ox: usize) -> f64 {
    let (h0, h1, ph) = avg_window(
        oy,
        hw[0],
        params.kernel[0],
        params.stride[0],
        params.padding[0],
    );
    let (w0, w1, pw) = avg_window(
        ox,
        hw[1],
        params.kernel[1],
        params.stride[1],
        params.padding[1],
    );
    if let Some(d) = params.divisor_override {
        d as f64
    } else if params.count_include_pad {
        (ph * pw) as f64
    } else {
        ((h1 - h0) * (w1 - w0)) as f64
    }
}

/// Pooling of `x` (`[N, C, H, W]`).
pub fn pool2d<T: Copy + Into<f64>>(
    x: &[T],
    shape: [usize; 4],
    kind: PoolKind,
    params: &Pool2dParams,
) -> Pooled {
    let [n, c, h, w] = shape;
    let [oh, ow] = out_hw(params, h, w);
    let mut res = Pooled {
        out: RefOut::with_capacity(n * c * oh * ow),
        indices: Vec::with_capacity(n * c * oh * ow),
    };
    for plane in 0..n * c {
        let xp = &x[plane * h * w..(plane + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                match kind {
                    PoolKind::Max | PoolKind::Min => {
                        let sign = if kind == PoolKind::Max { 1.0 } else { -1.0 };
                        let (h0, h1, dh) = max_window(
                            oy,
                            h,
                            params.kernel[0],
                            params.stride[0],
                            params.padding[0],
                            params.dilation[0],
                        );
                        let (w0, w1, dw) = max_window(
                            ox,
                            w,
                            params.kernel[1],
                            params.stride[1],
                            params.padding[1],
                            params.dilation[1],
                        );
                        let mut best = f64::NEG_INFINITY;
                        let mut best_i = h0 * w as i64 + w0;
                        let mut ih = h0;
                        while ih < h1 {
                            let mut iw = w0;
                            while iw < w1 {
                                let i = ih * w as i64 + iw;
                                let v = sign * xp[i as usize].into();
                                if v > best || v.is_nan() {
                                    best = v;
                                    best_i = i;
                                }
                                iw += dw;
                            }
                            ih += dh;
                        }
                        let value = sign * best;
                        res.out.push(value, value.abs());
                        res.indices.push(best_i as i32);
                    }
                    PoolKind::Avg | PoolKind::Sum => {
                        let (h0, h1, _) = avg_window(
                            oy,
                            h,
                            params.kernel[0],
                            params.stride[0],
                            params.padding[0],
                        );
                        let (w0, w1, _) = avg_window(
                            ox,
                            w,
                            params.kernel[1],
                            params.stride[1],
                            params.padding[1],
                        );
                        let (mut sum, mut mag) = (0.0f64, 0.0f64);
                        for ih in h0..h1 {
                            for iw in w0..w1 {
                                let v: f64 = xp[(ih * w as i64 + iw) as usize].into();
                                sum += v;
                                mag += v.abs();
                            }
                        }
                        let div = if kind == PoolKind::Sum || h0 >= h1 || w0 >= w1 {
                            1.0
                        } else {
                            avg_divisor(params, [h, w], oy, ox)
                        };
                        res.out.push(sum / div, mag / div);
                        res.indices.push(0);
                    }
                }
            }
        }
    }
    res
}

/// Gradient of max pooling from indices: `dx[plane, idx[o]] += dy[o]` (indices
/// outside the plane are skipped); `scale = Σ|dy|` of the summed terms.
pub fn max_pool2d_backward<T: Copy + Into<f64>>(
    dy: &[T],
    indices: &[i32],
    input_shape: [usize; 4],
    out_hw: [usize; 2],
) -> RefOut {
    let [n, c, h, w] = input_shape;
    let (hw, ohw) = (h * w, out_hw[0] * out_hw[1]);
    let mut out = RefOut {
        value: vec![0.0; n * c * hw],
        scale: vec![0.0; n * c * hw],
    };
    for plane in 0..n * c {
        for o in 0..ohw {
            let idx = indices[plane * ohw + o];
            if idx >= 0 && (idx as usize) < hw {
                let g: f64 = dy[plane * ohw + o].into();
                out.value[plane * hw + idx as usize] += g;
                out.scale[plane * hw + idx as usize] += g.abs();
            }
        }
    }
    out
}

/// Gradient of avg pooling: each output's `dy / divisor` added to every
/// in-bounds element of its window; `scale = Σ|dy / divisor|`. Sum pooling is
/// `divisor_override = Some(1)`.
pub fn avg_pool2d_backward<T: Copy + Into<f64>>(
    dy: &[T],
    input_shape: [usize; 4],
    params: &Pool2dParams,
) -> RefOut {
    let [n, c, h, w] = input_shape;
    let [oh, ow] = out_hw(params, h, w);
    let mut out = RefOut {
        value: vec![0.0; n * c * h * w],
        scale: vec![0.0; n * c * h * w],
    };
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (h0, h1, _) =
                    avg_window(oy, h, params.kernel[0], params.stride[0], params.padding[0]);
                let (w0, w1, _) =
                    avg_window(ox, w, params.kernel[1], params.stride[1], params.padding[1]);
                if h0 >= h1 || w0 >= w1 {
                    continue;
                }
                let g: f64 = dy[(plane * oh + oy) * ow + ox].into();
                let g = g / avg_divisor(params, [h, w], oy, ox);
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        let i = plane * h * w + (ih * w as i64 + iw) as usize;
                        out.value[i] += g;
                        out.scale[i] += g.abs();
                    }
                }
            }
        }
    }
    out
}

/// Mean of each plane; `scale = Σ|x| / (H·W)`.
pub fn global_avg_pool<T: Copy + Into<f64>>(x: &[T], shape: [usize; 4]) -> RefOut {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let mut out = RefOut::with_capacity(n * c);
    for plane in 0..n * c {
        let (mut sum, mut mag) = (0.0f64, 0.0f64);
        for &v in &x[plane * hw..(plane + 1) * hw] {
            let v: f64 = v.into();
            sum += v;
            mag += v.abs();
        }
        out.push(sum / hw as f64, mag / hw as f64);
    }
    out
}

/// The input rows (or columns) `[start, end)` that adaptive output `o` of
/// `out` averages over an input of `size`: PyTorch's
/// `[⌊o·size/out⌋, ⌈(o+1)·size/out⌉)`.
pub fn adaptive_window(o: usize, size: usize, out: usize) -> (usize, usize) {
    (o * size / out, ((o + 1) * size).div_ceil(out))
}

/// Adaptive average pooling to `out_hw`; `scale = Σ|x| / area`.
pub fn adaptive_avg_pool2d<T: Copy + Into<f64>>(
    x: &[T],
    shape: [usize; 4],
    out_hw: [usize; 2],
) -> RefOut {
    let [n, c, h, w] = shape;
    let [oh, ow] = out_hw;
    let mut out = RefOut::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        for oy in 0..oh {
            let (y0, y1) = adaptive_window(oy, h, oh);
            for ox in 0..ow {
                let (x0, x1) = adaptive_window(ox, w, ow);
                let area = ((y1 - y0) * (x1 - x0)) as f64;
                let (mut sum, mut mag) = (0.0f64, 0.0f64);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let v: f64 = x[(plane * h + iy) * w + ix].into();
                        sum += v;
                        mag += v.abs();
                    }
                }
                out.push(sum / area, mag / area);
            }
        }
    }
    out
}

/// Gradient of [`adaptive_avg_pool2d`]: every input element collects
/// `dy / area` from each window holding it; `scale = Σ|terms|`.
pub fn adaptive_avg_pool2d_backward<T: Copy + Into<f64>>(
    dy: &[T],
    input_shape: [usize; 4],
    out_hw: [usize; 2],
) -> RefOut {
    let [n, c, h, w] = input_shape;
    let [oh, ow] = out_hw;
    let mut value = vec![0.0f64; n * c * h * w];
    let mut scale = vec![0.0f64; n * c * h * w];
    for plane in 0..n * c {
        for oy in 0..oh {
            let (y0, y1) = adaptive_window(oy, h, oh);
            for ox in 0..ow {
                let (x0, x1) = adaptive_window(ox, w, ow);
                let g: f64 = dy[(plane * oh + oy) * ow + ox].into();
                let t = g / ((y1 - y0) * (x1 - x0)) as f64;
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        value[(plane * h + iy) * w + ix] += t;
                        scale[(plane * h + iy) * w + ix] += t.abs();
                    }
                }
            }
        }
    }
    RefOut { value, scale }
}

/// Maximum of each plane, NaN propagating; exact.
pub fn global_max_pool<T: Copy + Into<f64>>(x: &[T], shape: [usize; 4]) -> RefOut {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let mut out = RefOut::with_capacity(n * c);
    for plane in 0..n * c {
        let mut best = f64::NEG_INFINITY;
        for &v in &x[plane * hw..(plane + 1) * hw] {
            let v: f64 = v.into();
            if v.is_nan() || best.is_nan() {
                best = f64::NAN;
            } else {
                best = best.max(v);
            }
        }
        out.push(best, best.abs());
    }
    out
}

/// Gradient of the global mean: `dx = dy / (H·W)` broadcast over the plane.
pub fn global_avg_pool_backward<T: Copy + Into<f64>>(dy: &[T], input_shape: [usize; 4]) -> RefOut {
    let [n, c, h, w] = input_shape;
    let hw = h * w;
    let mut out = RefOut::with_capacity(n * c * hw);
    for &g in &dy[..n * c] {
        let g: f64 = g.into();
        for _ in 0..hw {
            out.push(g / hw as f64, (g / hw as f64).abs());
        }
    }
    out
}

/// PyTorch's max_unpool2d: zeros, with `x[plane, i]` at `indices[plane, i]` of
/// each `out_hw` plane (out-of-range indices skipped, later writes winning).
pub fn max_unpool2d<T: Copy + Into<f64>>(
    x: &[T],
    indices: &[i32],
    shape: [usize; 4],
    out_hw: [usize; 2],
) -> RefOut {
    let [n, c, h, w] = shape;
    let (hw, ohw) = (h * w, out_hw[0] * out_hw[1]);
    let mut value = vec![0.0; n * c * ohw];
    for plane in 0..n * c {
        for i in 0..hw {
            let idx = indices[plane * hw + i];
            if idx >= 0 && (idx as usize) < ohw {
                value[plane * ohw + idx as usize] = x[plane * hw + i].into();
            }
        }
    }
    let scale = value.iter().map(|v: &f64| v.abs()).collect();
    RefOut { value, scale }
}
