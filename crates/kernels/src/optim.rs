//! Optimizer steps, in place on F32 tensors, with `torch.optim`'s semantics
//! (single-tensor path): SGD with momentum, dampening, Nesterov and weight
//! decay; Adam and AdamW.
//!
//! The kernels (`shaders/optim/`) do the f32 operations of PyTorch's update
//! in PyTorch's order, one element per invocation; scalars PyTorch computes as
//! Python floats (bias corrections, `1 − dampening`, …) are computed in f64 on
//! the host and rounded to f32, as they are when they meet an f32 tensor.
//! [`crate::reference::optim`] has an f32 CPU version doing the same
//! operations, which the kernels match bit for bit on lavapipe.
//! Tensors of any size work: launches bind windows no larger than the
//! device's binding limit.

use weft_device::{Binding, DType, Error, Kernel, Result, Tensor};

use crate::elementwise::windows;
use crate::shaders;

shaders::plain!(SGD, [], "optim/sgd.wgsl");
shaders::plain!(ADAM, [], "optim/adam.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[], &[&SGD, &ADAM])
}

const WG: usize = 256;

/// Hyper-parameters of `torch.optim.SGD`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
}

impl Default for SgdConfig {
    /// PyTorch's defaults (lr 1e-3, no momentum, no decay).
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// Hyper-parameters of `torch.optim.Adam` (and `AdamW` with
/// `decoupled_weight_decay`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW: decay the parameter (`w·(1 − lr·wd)`) instead of adding `wd·w`
    /// to the gradient.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    /// `torch.optim.Adam`'s defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8).
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamConfig {
    /// `torch.optim.AdamW`'s defaults (Adam's, with decoupled weight decay 0.01).
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 0.01,
            decoupled_weight_decay: true,
            ..AdamConfig::default()
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    n: u32,
    first: u32,
    nesterov: u32,
    _pad: u32,
    neg_lr: f32,
    momentum: f32,
    one_minus_dampening: f32,
    weight_decay: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct AdamParams {
    n: u32,
    decoupled: u32,
    _pad0: [u32; 2],
    weight_decay: f32,
    decay_factor: f32,
    lerp_weight: f32,
    one_minus_lerp_weight: f32,
    beta2: f32,
    one_minus_beta2: f32,
    neg_step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
    _pad1: [f32; 3],
}

/// f32 scalars of an SGD step, as PyTorch rounds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdScalars {
    pub neg_lr: f32,
    pub momentum: f32,
    pub one_minus_dampening: f32,
    pub weight_decay: f32,
}

impl SgdScalars {
    pub fn new(cfg: &SgdConfig) -> Self {
        SgdScalars {
            neg_lr: -cfg.lr,
            momentum: cfg.momentum,
            one_minus_dampening: (1.0 - cfg.dampening as f64) as f32,
            weight_decay: cfg.weight_decay,
        }
    }
}

/// f32 scalars of an Adam step at `step` (1-based), as PyTorch computes them
/// (Python floats, rounded to f32 where they meet the tensors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamScalars {
    pub weight_decay: f32,
    /// `1 − lr·wd` (AdamW).
    pub decay_factor: f32,
    /// `1 − beta1`, the lerp weight.
    pub lerp_weight: f32,
    /// `1 − lerp_weight` in f32, as PyTorch's lerp computes it.
    pub one_minus_lerp_weight: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    /// `−lr / (1 − beta1^step)`.
    pub neg_step_size: f32,
    /// `sqrt(1 − beta2^step)`.
    pub bc2_sqrt: f32,
    pub eps: f32,
}

impl AdamScalars {
    pub fn new(cfg: &AdamConfig, step: u32) -> Self {
        let (lr, b1, b2) = (cfg.lr as f64, cfg.beta1 as f64, cfg.beta2 as f64);
        let bc1 = 1.0 - b1.powi(step as i32);
        let bc2 = 1.0 - b2.powi(step as i32);
        let lerp_weight = (1.0 - b1) as f32;
        AdamScalars {
            weight_decay: cfg.weight_decay,
            decay_factor: (1.0 - lr * cfg.weight_decay as f64) as f32,
            lerp_weight,
            one_minus_lerp_weight: 1.0 - lerp_weight,
            beta2: cfg.beta2,
            one_minus_beta2: (1.0 - b2) as f32,
            neg_step_size: -((lr / bc1) as f32),
            bc2_sqrt: bc2.sqrt() as f32,
            eps: cfg.eps,
        }
    }
}

fn check_f32(op: &str, what: &str, t: &Tensor, like: &Tensor) -> Result<()> {
    if t.dtype() != DType::F32 {
        return Err(Error::invalid(
            op,
            what,
            format!("optimizer tensors must be f32, got {}", t.dtype()),
        ));
    }
    if t.shape() != like.shape() {
        return Err(Error::shape(
            op,
            format!(
                "{what}: expected {:?} like param, got {:?}",
                like.shape(),
                t.shape()
            ),
        ));
    }
    Ok(())
}

fn check_distinct(op: &str, tensors: &[(&str, &Tensor)]) -> Result<()> {
    for (i, (an, a)) in tensors.iter().enumerate() {
        for (bn, b) in &tensors[i + 1..] {
            if a.shares_storage(b) {
                return Err(Error::invalid(
                    op,
                    *an,
                    format!("{an} and {bn} share storage"),
                ));
            }
        }
    }
    Ok(())
}

fn check_finite_nonneg(op: &str, name: &str, v: f32) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(Error::invalid(
            op,
            name,
            format!("must be finite and >= 0, got {v}"),
        ));
    }
    Ok(())
}

/// One `torch.optim.SGD` step on `param` in place. `momentum_buf` (F32 like
/// `param`, updated in place) is required when `cfg.momentum != 0` and ignored
/// otherwise; on the `first_step` it is initialised to the (decayed) gradient,
/// as PyTorch does when the buffer does not exist yet.
pub fn sgd_step(
    param: &Tensor,
    grad: &Tensor,
    momentum_buf: Option<&Tensor>,
    cfg: &SgdConfig,
    first_step: bool,
) -> Result<()> {
    const OP: &str = "sgd_step";
    check_f32(OP, "param", param, param)?;
    check_f32(OP, "grad", grad, param)?;
    check_finite_nonneg(OP, "lr", cfg.lr)?;
    check_finite_nonneg(OP, "momentum", cfg.momentum)?;
    check_finite_nonneg(OP, "weight_decay", cfg.weight_decay)?;
    if !cfg.dampening.is_finite() {
        return Err(Error::invalid(
            OP,
            "dampening",
            format!("must be finite, got {}", cfg.dampening),
        ));
    }
    if cfg.nesterov && (cfg.momentum <= 0.0 || cfg.dampening != 0.0) {
        return Err(Error::invalid(
            OP,
            "nesterov",
            format!(
                "Nesterov momentum requires a momentum > 0 and zero dampening (momentum {}, dampening {})",
                cfg.momentum, cfg.dampening
            ),
        ));
    }
    let buf = if cfg.momentum != 0.0 {
        let Some(buf) = momentum_buf else {
            return Err(Error::invalid(
                OP,
                "momentum_buf",
                format!("momentum {} needs a momentum buffer", cfg.momentum),
            ));
        };
        check_f32(OP, "momentum_buf", buf, param)?;
        check_distinct(
            OP,
            &[("param", param), ("grad", grad), ("momentum_buf", buf)],
        )?;
        Some(buf)
    } else {
        check_distinct(OP, &[("param", param), ("grad", grad)])?;
        None
    };
    let s = SgdScalars::new(cfg);
    let dev = param.device();
    let entry = if buf.is_some() { "momentum" } else { "plain" };
    let kernel = Kernel::new(OP, &SGD, entry);
    for (start, len) in windows(dev, param.numel()) {
        let params = SgdParams {
            n: len as u32,
            first: first_step as u32,
            nesterov: cfg.nesterov as u32,
            _pad: 0,
            neg_lr: s.neg_lr,
            momentum: s.momentum,
            one_minus_dampening: s.one_minus_dampening,
            weight_decay: s.weight_decay,
        };
        let mut bindings = vec![
            Binding::ReadWrite(param.window(start, len)?),
            Binding::Read(grad.window(start, len)?),
        ];
        if let Some(b) = buf {
            bindings.push(Binding::ReadWrite(b.window(start, len)?));
        }
        dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &bindings,
            len.div_ceil(WG) as u64,
        )?;
    }
    Ok(())
}

/// One `torch.optim.Adam` (or AdamW, with `decoupled_weight_decay`) step on
/// `param` in place; `exp_avg` and `exp_avg_sq` (F32 like `param`, zero before
/// the first step) are updated in place. `step` is 1-based and sets the bias
/// corrections.
pub fn adam_step(
    param: &Tensor,
    grad: &Tensor,
    exp_avg: &Tensor,
    exp_avg_sq: &Tensor,
    step: u32,
    cfg: &AdamConfig,
) -> Result<()> {
    const OP: &str = "adam_step";
    check_f32(OP, "param", param, param)?;
    check_f32(OP, "grad", grad, param)?;
    check_f32(OP, "exp_avg", exp_avg, param)?;
    check_f32(OP, "exp_avg_sq", exp_avg_sq, param)?;
    check_distinct(
        OP,
        &[
            ("param", param),
            ("grad", grad),
            ("exp_avg", exp_avg),
            ("exp_avg_sq", exp_avg_sq),
        ],
    )?;
    if step == 0 {
        return Err(Error::invalid(OP, "step", "steps are 1-based, got 0"));
    }
    check_finite_nonneg(OP, "lr", cfg.lr)?;
    check_finite_nonneg(OP, "eps", cfg.eps)?;
    check_finite_nonneg(OP, "weight_decay", cfg.weight_decay)?;
    for (name, b) in [("beta1", cfg.beta1), ("beta2", cfg.beta2)] {
        if !(0.0..1.0).contains(&b) {
            return Err(Error::invalid(
                OP,
                name,
                format!("must lie in [0, 1), got {b}"),
            ));
        }
    }
    let s = AdamScalars::new(cfg, step);
    let dev = param.device();
    let kernel = Kernel::new(OP, &ADAM, "main");
    for (start, len) in windows(dev, param.numel()) {
        let params = AdamParams {
            n: len as u32,
            decoupled: cfg.decoupled_weight_decay as u32,
            weight_decay: s.weight_decay,
            decay_factor: s.decay_factor,
            lerp_weight: s.lerp_weight,
            one_minus_lerp_weight: s.one_minus_lerp_weight,
            beta2: s.beta2,
            one_minus_beta2: s.one_minus_beta2,
            neg_step_size: s.neg_step_size,
            bc2_sqrt: s.bc2_sqrt,
            eps: s.eps,
            ..Default::default()
        };
        dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::ReadWrite(param.window(start, len)?),
                Binding::Read(grad.window(start, len)?),
                Binding::ReadWrite(exp_avg.window(start, len)?),
                Binding::ReadWrite(exp_avg_sq.window(start, len)?),
            ],
            len.div_ceil(WG) as u64,
        )?;
    }
    Ok(())
}
