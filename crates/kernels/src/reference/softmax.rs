//! softmax / log_softmax references and their gradients, in f64.
//!
//! The values come from the f64 cores ([`softmax_f64`], [`softmax_backward_f64`]),
//! which the tests also check against finite differences. Scales model an f32
//! kernel that subtracts the row maximum (z = x − max), sums exp(z) and divides:
//! WGSL's exp may err by (3 + 2|z|) ulp and a sum of `len` terms by log2(len)
//! ulp, so each output's scale carries those terms.

use super::RefOut;

/// Absolute allowance, in units of f32 ε, for results that land in the
/// subnormal range: WGSL lets implementations flush f32 subnormals to zero
/// (lavapipe does), an error of up to 2⁻¹²⁶ = 2⁻¹⁰³·ε.
pub const FLUSH: f64 = 1.0 / (1u128 << 103) as f64;

/// Rows of `shape` along `axis`: (outer, len, inner).
pub fn rows(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Calls `f` with the flat indices of every row along `axis`.
fn for_rows(shape: &[usize], axis: usize, mut f: impl FnMut(&[usize])) {
    let (outer, len, inner) = rows(shape, axis);
    let mut idx = vec![0usize; len];
    for o in 0..outer {
        for i in 0..inner {
            for (a, slot) in idx.iter_mut().enumerate() {
                *slot = (o * len + a) * inner + i;
            }
            f(&idx);
        }
    }
}

fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// softmax (or log_softmax when `log`) along `axis`, in f64.
pub fn softmax_f64(x: &[f64], shape: &[usize], axis: usize, log: bool) -> Vec<f64> {
    let mut out = vec![0.0f64; x.len()];
    for_rows(shape, axis, |idx| {
        let m = idx.iter().map(|&i| x[i]).fold(f64::NEG_INFINITY, max_nan);
        let s: f64 = idx.iter().map(|&i| (x[i] - m).exp()).sum();
        for &i in idx {
            out[i] = if log {
                (x[i] - m) - s.ln()
            } else {
                (x[i] - m).exp() / s
            };
        }
    });
    out
}

/// Gradient of softmax (`log = false`: dx = y·(dy − Σ dy·y)) or log_softmax
/// (`log = true`: dx = dy − exp(y)·Σ dy) from the forward's output `y`, in f64.
pub fn softmax_backward_f64(
    y: &[f64],
    dy: &[f64],
    shape: &[usize],
    axis: usize,
    log: bool,
) -> Vec<f64> {
    let mut out = vec![0.0f64; y.len()];
    for_rows(shape, axis, |idx| {
        if log {
            let s: f64 = idx.iter().map(|&i| dy[i]).sum();
            for &i in idx {
                out[i] = dy[i] - y[i].exp() * s;
            }
        } else {
            let s: f64 = idx.iter().map(|&i| dy[i] * y[i]).sum();
            for &i in idx {
                out[i] = y[i] * (dy[i] - s);
            }
        }
    });
    out
}

/// softmax (or log_softmax) of f32 data with error scales.
pub fn softmax(x: &[f32], shape: &[usize], axis: usize, log: bool) -> RefOut {
    let value = softmax_f64(&widen(x), shape, axis, log);
    let mut scale = vec![0.0f64; x.len()];
    for_rows(shape, axis, |idx| {
        let m = idx
            .iter()
            .map(|&i| x[i] as f64)
            .fold(f64::NEG_INFINITY, max_nan);
        let s: f64 = idx.iter().map(|&i| (x[i] as f64 - m).exp()).sum();
        // Σ p_j·2|z_j|: the exp errors carried into the sum.
        let spread: f64 = idx
            .iter()
            .map(|&i| {
                let z = x[i] as f64 - m;
                z.exp() / s * 2.0 * z.abs()
            })
            .sum();
        let lsum = (idx.len() as f64 + 1.0).log2();
        for &i in idx {
            let z = x[i] as f64 - m;
            scale[i] = if log {
                z.abs() + s.ln().abs() + 8.0 + lsum + spread + value[i].abs()
            } else {
                value[i] * (8.0 + 2.0 * z.abs() + spread + lsum) + FLUSH
            };
        }
    });
    RefOut { value, scale }
}

/// softmax / log_softmax gradients of f32 data with error scales.
pub fn softmax_backward(y: &[f32], dy: &[f32], shape: &[usize], axis: usize, log: bool) -> RefOut {
    let value = softmax_backward_f64(&widen(y), &widen(dy), shape, axis, log);
    let mut scale = vec![0.0f64; y.len()];
    for_rows(shape, axis, |idx| {
        let lsum = (idx.len() as f64 + 1.0).log2() + 1.0;
        if log {
            let s: f64 = idx.iter().map(|&i| dy[i] as f64).sum();
            let mag: f64 = idx.iter().map(|&i| (dy[i] as f64).abs()).sum();
            for &i in idx {
                let e = (y[i] as f64).exp();
                // exp(-inf) = 0 exactly: no exp error to carry.
                let exp_err = if e > 0.0 {
                    e * (s.abs() * (4.0 + 2.0 * (y[i] as f64).abs()) + lsum * mag)
                } else {
                    0.0
                };
                scale[i] = (dy[i] as f64).abs() + exp_err + value[i].abs() + FLUSH;
            }
        } else {
            let s: f64 = idx.iter().map(|&i| dy[i] as f64 * y[i] as f64).sum();
            let mag: f64 = idx
                .iter()
                .map(|&i| (dy[i] as f64 * y[i] as f64).abs())
                .sum();
            for &i in idx {
                scale[i] = (y[i] as f64).abs() * ((dy[i] as f64).abs() + s.abs() + lsum * mag)
                    + value[i].abs()
                    + FLUSH;
            }
        }
    });
    RefOut { value, scale }
}
