//! Local response normalisation in f64.

use crate::lrn::LrnParams;

/// Scales `s_c = k + alpha/size · Σ window x²` of every element of an
/// `[outer, channels, inner]` array.
fn scales(x: &[f64], channels: usize, inner: usize, p: &LrnParams) -> Vec<f64> {
    let mut s = vec![0.0; x.len()];
    for (i, out) in s.iter_mut().enumerate() {
        let c = (i / inner) % channels;
        let plane0 = i - c * inner;
        let lo = c.saturating_sub(p.before);
        let hi = (c + p.size).saturating_sub(p.before).min(channels);
        let sum: f64 = (lo..hi).map(|j| x[plane0 + j * inner].powi(2)).sum();
        *out = p.k as f64 + p.alpha as f64 / p.size as f64 * sum;
    }
    s
}

/// `y = x / s^beta` for `x` viewed as `[outer, channels, inner]`.
pub fn lrn(x: &[f64], channels: usize, inner: usize, p: &LrnParams) -> Vec<f64> {
    let s = scales(x, channels, inner, p);
    x.iter()
        .zip(&s)
        .map(|(v, s)| v / s.powf(p.beta as f64))
        .collect()
}

/// `dx` from `x` and `dy`, by the chain rule through every scale.
pub fn lrn_backward(
    x: &[f64],
    dy: &[f64],
    channels: usize,
    inner: usize,
    p: &LrnParams,
) -> Vec<f64> {
    let s = scales(x, channels, inner, p);
    let beta = p.beta as f64;
    let a = p.alpha as f64 / p.size as f64;
    let mut dx: Vec<f64> = (0..x.len()).map(|i| dy[i] / s[i].powf(beta)).collect();
    // Each output c' spreads -2·a·beta·x_c·dy_c'·x_c'/s_c'^(beta+1) over its window.
    for i in 0..x.len() {
        let c = (i / inner) % channels;
        let plane0 = i - c * inner;
        let lo = c.saturating_sub(p.before);
        let hi = (c + p.size).saturating_sub(p.before).min(channels);
        let g = dy[i] * x[i] / s[i].powf(beta + 1.0);
        for j in lo..hi {
            let k = plane0 + j * inner;
            dx[k] -= 2.0 * a * beta * x[k] * g;
        }
    }
    dx
}
