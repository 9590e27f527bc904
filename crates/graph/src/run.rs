//! Runs a [`Schedule`] on a [`Backend`]: the real device, or the memory
//! simulation that predicts its peak.
//!
//! The driver is the only place that holds values; it drops each one at the
//! point the schedule says. Both backends therefore allocate and release in
//! the same order, and the simulation's peak is the device's peak.

use std::collections::HashMap;

use weft_device::{Error, Result};

use crate::graph::{Graph, NodeId, ParamId};
use crate::model::{EventSink, ExecEvent, Phase};
use crate::schedule::{Schedule, Step, Val};

/// What a run reports as it goes (see [`crate::ExecOptions`]).
#[derive(Default, Clone, Copy)]
pub(crate) struct Observe<'a> {
    pub profile: bool,
    pub trace_memory: bool,
    /// The run is the memory plan's simulation.
    pub planned: bool,
    pub sink: Option<&'a EventSink>,
}

impl Observe<'_> {
    fn emit(&self, event: &ExecEvent<'_>) {
        if let Some(sink) = self.sink {
            (sink.0)(event);
        }
    }

    fn profiled(&self, phase: Phase, node: &str, seconds: Option<f64>) {
        if let Some(seconds) = seconds {
            self.emit(&ExecEvent::Profile {
                phase,
                node,
                seconds,
            });
        }
    }
}

/// Arguments of a backward launch.
pub(crate) struct BackwardArgs<'a, T> {
    pub node: NodeId,
    pub inputs: &'a [Option<T>],
    pub output: Option<&'a T>,
    pub extras: &'a [T],
    pub dy: &'a T,
    pub need_input_grad: &'a [bool],
}

/// What executes launches: real kernels, or byte counting.
pub(crate) trait Backend {
    type T: Clone;

    /// Forward of `node`: its output and the extras it keeps for backward.
    fn forward(
        &mut self,
        node: NodeId,
        inputs: &[Self::T],
        recompute: bool,
    ) -> Result<(Self::T, Vec<Self::T>)>;

    /// Backward of a node: gradients for its inputs and parameters.
    #[allow(clippy::type_complexity)]
    fn backward(
        &mut self,
        args: BackwardArgs<'_, Self::T>,
    ) -> Result<(Vec<Option<Self::T>>, Vec<Option<Self::T>>)>;

    /// The loss on the network output: returns d(loss)/d(output) and keeps the
    /// loss itself for the caller.
    fn loss(&mut self, output: &Self::T) -> Result<Self::T>;

    /// a + b, for gradients that fan in.
    fn accumulate(&mut self, a: Self::T, b: Self::T) -> Result<Self::T>;

    /// Applies the optimizer to a parameter and drops its gradient.
    fn update(&mut self, param: ParamId, grad: Self::T) -> Result<()>;

    /// Bytes live now and the peak so far, for tracing.
    fn memory(&self) -> (u64, u64);

    /// Runs `f` and returns how long the device took for it, when profiling;
    /// backends without a device just run it.
    fn timed<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<(R, Option<f64>)> {
        Ok((f(self)?, None))
    }
}

/// Runs `schedule` with `inputs` bound to the graph's inputs (in order); returns
/// the graph outputs (inference), the gradient with respect to each input
/// (training with [`Schedule::input_grads`]; `None` where no gradient reaches
/// an input) or nothing (training; the backend keeps the loss).
pub(crate) fn run<B: Backend>(
    backend: &mut B,
    graph: &Graph,
    schedule: &Schedule,
    inputs: &[B::T],
    keep_everything: bool,
    observe: Observe<'_>,
) -> Result<Vec<Option<B::T>>> {
    let mut values: HashMap<Val, B::T> = HashMap::new();
    let mut kept: Vec<B::T> = Vec::new();
    for (node, t) in graph.inputs().into_iter().zip(inputs) {
        values.insert(Val::Act(node.0), t.clone());
    }
    let nodes = graph.nodes();
    let mut returned = Vec::new();
    let (trace, profile) = (observe.trace_memory, observe.profile);
    for (s, step) in schedule.steps.iter().enumerate() {
        match *step {
            Step::Forward { node, recompute } => {
                let i = node.0;
                let ins: Vec<B::T> = nodes[i]
                    .inputs
                    .iter()
                    .map(|x| values[&Val::Act(x.0)].clone())
                    .collect();
                let ((out, extras), secs) = if profile {
                    backend.timed(|b| b.forward(node, &ins, recompute))?
                } else {
                    (backend.forward(node, &ins, recompute)?, None)
                };
                observe.profiled(Phase::Forward, &nodes[i].name, secs);
                drop(ins);
                values.insert(Val::Act(i), out);
                if schedule.train {
                    for (k, e) in extras.into_iter().enumerate() {
                        values.insert(Val::Extra(i, k), e);
                    }
                }
            }
            Step::Loss => {
                let o = graph.outputs()[0].0;
                let (dy, secs) = if profile {
                    backend.timed(|b| b.loss(&values[&Val::Act(o)]))?
                } else {
                    (backend.loss(&values[&Val::Act(o)])?, None)
                };
                observe.profiled(Phase::Loss, "", secs);
                add_grad(backend, &mut values, o, dy)?;
            }
            Step::Backward(node) => {
                let i = node.0;
                let saves = &schedule.saves[i];
                let ins: Vec<Option<B::T>> = nodes[i]
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(k, x)| {
                        saves
                            .inputs
                            .get(k)
                            .copied()
                            .unwrap_or(false)
                            .then(|| values[&Val::Act(x.0)].clone())
                    })
                    .collect();
                let output = saves.output.then(|| values[&Val::Act(i)].clone());
                let extras: Vec<B::T> = (0..schedule.extras[i])
                    .map(|k| values[&Val::Extra(i, k)].clone())
                    .collect();
                let diff = nodes[i]
                    .layer
                    .as_ref()
                    .map(|l| l.differentiable_inputs(nodes[i].inputs.len()))
                    .unwrap_or_default();
                let need: Vec<bool> = nodes[i]
                    .inputs
                    .iter()
                    .zip(&diff)
                    .map(|(x, &d)| d && schedule.requires_grad[x.0])
                    .collect();
                // Every layer's gradients are checked as they are made, so
                // a missing one is an internal fault, reported rather than
                // panicking.
                let dy = values.get(&Val::Grad(i)).cloned().ok_or_else(|| {
                    Error::invalid(
                        format!("layer \"{}\"", nodes[i].name),
                        "gradient",
                        "no gradient reached this layer's output (internal scheduling fault)",
                    )
                })?;
                let args = BackwardArgs {
                    node,
                    inputs: &ins,
                    output: output.as_ref(),
                    extras: &extras,
                    dy: &dy,
                    need_input_grad: &need,
                };
                let ((input_grads, param_grads), secs) = if profile {
                    backend.timed(|b| b.backward(args))?
                } else {
                    (backend.backward(args)?, None)
                };
                observe.profiled(Phase::Backward, &nodes[i].name, secs);
                drop((ins, output, extras, dy));
                for (&p, g) in nodes[i].params.iter().zip(param_grads) {
                    if let Some(g) = g {
                        if profile {
                            let ((), secs) = backend.timed(|b| b.update(p, g))?;
                            observe.profiled(Phase::Update, &nodes[i].name, secs);
                        } else {
                            backend.update(p, g)?;
                        }
                    }
                }
                for ((x, g), &needed) in nodes[i].inputs.iter().zip(input_grads).zip(&need) {
                    if let Some(g) = g
                        && needed
                    {
                        add_grad(backend, &mut values, x.0, g)?;
                    }
                }
            }
            Step::Return => {
                if !schedule.train {
                    for o in graph.outputs() {
                        returned.push(values.get(&Val::Act(o.0)).cloned());
                    }
                } else {
                    if schedule.input_grads {
                        for i in graph.inputs() {
                            returned.push(values.get(&Val::Grad(i.0)).cloned());
                        }
                    }
                    for k in &schedule.keep {
                        returned.push(values.get(&Val::Act(k.0)).cloned());
                        returned.push(values.get(&Val::Grad(k.0)).cloned());
                    }
                }
            }
        }
        for v in &schedule.release_after[s] {
            if let Some(t) = values.remove(v)
                && keep_everything
            {
                kept.push(t);
            }
        }
        if trace {
            let (live, peak) = backend.memory();
            let name = match *step {
                Step::Forward { node, .. } | Step::Backward(node) => nodes[node.0].name.as_str(),
                _ => "",
            };
            let what = format!("{step:?}");
            observe.emit(&ExecEvent::Memory {
                step: s,
                what: &what,
                node: name,
                live,
                peak,
                planned: observe.planned,
            });
        }
    }
    drop(values);
    drop(kept);
    Ok(returned)
}

fn add_grad<B: Backend>(
    backend: &mut B,
    values: &mut HashMap<Val, B::T>,
    node: usize,
    g: B::T,
) -> Result<()> {
    let v = match values.remove(&Val::Grad(node)) {
        Some(acc) => backend.accumulate(acc, g)?,
        None => g,
    };
    values.insert(Val::Grad(node), v);
    Ok(())
}
