//! Loss references: softmax cross-entropy with label smoothing, NLL, BCE with
//! logits, and the correct-prediction count, in f64.
//!
//! Targets are class indices as i64 (so both I32 and U32 tensors map onto
//! them); a target outside `[0, C)` is ignored (zero loss and gradient, not
//! counted in the Mean denominator), as the kernels do. Values come from f64
//! cores (`*_f64`) that the tests check against finite differences; scales model
//! the f32 kernels (exp errors of (3 + 2|z|) ulp, sums of n terms).

use super::RefOut;
use super::softmax::FLUSH;
use crate::loss::Reduction;

fn valid(t: i64, c: usize) -> bool {
    t >= 0 && (t as usize) < c
}

/// The factor applied to per-sample losses and gradients: 1/#valid for Mean.
fn reduction_factor(targets: &[i64], c: usize, reduction: Reduction) -> f64 {
    match reduction {
        Reduction::Mean => 1.0 / targets.iter().filter(|&&t| valid(t, c)).count() as f64,
        _ => 1.0,
    }
}

/// Per-sample cross-entropy losses (unscaled) and gradients (scaled by the
/// reduction factor) of logits `[n, c]`, in f64.
pub fn cross_entropy_f64(
    logits: &[f64],
    c: usize,
    targets: &[i64],
    smoothing: f64,
    reduction: Reduction,
) -> (Vec<f64>, Vec<f64>) {
    let k = reduction_factor(targets, c, reduction);
    let mut losses = vec![0.0; targets.len()];
    let mut grad = vec![0.0; logits.len()];
    for (r, &t) in targets.iter().enumerate() {
        if !valid(t, c) {
            continue;
        }
        let z = &logits[r * c..(r + 1) * c];
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = z.iter().map(|&v| (v - m).exp()).sum();
        let lse = m + s.ln();
        let mean_z = z.iter().sum::<f64>() / c as f64;
        losses[r] = (1.0 - smoothing) * (lse - z[t as usize]) + smoothing * (lse - mean_z);
        for a in 0..c {
            let p = (z[a] - m).exp() / s;
            let onehot = if a == t as usize { 1.0 } else { 0.0 };
            grad[r * c + a] = (p - smoothing / c as f64 - (1.0 - smoothing) * onehot) * k;
        }
    }
    (losses, grad)
}

/// The reduced loss of per-sample losses (f64).
pub fn reduce_losses(losses: &[f64], targets_valid: usize, reduction: Reduction) -> f64 {
    match reduction {
        Reduction::Mean => losses.iter().sum::<f64>() / targets_valid as f64,
        _ => losses.iter().sum(),
    }
}

/// Combines per-sample losses (value, scale) into the kernels' output: the
/// scaled per-sample losses for None, else their sum with the sum's own error.
fn finish(losses: Vec<(f64, f64)>, k: f64, reduction: Reduction) -> RefOut {
    match reduction {
        Reduction::None => {
            let mut out = RefOut::with_capacity(losses.len());
            for (v, s) in losses {
                out.push(v, s);
            }
            out
        }
        _ => {
            let n = losses.len();
            let growth = (n.min(16) as f64) + (n.max(1) as f64).log2().ceil() + 4.0;
            let value: f64 = losses.iter().map(|l| l.0 * k).sum();
            let scale: f64 = losses
                .iter()
                .map(|l| (l.1 + growth * l.0.abs()) * k)
                .sum::<f64>()
                + value.abs();
            let mut out = RefOut::with_capacity(1);
            out.push(
                if n == 0 && reduction == Reduction::Mean {
                    f64::NAN
                } else {
                    value
                },
                scale,
            );
            out
        }
    }
}

/// Softmax cross-entropy with label smoothing: (loss, grad) as the kernels
/// return them (loss `[1]` for Mean/Sum, `[n]` for None).
pub fn softmax_cross_entropy(
    logits: &[f32],
    c: usize,
    targets: &[i64],
    smoothing: f32,
    reduction: Reduction,
) -> (RefOut, RefOut) {
    let x: Vec<f64> = logits.iter().map(|&v| v as f64).collect();
    let eps = smoothing as f64;
    let (losses, grad) = cross_entropy_f64(&x, c, targets, eps, reduction);
    let k = reduction_factor(targets, c, reduction);
    let kn = if reduction == Reduction::None { 1.0 } else { k };
    let lsum = (c as f64 + 1.0).log2();
    let mut per = Vec::with_capacity(targets.len());
    let mut g = RefOut::with_capacity(grad.len());
    for (r, &t) in targets.iter().enumerate() {
        let z = &x[r * c..(r + 1) * c];
        if !valid(t, c) {
            per.push((0.0, 0.0));
            for _ in 0..c {
                g.push(0.0, 0.0);
            }
            continue;
        }
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = z.iter().map(|&v| (v - m).exp()).sum();
        let lse = m + s.ln();
        let spread: f64 = z
            .iter()
            .map(|&v| (v - m).exp() / s * 2.0 * (v - m).abs())
            .sum();
        let mag_z: f64 = z.iter().map(|v| v.abs()).sum();
        let l = losses[r];
        let scale = (1.0 - eps) * (lse.abs() + z[t as usize].abs())
            + eps * (lse.abs() + lsum * mag_z / c as f64)
            + m.abs()
            + s.ln().abs()
            + 8.0
            + lsum
            + spread
            + 2.0 * l.abs();
        per.push((l * kn, scale * kn));
        for a in 0..c {
            let p = (z[a] - m).exp() / s;
            let onehot = if a == t as usize { 1.0 } else { 0.0 };
            let v = grad[r * c + a];
            let sc = (p * (8.0 + 2.0 * (z[a] - m).abs() + spread + lsum)
                + eps / c as f64
                + (1.0 - eps) * onehot)
                * k
                + 2.0 * v.abs()
                + FLUSH;
            g.push(v, sc);
        }
    }
    let loss = match reduction {
        Reduction::None => finish(per, 1.0, reduction),
        _ => finish(per, 1.0, Reduction::Sum),
    };
    let loss = if reduction == Reduction::Mean && !targets.iter().any(|&t| valid(t, c)) {
        RefOut {
            value: vec![f64::NAN],
            scale: vec![0.0],
        }
    } else {
        loss
    };
    (loss, g)
}

/// NLL of log-probabilities `[n, c]`: (loss, grad) as the kernels return them.
pub fn nll_loss(
    log_probs: &[f32],
    c: usize,
    targets: &[i64],
    reduction: Reduction,
) -> (RefOut, RefOut) {
    let k = reduction_factor(targets, c, reduction);
    let mut per = Vec::with_capacity(targets.len());
    let mut g = RefOut::with_capacity(log_probs.len());
    for (r, &t) in targets.iter().enumerate() {
        let ok = valid(t, c);
        let l = if ok {
            -(log_probs[r * c + t as usize] as f64)
        } else {
            0.0
        };
        per.push((l * k, 2.0 * (l * k).abs()));
        for a in 0..c {
            let v = if ok && a == t as usize { -k } else { 0.0 };
            g.push(v, 2.0 * v.abs());
        }
    }
    let loss = if reduction == Reduction::Mean && !targets.iter().any(|&t| valid(t, c)) {
        RefOut {
            value: vec![f64::NAN],
            scale: vec![0.0],
        }
    } else if reduction == Reduction::None {
        finish(per, 1.0, reduction)
    } else {
        finish(per, 1.0, Reduction::Sum)
    };
    (loss, g)
}

/// Per-element BCE-with-logits losses and gradients (unscaled), in f64.
/// `pos_weight` is indexed by the element's position in the last dimension
/// (`i % pos_weight.len()`).
pub fn bce_f64(x: &[f64], y: &[f64], pos_weight: Option<&[f64]>) -> (Vec<f64>, Vec<f64>) {
    let mut loss = Vec::with_capacity(x.len());
    let mut grad = Vec::with_capacity(x.len());
    for (i, (&xv, &yv)) in x.iter().zip(y).enumerate() {
        let lw = pos_weight.map_or(1.0, |pw| 1.0 + (pw[i % pw.len()] - 1.0) * yv);
        let softplus_neg = (-xv.abs()).exp().ln_1p() + (-xv).max(0.0);
        let sig_neg = 1.0 / (1.0 + xv.exp());
        loss.push((1.0 - yv) * xv + lw * softplus_neg);
        grad.push((1.0 - yv) - lw * sig_neg);
    }
    (loss, grad)
}

/// BCE with logits: (loss, grad) as the kernels return them (loss `[1]` for
/// Mean/Sum, per element for None).
pub fn bce_with_logits(
    logits: &[f32],
    targets: &[f32],
    pos_weight: Option<&[f32]>,
    reduction: Reduction,
) -> (RefOut, RefOut) {
    let x: Vec<f64> = logits.iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = targets.iter().map(|&v| v as f64).collect();
    let pw: Option<Vec<f64>> = pos_weight.map(|p| p.iter().map(|&v| v as f64).collect());
    let (loss, grad) = bce_f64(&x, &y, pw.as_deref());
    let k = if reduction == Reduction::Mean {
        1.0 / x.len() as f64
    } else {
        1.0
    };
    let mut per = Vec::with_capacity(x.len());
    let mut g = RefOut::with_capacity(x.len());
    for i in 0..x.len() {
        let (xv, yv) = (x[i], y[i]);
        let pwv = pw.as_ref().map_or(1.0, |p| p[i % p.len()]);
        let lw = 1.0 + (pwv - 1.0) * yv;
        let lw_mag = lw.abs() + 1.0 + ((pwv - 1.0) * yv).abs();
        let e = (-xv.abs()).exp();
        let log_term = if e < 0.01 { 0.0 } else { 5.0 };
        let sp = e.ln_1p() + (-xv).max(0.0);
        let ls = 2.0 * ((1.0 - yv) * xv).abs()
            + lw_mag * ((-xv).max(0.0) + sp + e * (3.0 + 2.0 * xv.abs()) + log_term)
            + loss[i].abs();
        per.push((loss[i] * k, ls * k));
        let sig_neg = 1.0 / (1.0 + xv.exp());
        let gs =
            (1.0 - yv).abs() + lw_mag * sig_neg * (5.0 + 2.0 * xv.abs()) + grad[i].abs() + FLUSH;
        g.push(grad[i] * k, gs * k);
    }
    let loss = if reduction == Reduction::None {
        finish(per, 1.0, reduction)
    } else {
        finish(per, 1.0, Reduction::Sum)
    };
    let loss = if reduction == Reduction::Mean && x.is_empty() {
        RefOut {
            value: vec![f64::NAN],
            scale: vec![0.0],
        }
    } else {
        loss
    };
    (loss, g)
}

/// MSE (`l1` false) or L1 loss: (loss, grad) as the kernels return them, in
/// f64 with scales modelling the f32 kernel (d = x − y rounded once, a product
/// and the Mean scaling rounded once each).
pub fn regression(x: &[f32], y: &[f32], l1: bool, reduction: Reduction) -> (RefOut, RefOut) {
    let k = if reduction == Reduction::Mean {
        1.0 / x.len() as f64
    } else {
        1.0
    };
    let mut per = Vec::with_capacity(x.len());
    let mut g = RefOut::with_capacity(x.len());
    for (&xv, &yv) in x.iter().zip(y) {
        let d = xv as f64 - yv as f64;
        let (loss, grad) = if l1 {
            (d.abs(), if d == 0.0 { 0.0 } else { d.signum() })
        } else {
            (d * d, 2.0 * d)
        };
        per.push((loss * k, 2.0 * loss * k));
        g.push(grad * k, 2.0 * (grad * k).abs() + FLUSH);
    }
    let loss = if reduction == Reduction::None {
        finish(per, 1.0, reduction)
    } else if reduction == Reduction::Mean && x.is_empty() {
        RefOut {
            value: vec![f64::NAN],
            scale: vec![0.0],
        }
    } else {
        finish(per, 1.0, Reduction::Sum)
    };
    (loss, g)
}

/// Rows whose argmax (first maximal index, NaN counting as maximal) equals the
/// target.
pub fn count_correct(logits: &[f32], c: usize, targets: &[i64]) -> u32 {
    let mut hits = 0;
    for (r, &t) in targets.iter().enumerate() {
        let row = &logits[r * c..(r + 1) * c];
        let mut best = row[0];
        let mut arg = 0usize;
        for (a, &v) in row.iter().enumerate().skip(1) {
            if !best.is_nan() && (v > best || v.is_nan()) {
                best = v;
                arg = a;
            }
        }
        if valid(t, c) && arg == t as usize {
            hits += 1;
        }
    }
    hits
}
