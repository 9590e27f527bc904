//! BatchNorm2d references (NCHW, per-channel statistics), in f64.
//!
//! The values come from the f64 cores ([`forward_f64`], [`backward_f64`]), which
//! the tests also check against finite differences. Scales model the f32
//! kernels: statistics by sums of n terms (16 per invocation, then trees, so
//! errors grow like [`sum_growth`]`(n)` ulps of Σ|terms|), then a few
//! roundings per element.

use super::{RefOut, activation};
use crate::Activation;

/// Error growth, in ulps of Σ|terms|, of an f32 sum of `n` terms as the
/// kernels compute it: up to 16 serial terms per invocation, then halving
/// trees (log2 n levels), plus the chunk merges. (The planes kernels: blocks
/// of 16 serial terms, at most 8 blocks per segment of 512, 4 lanes, then a
/// balanced merge of the segments: 17 + log2 n, within this.)
pub fn sum_growth(n: usize) -> f64 {
    (n.min(16) as f64) + (n.max(1) as f64).log2().ceil() + 4.0
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Per-channel batch mean and biased variance of NCHW `x`.
pub fn stats_f64(x: &[f64], shape: [usize; 4]) -> (Vec<f64>, Vec<f64>) {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let cnt = (n * hw) as f64;
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for ch in 0..c {
        let vals = (0..n).flat_map(|img| (0..hw).map(move |s| (img * c + ch) * hw + s));
        let m = vals.clone().map(|i| x[i]).sum::<f64>() / cnt;
        let v = vals.map(|i| (x[i] - m).powi(2)).sum::<f64>() / cnt;
        mean[ch] = m;
        var[ch] = v;
    }
    (mean, var)
}

/// Training-mode forward before the activation, in f64: (y, mean, biased var).
pub fn forward_f64(
    x: &[f64],
    shape: [usize; 4],
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [_, c, h, w] = shape;
    let hw = h * w;
    let (mean, var) = stats_f64(x, shape);
    let y = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / hw) % c;
            (v - mean[ch]) / (var[ch] + eps).sqrt() * gamma[ch] + beta[ch]
        })
        .collect();
    (y, mean, var)
}

/// Training-mode backward in f64 from the saved mean and invstd:
/// (dx, dgamma, dbeta).
pub fn backward_f64(
    dy: &[f64],
    x: &[f64],
    shape: [usize; 4],
    gamma: &[f64],
    mean: &[f64],
    invstd: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let cnt = (n * hw) as f64;
    let mut dgamma = vec![0.0; c];
    let mut dbeta = vec![0.0; c];
    for (i, (&g, &v)) in dy.iter().zip(x).enumerate() {
        let ch = (i / hw) % c;
        dbeta[ch] += g;
        dgamma[ch] += g * (v - mean[ch]) * invstd[ch];
    }
    let dx = dy
        .iter()
        .zip(x)
        .enumerate()
        .map(|(i, (&g, &v))| {
            let ch = (i / hw) % c;
            let xhat = (v - mean[ch]) * invstd[ch];
            gamma[ch] * invstd[ch] / cnt * (cnt * g - dbeta[ch] - xhat * dgamma[ch])
        })
        .collect();
    (dx, dgamma, dbeta)
}

/// Batch statistics with the scales of their f32 computation.
#[derive(Debug, Clone)]
pub struct BnStats {
    pub mean: RefOut,
    /// 1 / sqrt(biased var + eps).
    pub invstd: RefOut,
    /// Biased variance.
    pub var: Vec<f64>,
    /// Σ|x| / n per channel.
    pub mean_abs: Vec<f64>,
    /// Elements per channel.
    pub count: usize,
}

fn apply_act(act: Activation, pre: f64, pre_scale: f64) -> (f64, f64) {
    let y = activation::forward(act, pre);
    (y, 1.13 * pre_scale + activation::error_scale(act, pre, y))
}

/// Training-mode forward with the fused activation: (y, statistics).
pub fn train(
    x: &[f32],
    shape: [usize; 4],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    act: Activation,
) -> (RefOut, BnStats) {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let count = n * hw;
    let (pre, mean, var) = forward_f64(&widen(x), shape, &widen(gamma), &widen(beta), eps as f64);
    let mut mean_abs = vec![0.0; c];
    for (i, &v) in x.iter().enumerate() {
        mean_abs[(i / hw) % c] += (v as f64).abs() / count as f64;
    }
    let lam = sum_growth(count);
    let mut stats = BnStats {
        mean: RefOut::with_capacity(c),
        invstd: RefOut::with_capacity(c),
        var: var.clone(),
        mean_abs: mean_abs.clone(),
        count,
    };
    for ch in 0..c {
        stats
            .mean
            .push(mean[ch], lam * mean_abs[ch] + mean[ch].abs());
        let r = 1.0 / (var[ch] + eps as f64).sqrt();
        stats.invstd.push(r, r * (lam / 2.0 + 4.0));
    }
    let mut y = RefOut::with_capacity(x.len());
    for (i, &xv) in x.iter().enumerate() {
        let ch = (i / hw) % c;
        let r = stats.invstd.value[ch];
        let (xv, m) = (xv as f64, mean[ch]);
        let s = r
            * (gamma[ch] as f64).abs()
            * (lam * mean_abs[ch] + xv.abs() + m.abs() + lam * (xv - m).abs())
            + (beta[ch] as f64).abs()
            + pre[i].abs();
        let (v, sc) = apply_act(act, pre[i], s);
        y.push(v, sc);
    }
    (y, stats)
}

/// Running statistics after one training step: (running_mean, running_var),
/// PyTorch's update with the unbiased variance.
pub fn running_update(
    running_mean: &[f32],
    running_var: &[f32],
    stats: &BnStats,
    momentum: f32,
) -> (RefOut, RefOut) {
    let m = momentum as f64;
    let n = stats.count as f64;
    let lam = sum_growth(stats.count);
    let mut rm = RefOut::with_capacity(running_mean.len());
    let mut rv = RefOut::with_capacity(running_var.len());
    for ch in 0..running_mean.len() {
        let (a, b) = (running_mean[ch] as f64, running_var[ch] as f64);
        let mu = stats.mean.value[ch];
        let unbiased = stats.var[ch] * n / (n - 1.0);
        let v = (1.0 - m) * a + m * mu;
        rm.push(
            v,
            (1.0 - m) * a.abs() + m * stats.mean.scale[ch] + 2.0 * v.abs(),
        );
        let v = (1.0 - m) * b + m * unbiased;
        rv.push(
            v,
            (1.0 - m) * b.abs() + m * unbiased * (lam + 6.0) + 2.0 * v.abs(),
        );
    }
    (rm, rv)
}

/// Evaluation-mode forward with the fused activation.
#[allow(clippy::too_many_arguments)]
pub fn eval(
    x: &[f32],
    shape: [usize; 4],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    eps: f32,
    act: Activation,
) -> RefOut {
    let [_, c, h, w] = shape;
    let hw = h * w;
    let mut y = RefOut::with_capacity(x.len());
    for (i, &xv) in x.iter().enumerate() {
        let ch = (i / hw) % c;
        let r = 1.0 / (running_var[ch] as f64 + eps as f64).sqrt();
        let (xv, m, g, b) = (
            xv as f64,
            running_mean[ch] as f64,
            gamma[ch] as f64,
            beta[ch] as f64,
        );
        let pre = (xv - m) * r * g + b;
        let s = r * g.abs() * (xv.abs() + m.abs() + 3.0 * (xv - m).abs()) + b.abs() + pre.abs();
        let (v, sc) = apply_act(act, pre, s);
        y.push(v, sc);
    }
    y
}

/// Training-mode backward from the saved statistics: (dx, dgamma, dbeta).
pub fn backward(
    dy: &[f32],
    x: &[f32],
    shape: [usize; 4],
    gamma: &[f32],
    mean: &[f32],
    invstd: &[f32],
) -> (RefOut, RefOut, RefOut) {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let count = n * hw;
    let cnt = count.max(1) as f64;
    let (dx, dgamma, dbeta) = backward_f64(
        &widen(dy),
        &widen(x),
        shape,
        &widen(gamma),
        &widen(mean),
        &widen(invstd),
    );
    let lam = sum_growth(count);
    // Per channel: Σ|dy|, Σ|dy|·|x − mean|, Σ|dy|·(|x| + |mean|).
    let mut a = vec![0.0; c];
    let mut b = vec![0.0; c];
    let mut e = vec![0.0; c];
    for (i, (&g, &v)) in dy.iter().zip(x).enumerate() {
        let ch = (i / hw) % c;
        let (g, v, m) = ((g as f64).abs(), v as f64, mean[ch] as f64);
        a[ch] += g;
        b[ch] += g * (v - m).abs();
        e[ch] += g * (v.abs() + m.abs());
    }
    let mut dx_out = RefOut::with_capacity(dx.len());
    for (i, &v) in dx.iter().enumerate() {
        let ch = (i / hw) % c;
        let r = invstd[ch] as f64;
        let (xv, m) = (x[i] as f64, mean[ch] as f64);
        let bb = r * r * (b[ch] + e[ch]) / cnt;
        let s = (gamma[ch] as f64).abs()
            * r
            * ((dy[i] as f64).abs()
                + lam * a[ch] / cnt
                + (lam * (xv - m).abs() + xv.abs() + m.abs()) * bb)
            + v.abs();
        dx_out.push(v, s);
    }
    let mut dg = RefOut::with_capacity(c);
    let mut db = RefOut::with_capacity(c);
    for ch in 0..c {
        let r = invstd[ch] as f64;
        dg.push(dgamma[ch], r * (lam * b[ch] + e[ch]) + dgamma[ch].abs());
        db.push(dbeta[ch], lam * a[ch]);
    }
    (dx_out, dg, db)
}

/// Batch norm folded into a convolution with `w.len() / gamma.len()` weights
/// per output channel: (w', b').
#[allow(clippy::too_many_arguments)]
pub fn fold_into_conv(
    w: &[f32],
    b: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    eps: f32,
) -> (RefOut, RefOut) {
    let o = gamma.len();
    let per = w.len().checked_div(o).unwrap_or(0);
    let s: Vec<f64> = (0..o)
        .map(|ch| gamma[ch] as f64 / (running_var[ch] as f64 + eps as f64).sqrt())
        .collect();
    let mut wo = RefOut::with_capacity(w.len());
    for (i, &v) in w.iter().enumerate() {
        let y = v as f64 * s[i / per];
        wo.push(y, 4.0 * y.abs());
    }
    let mut bo = RefOut::with_capacity(o);
    for ch in 0..o {
        let bv = b.map_or(0.0, |b| b[ch] as f64);
        let m = running_mean[ch] as f64;
        let y = (bv - m) * s[ch] + beta[ch] as f64;
        bo.push(
            y,
            4.0 * (bv.abs() + m.abs()) * s[ch].abs() + (beta[ch] as f64).abs() + y.abs(),
        );
    }
    (wo, bo)
}
