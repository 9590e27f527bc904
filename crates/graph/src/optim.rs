//! Optimizers (SGD with momentum/Nesterov/weight decay, Adam, AdamW) running as
//! GPU kernels, and learning-rate schedules. Semantics follow `torch.optim`.
//!
//! Optimizer state (momentum buffers, Adam moments) is allocated when the
//! optimizer is created, so a step's memory is the same from the first step on.

use weft_device::{DType, Device, Error, Result, Tensor};
use weft_kernels::elementwise;
use weft_kernels::optim::{self as kopt, AdamConfig, SgdConfig};

use crate::graph::{Graph, ParamId};
use crate::layer::ParamKind;
use crate::patterns::NamePatterns;

/// Which update rule, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    Sgd(SgdConfig),
    /// Adam, or AdamW when `decoupled_weight_decay` is set.
    Adam(AdamConfig),
}

impl OptimizerKind {
    /// `torch.optim.SGD(lr, momentum, weight_decay)`.
    pub fn sgd(lr: f32, momentum: f32, weight_decay: f32) -> OptimizerKind {
        OptimizerKind::Sgd(SgdConfig {
            lr,
            momentum,
            dampening: 0.0,
            nesterov: false,
            weight_decay,
        })
    }

    /// `torch.optim.Adam(lr)` with PyTorch's other defaults.
    pub fn adam(lr: f32) -> OptimizerKind {
        OptimizerKind::Adam(AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
        })
    }

    /// `torch.optim.AdamW(lr, weight_decay)`.
    pub fn adamw(lr: f32, weight_decay: f32) -> OptimizerKind {
        OptimizerKind::Adam(AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decoupled_weight_decay: true,
        })
    }

    fn base_lr(&self) -> f32 {
        match self {
            OptimizerKind::Sgd(c) => c.lr,
            OptimizerKind::Adam(c) => c.lr,
        }
    }
}

/// A learning-rate schedule, evaluated per optimizer step. Epoch-based schedules
/// take the number of steps per epoch.
#[derive(Debug, Clone, PartialEq)]
pub enum LrSchedule {
    Constant,
    /// `StepLR(step_size, gamma)`: multiply by `gamma` every `step_size` epochs.
    Step {
        step_size: usize,
        gamma: f32,
        steps_per_epoch: usize,
    },
    /// `CosineAnnealingLR(T_max, eta_min)` over `total_steps`.
    Cosine {
        total_steps: usize,
        eta_min: f32,
    },
    /// Linear warm-up from `start_factor`·lr over `warmup_steps`, then `then`.
    Warmup {
        warmup_steps: usize,
        start_factor: f32,
        then: Box<LrSchedule>,
    },
}

impl LrSchedule {
    /// The learning rate at (0-based) optimizer step `step`.
    pub fn lr(&self, base: f32, step: usize) -> f32 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Step {
                step_size,
                gamma,
                steps_per_epoch,
            } => {
                let epoch = step / (*steps_per_epoch).max(1);
                base * gamma.powi((epoch / (*step_size).max(1)) as i32)
            }
            LrSchedule::Cosine {
                total_steps,
                eta_min,
            } => {
                let t = (step.min(*total_steps)) as f32 / (*total_steps).max(1) as f32;
                eta_min + (base - eta_min) * (1.0 + (std::f32::consts::PI * t).cos()) / 2.0
            }
            LrSchedule::Warmup {
                warmup_steps,
                start_factor,
                then,
            } => {
                if step < *warmup_steps {
                    let f =
                        start_factor + (1.0 - start_factor) * step as f32 / *warmup_steps as f32;
                    base * f
                } else {
                    then.lr(base, step - warmup_steps)
                }
            }
        }
    }
}

/// Per-parameter optimizer state.
#[derive(Debug)]
enum State {
    None,
    Momentum(Tensor),
    Adam { exp_avg: Tensor, exp_avg_sq: Tensor },
}

/// An optimizer bound to a graph's trainable parameters.
#[derive(Debug)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub schedule: LrSchedule,
    state: Vec<State>,
    /// Optimizer steps taken (PyTorch's `step` for Adam's bias correction).
    steps: usize,
    /// Whether a parameter has been updated in the current step.
    updated: Vec<bool>,
    /// Each parameter's factor on the scheduled learning rate (parameter
    /// groups: a smaller rate for a pretrained backbone than for a new head).
    lr_scale: Vec<f32>,
    /// Parameter names, for [`set_lr_scale`](Self::set_lr_scale).
    names: Vec<String>,
}

impl Optimizer {
    /// Creates the optimizer with zeroed state for every trained parameter of
    /// `graph` (none for buffers and frozen parameters).
    pub fn new(
        device: &Device,
        graph: &Graph,
        kind: OptimizerKind,
        schedule: LrSchedule,
    ) -> Result<Optimizer> {
        let mut state = Vec::with_capacity(graph.params().len());
        for p in graph.params() {
            let zeros = || elementwise::zeros(device, &p.decl.shape, DType::F32);
            let s = match (p.decl.kind, kind) {
                (ParamKind::Buffer, _) => State::None,
                (ParamKind::Trainable, _) if p.frozen => State::None,
                (ParamKind::Trainable, OptimizerKind::Sgd(c)) if c.momentum != 0.0 => {
                    State::Momentum(zeros()?)
                }
                (ParamKind::Trainable, OptimizerKind::Sgd(_)) => State::None,
                (ParamKind::Trainable, OptimizerKind::Adam(_)) => State::Adam {
                    exp_avg: zeros()?,
                    exp_avg_sq: zeros()?,
                },
            };
            state.push(s);
        }
        let n = state.len();
        Ok(Optimizer {
            kind,
            schedule,
            state,
            steps: 0,
            updated: vec![false; n],
            lr_scale: vec![1.0; n],
            names: graph.params().iter().map(|p| p.name.clone()).collect(),
        })
    }

    /// Discriminative learning rates: parameters whose names match `patterns`
    /// train at `scale` times the scheduled rate (later calls win where they
    /// overlap). Returns how many parameters matched; a pattern matching none
    /// is an error. Weight decay follows the scaled rate, as in PyTorch's
    /// parameter groups.
    pub fn set_lr_scale(&mut self, patterns: &NamePatterns, scale: f32) -> Result<usize> {
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(Error::invalid(
                "optimizer",
                "lr scale",
                format!("must be finite and ≥ 0, got {scale}"),
            ));
        }
        let unmatched = patterns.unmatched(self.names.iter().map(String::as_str));
        if !unmatched.is_empty() {
            return Err(Error::invalid(
                "optimizer",
                "pattern",
                format!("{} matches no parameter", unmatched.join(", ")),
            ));
        }
        let mut count = 0;
        for (name, s) in self.names.iter().zip(&mut self.lr_scale) {
            if patterns.matches(name) {
                *s = scale;
                count += 1;
            }
        }
        Ok(count)
    }

    /// The learning-rate factor of the parameter called `name`.
    pub fn lr_scale(&self, name: &str) -> Option<f32> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(self.lr_scale[i])
    }

    /// Bytes of optimizer state on the device.
    pub fn state_bytes(&self) -> u64 {
        self.state
            .iter()
            .map(|s| match s {
                State::None => 0,
                State::Momentum(t) => t.byte_size(),
                State::Adam {
                    exp_avg,
                    exp_avg_sq,
                } => exp_avg.byte_size() + exp_avg_sq.byte_size(),
            })
            .sum()
    }

    /// Optimizer steps completed.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The learning rate the next step uses.
    pub fn current_lr(&self) -> f32 {
        self.schedule.lr(self.kind.base_lr(), self.steps)
    }

    /// Updates one parameter with its gradient (called during backward, as soon as
    /// the gradient exists).
    pub(crate) fn update(&mut self, id: ParamId, param: &Tensor, grad: &Tensor) -> Result<()> {
        let i = id.index();
        if self.updated[i] {
            return Err(Error::invalid(
                "optimizer",
                "parameter",
                "a parameter was updated twice in one step (shared parameters are not supported)",
            ));
        }
        self.updated[i] = true;
        let lr = self.current_lr() * self.lr_scale[i];
        match (&self.state[i], self.kind) {
            (State::None, OptimizerKind::Sgd(c)) => {
                kopt::sgd_step(param, grad, None, &SgdConfig { lr, ..c }, self.steps == 0)
            }
            (State::Momentum(buf), OptimizerKind::Sgd(c)) => kopt::sgd_step(
                param,
                grad,
                Some(buf),
                &SgdConfig { lr, ..c },
                self.steps == 0,
            ),
            (
                State::Adam {
                    exp_avg,
                    exp_avg_sq,
                },
                OptimizerKind::Adam(c),
            ) => kopt::adam_step(
                param,
                grad,
                exp_avg,
                exp_avg_sq,
                self.steps as u32 + 1,
                &AdamConfig { lr, ..c },
            ),
            _ => Err(Error::invalid(
                "optimizer",
                "state",
                "state does not match the update rule",
            )),
        }
    }

    /// One optimizer step from given gradients (indexed like the graph's
    /// parameters; `None` leaves a parameter alone): for gradients computed
    /// with [`Model::gradients`](crate::Model::gradients) and then combined,
    /// as data-parallel workers average theirs.
    pub fn apply(&mut self, params: &[Tensor], grads: &[Option<Tensor>]) -> Result<()> {
        if grads.len() != params.len() || params.len() != self.state.len() {
            return Err(Error::invalid(
                "optimizer",
                "gradients",
                format!(
                    "{} gradients for {} parameters (the optimizer has {})",
                    grads.len(),
                    params.len(),
                    self.state.len()
                ),
            ));
        }
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            if let Some(g) = g {
                if g.shape() != p.shape() {
                    return Err(Error::shape(
                        "optimizer",
                        format!(
                            "gradient {i} is {:?}, its parameter {:?}",
                            g.shape(),
                            p.shape()
                        ),
                    ));
                }
                self.update(ParamId(i), p, g)?;
            }
        }
        self.finish_step();
        Ok(())
    }

    /// Ends an optimizer step.
    pub(crate) fn finish_step(&mut self) {
        self.steps += 1;
        self.updated.iter_mut().for_each(|u| *u = false);
    }

    /// The state tensors with PyTorch-style names (`state.<param>.exp_avg`), for checkpoints.
    pub fn state_tensors(&self, graph: &Graph) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (p, s) in graph.params().iter().zip(&self.state) {
            match s {
                State::None => {}
                State::Momentum(t) => {
                    out.push((format!("state.{}.momentum_buffer", p.name), t.clone()))
                }
                State::Adam {
                    exp_avg,
                    exp_avg_sq,
                } => {
                    out.push((format!("state.{}.exp_avg", p.name), exp_avg.clone()));
                    out.push((format!("state.{}.exp_avg_sq", p.name), exp_avg_sq.clone()));
                }
            }
        }
        out
    }

    /// Restores the step count (after loading state tensors into [`state_tensors`](Self::state_tensors)).
    pub fn set_steps(&mut self, steps: usize) {
        self.steps = steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_pytorch() {
        let s = LrSchedule::Step {
            step_size: 2,
            gamma: 0.5,
            steps_per_epoch: 10,
        };
        assert_eq!(s.lr(1.0, 0), 1.0);
        assert_eq!(s.lr(1.0, 19), 1.0);
        assert_eq!(s.lr(1.0, 20), 0.5);
        assert_eq!(s.lr(1.0, 45), 0.25);
        let c = LrSchedule::Cosine {
            total_steps: 100,
            eta_min: 0.0,
        };
        assert!((c.lr(1.0, 50) - 0.5).abs() < 1e-6);
        assert!(c.lr(1.0, 100).abs() < 1e-6);
        let w = LrSchedule::Warmup {
            warmup_steps: 4,
            start_factor: 0.25,
            then: Box::new(LrSchedule::Constant),
        };
        assert_eq!(w.lr(1.0, 0), 0.25);
        assert_eq!(w.lr(1.0, 2), 0.625);
        assert_eq!(w.lr(1.0, 4), 1.0);
    }
}
