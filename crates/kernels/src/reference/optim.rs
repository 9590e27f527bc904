//! Optimizer references: torch.optim's SGD and Adam/AdamW update rules in f64,
//! and f32 versions doing the kernels' operations in the kernels' order (which
//! the kernels match bit for bit).

use crate::optim::{AdamConfig, AdamScalars, SgdConfig, SgdScalars};

/// One SGD step in f64 on `param`; `buf` is the momentum buffer (`None` before
/// the first step when momentum is used; it is created as PyTorch does).
pub fn sgd_step_f64(param: &mut [f64], grad: &[f64], buf: &mut Option<Vec<f64>>, cfg: &SgdConfig) {
    let (lr, mom, damp, wd) = (
        cfg.lr as f64,
        cfg.momentum as f64,
        cfg.dampening as f64,
        cfg.weight_decay as f64,
    );
    let mut d: Vec<f64> = grad
        .iter()
        .zip(param.iter())
        .map(|(&g, &p)| if wd != 0.0 { g + wd * p } else { g })
        .collect();
    if mom != 0.0 {
        let b = match buf.take() {
            None => d.clone(),
            Some(mut b) => {
                for (bv, &dv) in b.iter_mut().zip(&d) {
                    *bv = *bv * mom + (1.0 - damp) * dv;
                }
                b
            }
        };
        if cfg.nesterov {
            for (dv, &bv) in d.iter_mut().zip(&b) {
                *dv += mom * bv;
            }
        } else {
            d.clone_from(&b);
        }
        *buf = Some(b);
    }
    for (p, dv) in param.iter_mut().zip(d) {
        *p -= lr * dv;
    }
}

/// One Adam/AdamW step in f64 at `step` (1-based).
pub fn adam_step_f64(
    param: &mut [f64],
    grad: &[f64],
    exp_avg: &mut [f64],
    exp_avg_sq: &mut [f64],
    step: u32,
    cfg: &AdamConfig,
) {
    let (lr, b1, b2, eps, wd) = (
        cfg.lr as f64,
        cfg.beta1 as f64,
        cfg.beta2 as f64,
        cfg.eps as f64,
        cfg.weight_decay as f64,
    );
    let bc1 = 1.0 - b1.powi(step as i32);
    let bc2 = 1.0 - b2.powi(step as i32);
    for i in 0..param.len() {
        let mut g = grad[i];
        if wd != 0.0 {
            if cfg.decoupled_weight_decay {
                param[i] *= 1.0 - lr * wd;
            } else {
                g += wd * param[i];
            }
        }
        exp_avg[i] = b1 * exp_avg[i] + (1.0 - b1) * g;
        exp_avg_sq[i] = b2 * exp_avg_sq[i] + (1.0 - b2) * g * g;
        let denom = (exp_avg_sq[i] / bc2).sqrt() + eps;
        param[i] -= lr / bc1 * exp_avg[i] / denom;
    }
}

/// One SGD step in f32 with the kernel's operations in the kernel's order.
/// `buf` is required when momentum is nonzero.
pub fn sgd_step_f32(
    param: &mut [f32],
    grad: &[f32],
    buf: Option<&mut [f32]>,
    cfg: &SgdConfig,
    first_step: bool,
) {
    let s = SgdScalars::new(cfg);
    let mut buf = buf;
    for i in 0..param.len() {
        let mut d = grad[i];
        if s.weight_decay != 0.0 {
            d += s.weight_decay * param[i];
        }
        if let Some(b) = buf.as_deref_mut() {
            let nb = if first_step {
                d
            } else {
                b[i] * s.momentum + s.one_minus_dampening * d
            };
            b[i] = nb;
            d = if cfg.nesterov {
                d + s.momentum * nb
            } else {
                nb
            };
        }
        param[i] += s.neg_lr * d;
    }
}

/// One Adam/AdamW step in f32 with the kernel's operations in the kernel's
/// order.
pub fn adam_step_f32(
    param: &mut [f32],
    grad: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    step: u32,
    cfg: &AdamConfig,
) {
    let s = AdamScalars::new(cfg, step);
    for i in 0..param.len() {
        let mut w = param[i];
        let mut g = grad[i];
        if s.weight_decay != 0.0 {
            if cfg.decoupled_weight_decay {
                w *= s.decay_factor;
            } else {
                g += s.weight_decay * w;
            }
        }
        let mut m = exp_avg[i];
        m = if s.lerp_weight < 0.5 {
            m + s.lerp_weight * (g - m)
        } else {
            g - (g - m) * s.one_minus_lerp_weight
        };
        let v = exp_avg_sq[i] * s.beta2 + (s.one_minus_beta2 * g) * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        let denom = v.sqrt() / s.bc2_sqrt + s.eps;
        param[i] = w + s.neg_step_size * (m / denom);
    }
}
