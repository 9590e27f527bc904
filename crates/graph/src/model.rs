//! A [`Model`]: a graph with its parameters on a device, runnable for inference
//! and training, with a memory plan for both.

use std::cell::RefCell;
use std::rc::Rc;

use weft_device::{DType, Device, Error, Result, Tensor};

use crate::collective::Collective;
#[cfg(not(target_arch = "wasm32"))]
use crate::collective::overlap::Buckets;
use crate::graph::{Graph, NodeId, ParamId};
use crate::init::param_rng;
use crate::layer::{Backward, Forward, ParamKind};
use crate::loss::Loss;
use crate::memory::MemoryReport;
use crate::optim::Optimizer;
use crate::run::{self, Backend, BackwardArgs};
use crate::schedule::Schedule;
use crate::sim::{Counter, Sim};

/// Options of how a model executes.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    /// Storage dtype of activations and gradients (`F16` halves their memory;
    /// parameters stay f32).
    pub dtype: DType,
    /// Fuse activations into the layer before them (conv, linear, batch norm).
    pub fuse: bool,
    /// Nodes (by name) whose activations are recomputed in backward instead of
    /// kept (gradient checkpointing).
    pub recompute: Vec<String>,
    /// Time every launch on the device (each layer's forward and backward,
    /// the loss, each optimizer update) and report it to `sink` as
    /// [`ExecEvent::Profile`]. Waits for the device after every launch, so
    /// steps run slower.
    pub profile: bool,
    /// Report live and peak device bytes after every step of the schedule to
    /// `sink` as [`ExecEvent::Memory`] (the memory plan's simulation too).
    pub trace_memory: bool,
    /// Where profile and memory events go; without one none are made.
    pub sink: Option<EventSink>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            dtype: DType::F32,
            fuse: true,
            recompute: Vec::new(),
            profile: false,
            trace_memory: false,
            sink: None,
        }
    }
}

/// What a launch of a step was, in [`ExecEvent::Profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Forward,
    Backward,
    Loss,
    /// The optimizer's update of a node's parameters.
    Update,
}

/// An observation of a step, delivered to [`ExecOptions::sink`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExecEvent<'a> {
    /// Device time of one launch (`node` is empty for the loss).
    Profile {
        phase: Phase,
        node: &'a str,
        seconds: f64,
    },
    /// Device bytes after step `step` of the schedule (`what` describes it;
    /// `node` is empty for steps of no node). `planned` marks the memory
    /// plan's simulation, whose bytes predict the device's.
    Memory {
        step: usize,
        what: &'a str,
        node: &'a str,
        live: u64,
        peak: u64,
        planned: bool,
    },
}

/// A function receiving [`ExecEvent`]s (shared by clones of the options).
#[derive(Clone)]
pub struct EventSink(pub std::sync::Arc<dyn Fn(&ExecEvent<'_>) + Send + Sync>);

impl EventSink {
    pub fn new(f: impl Fn(&ExecEvent<'_>) + Send + Sync + 'static) -> EventSink {
        EventSink(std::sync::Arc::new(f))
    }
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

/// Sinks are equal when they are the same function object.
impl PartialEq for EventSink {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Results of a training step, still on the device (read them when needed, so
/// the next step can be recorded meanwhile).
#[derive(Debug)]
pub struct StepOutput {
    /// `[1]` f32: mean loss over the batch.
    pub loss: Tensor,
    /// `[1]` u32: correctly classified samples (classification losses).
    pub correct: Option<Tensor>,
}

/// What [`Model::backward`] differentiates.
#[derive(Debug, Clone, Copy)]
pub enum Objective<'a> {
    /// A loss of the first output against `targets`.
    Loss { loss: &'a Loss, targets: &'a Tensor },
    /// Mixup's loss of the first output, `λ·CE(targets) + (1 − λ)·CE(partners)`
    /// (see [`Model::train_step_mixup`]).
    Mixup {
        targets: &'a Tensor,
        partners: &'a Tensor,
        lambda: f32,
        label_smoothing: f32,
    },
    /// A scalar whose gradient with respect to the first output is given (the
    /// output's shape and dtype): one-hot at a class for the class score's
    /// gradient (saliency, Grad-CAM), or `dL/dy` of a loss computed elsewhere.
    OutputGradient(&'a Tensor),
}

/// Gradients from [`Model::backward`], on the device.
#[derive(Debug)]
pub struct Gradients {
    /// `[1]` f32 mean loss, for [`Objective::Loss`].
    pub loss: Option<Tensor>,
    /// `[1]` u32 correctly classified samples, for [`Objective::Loss`] with
    /// a classification loss.
    pub correct: Option<Tensor>,
    /// Per parameter, indexed like [`Graph::params`] (f32; `None` for
    /// buffers and frozen parameters).
    pub params: Vec<Option<Tensor>>,
    /// Per graph input when asked for (the input's shape and dtype).
    pub inputs: Vec<Tensor>,
}

/// A node's output in a [`Model::backward_at`] run and the objective's
/// gradient with respect to it (both batched, the activation dtype).
#[derive(Debug)]
pub struct NodeGradient {
    pub activation: Tensor,
    pub gradient: Tensor,
}

/// A network with parameters on a device.
pub struct Model {
    graph: Graph,
    device: Device,
    params: Vec<Tensor>,
    /// `num_batches_tracked` of each batch-norm node (PyTorch keeps it as int64).
    batches_tracked: Vec<i64>,
    train: bool,
    options: ExecOptions,
    seed: u64,
    steps: u64,
    /// The graph with activations fused (per mode), built on demand.
    exec: RefCell<Option<(bool, Rc<Graph>)>>,
    /// Steps whose plan has been checked against the device's memory budget.
    within_budget: RefCell<Vec<BudgetKey>>,
}

/// What a step's memory plan depends on: batch, mode, loss kind, optimizer
/// state bytes.
type BudgetKey = (usize, bool, Option<std::mem::Discriminant<Loss>>, u64);

impl Model {
    /// Places `graph` on `device` with parameters initialised from `seed`
    /// (each parameter with its layer's PyTorch default initialiser).
    pub fn new(device: &Device, graph: Graph, seed: u64) -> Result<Model> {
        if let Some(budget) = device.memory_budget() {
            let weights: u64 = graph
                .params()
                .iter()
                .map(|p| DType::F32.storage_bytes(p.decl.shape.iter().product()))
                .sum();
            let live = device.pool_stats().live_bytes;
            if live + weights > budget {
                return Err(Error::OverBudget {
                    what: "model".into(),
                    needed: live + weights,
                    budget,
                    detail: format!(
                        "its weights take {weights} bytes on top of {live} already live; nothing was allocated"
                    ),
                });
            }
        }
        let mut params = Vec::with_capacity(graph.params().len());
        for (i, p) in graph.params().iter().enumerate() {
            let n: usize = p.decl.shape.iter().product();
            let values = p.decl.init.sample(n, &mut param_rng(seed, i));
            params.push(device.upload_f32(&p.decl.shape, DType::F32, &values)?);
        }
        let n = graph.nodes().len();
        Ok(Model {
            graph,
            device: device.clone(),
            params,
            batches_tracked: vec![0; n],
            train: true,
            options: ExecOptions::default(),
            seed,
            steps: 0,
            exec: RefCell::new(None),
            within_budget: RefCell::new(Vec::new()),
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Training mode (batch statistics, dropout) — the default.
    pub fn train(&mut self) {
        self.train = true;
    }

    /// Evaluation mode (running statistics, no dropout).
    pub fn eval(&mut self) {
        self.train = false;
    }

    pub fn is_training(&self) -> bool {
        self.train
    }

    pub fn options(&self) -> &ExecOptions {
        &self.options
    }

    /// Changes how the model executes (dtype, fusion, recomputation).
    pub fn set_options(&mut self, options: ExecOptions) -> Result<()> {
        if !options.dtype.is_float() {
            return Err(Error::invalid(
                "model",
                "dtype",
                format!("{} is not a float type", options.dtype),
            ));
        }
        for name in &options.recompute {
            if self.graph.find(name).is_none() {
                return Err(Error::invalid(
                    "model",
                    "recompute",
                    format!("no layer named \"{name}\""),
                ));
            }
        }
        self.options = options;
        *self.exec.borrow_mut() = None;
        self.within_budget.borrow_mut().clear();
        Ok(())
    }

    /// Freezes the parameters whose names match `patterns` (see
    /// [`Graph::freeze`]); returns their names. Create the optimizer after
    /// freezing, so that frozen parameters get no state.
    pub fn freeze(&mut self, patterns: &crate::NamePatterns) -> Result<Vec<String>> {
        let frozen = self.graph.freeze(patterns)?;
        *self.exec.borrow_mut() = None;
        self.within_budget.borrow_mut().clear();
        Ok(frozen)
    }

    /// Parameter and buffer tensors, indexed like [`Graph::params`].
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// The tensor of the parameter or buffer named `name`.
    pub fn param(&self, name: &str) -> Option<&Tensor> {
        self.graph
            .params()
            .iter()
            .position(|p| p.name == name)
            .map(|i| &self.params[i])
    }

    /// Re-initialises parameters: for each parameter `choose` returns an
    /// initialiser (or `None` to keep its values), drawn from `seed` with one
    /// stream per parameter. E.g. Kaiming-normal conv weights:
    /// `model.initialize(1, |p| p.name.ends_with("weight").then(|| Init::KaimingNormal { fan: fan_out }))`.
    pub fn initialize(
        &mut self,
        seed: u64,
        choose: impl Fn(&crate::graph::Param) -> Option<crate::init::Init>,
    ) -> Result<()> {
        for (i, p) in self.graph.params().iter().enumerate() {
            if let Some(init) = choose(p) {
                let n: usize = p.decl.shape.iter().product();
                let values = init.sample(n, &mut param_rng(seed, i));
                self.params[i].write_f32(&values)?;
            }
        }
        Ok(())
    }

    /// Replaces the values of the parameter or buffer `name` (its full name,
    /// as [`Graph::params`] lists it); `values` holds its elements in
    /// row-major order, exactly as many as its shape has.
    pub fn set_param(&mut self, name: &str, values: &[f32]) -> Result<()> {
        let Some(i) = self.graph.params().iter().position(|p| p.name == name) else {
            return Err(Error::invalid(
                "model",
                "parameter",
                format!("no parameter named \"{name}\""),
            ));
        };
        let shape = &self.graph.params()[i].decl.shape;
        let n: usize = shape.iter().product();
        if values.len() != n {
            return Err(Error::shape(
                format!("parameter \"{name}\""),
                format!("shape {shape:?} holds {n} values, got {}", values.len()),
            ));
        }
        self.params[i].write_f32(values)
    }

    /// Replaces a parameter's values (shape and dtype must match).
    pub(crate) fn param_slot(&mut self, id: ParamId) -> &mut Tensor {
        &mut self.params[id.index()]
    }

    /// The seed of the model's randomness (dropout) and the training steps taken,
    /// which together fix the next step's random masks.
    pub fn rng_state(&self) -> (u64, u64) {
        (self.seed, self.steps)
    }

    /// Restores [`rng_state`](Self::rng_state) (when resuming from a checkpoint).
    pub fn set_rng_state(&mut self, seed: u64, steps: u64) {
        self.seed = seed;
        self.steps = steps;
    }

    /// `num_batches_tracked` of a batch-norm node.
    pub fn batches_tracked(&self, node: NodeId) -> i64 {
        self.batches_tracked[node.index()]
    }

    pub(crate) fn set_batches_tracked(&mut self, node: NodeId, v: i64) {
        self.batches_tracked[node.index()] = v;
    }

    /// Bytes of all parameters and buffers on the device.
    pub fn weights_bytes(&self) -> u64 {
        self.params.iter().map(Tensor::byte_size).sum()
    }

    /// The graph as executed: activations fused into their producers where the
    /// mode allows (in training only relu/sigmoid/tanh, whose backward needs just
    /// the fused output).
    fn exec_graph(&self) -> Rc<Graph> {
        if let Some((train, g)) = &*self.exec.borrow()
            && *train == self.train
        {
            return g.clone();
        }
        let g = Rc::new(if self.options.fuse {
            self.graph.fused(self.train)
        } else {
            self.graph.clone()
        });
        *self.exec.borrow_mut() = Some((self.train, g.clone()));
        g
    }

    /// Runs `schedule` on the device.
    fn execute(
        &self,
        backend: &mut Real<'_>,
        g: &Graph,
        schedule: &Schedule,
        inputs: &[&Tensor],
    ) -> Result<Vec<Option<Tensor>>> {
        let owned: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        run::run(backend, g, schedule, &owned, false, self.observe(false))
    }

    /// What the run reports, and where.
    fn observe(&self, planned: bool) -> run::Observe<'_> {
        let o = &self.options;
        match &o.sink {
            Some(sink) => run::Observe {
                profile: o.profile && !planned,
                trace_memory: o.trace_memory,
                planned,
                sink: Some(sink),
            },
            None => run::Observe::default(),
        }
    }

    fn schedule(&self, g: &Graph) -> Schedule {
        if self.train {
            self.training_schedule(g, false, &[])
        } else {
            Schedule::inference(g)
        }
    }

    /// A training schedule of `g` with the model's recomputation.
    fn training_schedule(&self, g: &Graph, input_grads: bool, keep: &[NodeId]) -> Schedule {
        let extras = self.extras_per_node(g);
        let recompute: Vec<bool> = g
            .nodes()
            .iter()
            .map(|n| self.options.recompute.contains(&n.name))
            .collect();
        Schedule::training_with(g, extras, &recompute, input_grads, keep)
    }

    /// Extras each node keeps in training, from the layers' allocation models.
    fn extras_per_node(&self, g: &Graph) -> Vec<usize> {
        g.nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| match &n.layer {
                None => 0,
                Some(l) => {
                    let shapes: Vec<Vec<usize>> =
                        n.inputs.iter().map(|&i| g.shape(i).to_vec()).collect();
                    let need = vec![false; shapes.len()];
                    let trained = g.trained(NodeId(i));
                    let cx = crate::layer::AllocCtx {
                        device: &self.device,
                        batch: 1,
                        inputs: &shapes,
                        output: &n.shape,
                        dtype: self.options.dtype,
                        train: true,
                        need_input_grad: &need,
                        need_param_grad: &trained,
                    };
                    l.forward_alloc(&cx).extras.len()
                }
            })
            .collect()
    }

    fn check_inputs(&self, inputs: &[&Tensor]) -> Result<usize> {
        let ins = self.graph.inputs();
        if inputs.len() != ins.len() {
            return Err(Error::shape(
                "model",
                format!(
                    "the network takes {} input(s), got {}",
                    ins.len(),
                    inputs.len()
                ),
            ));
        }
        let batch = inputs
            .first()
            .map_or(0, |t| t.shape().first().copied().unwrap_or(0));
        for (t, &id) in inputs.iter().zip(&ins) {
            let want = [vec![batch], self.graph.shape(id).to_vec()].concat();
            if t.shape() != want.as_slice() {
                return Err(Error::shape(
                    format!("input \"{}\"", self.graph.node(id).name),
                    format!("expected shape {want:?}, got {:?}", t.shape()),
                ));
            }
            if t.dtype() != self.options.dtype {
                return Err(Error::shape(
                    format!("input \"{}\"", self.graph.node(id).name),
                    format!("expected {} data, got {}", self.options.dtype, t.dtype()),
                ));
            }
        }
        if batch == 0 {
            return Err(Error::shape("model", "the batch is empty"));
        }
        Ok(batch)
    }

    /// Runs the network forward (in the current mode, without gradients) and
    /// returns its outputs. Activations are released as soon as nothing needs
    /// them, so only the layers in flight hold memory.
    pub fn forward(&mut self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let batch = self.check_inputs(inputs)?;
        self.check_budget(batch, None, 0)?;
        let g = self.exec_graph();
        let schedule = Schedule::inference(&g);
        let train = self.train;
        let seed = self.seed ^ self.steps.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut backend = Real {
            graph: &g,
            device: &self.device,
            params: &self.params,
            dtype: self.options.dtype,
            train,
            seed,
            optimizer: None,
            loss: None,
            targets: None,
            partner: None,
            loss_out: None,
            captured: None,
            output_grad: None,
            collective: None,
            #[cfg(not(target_arch = "wasm32"))]
            buckets: None,
        };
        let out = self.execute(&mut backend, &g, &schedule, inputs)?;
        if train {
            self.count_bn_batches(&g);
        }
        Ok(out
            .into_iter()
            .map(|t| t.expect("inference keeps every output"))
            .collect())
    }

    /// One training step: forward, loss on the first output, backward, and the
    /// optimizer update of each parameter as soon as its gradient exists.
    pub fn train_step(
        &mut self,
        inputs: &[&Tensor],
        targets: &Tensor,
        loss: &Loss,
        optimizer: &mut Optimizer,
    ) -> Result<StepOutput> {
        self.step(inputs, targets, None, loss, optimizer)
    }

    /// A training step with mixup: the inputs are blends `λ·x_a + (1 − λ)·x_b`,
    /// `targets` are the labels of the `x_a`, `partners` those of the `x_b`, and
    /// the loss is `λ·CE(a) + (1 − λ)·CE(b)`.
    pub fn train_step_mixup(
        &mut self,
        inputs: &[&Tensor],
        targets: &Tensor,
        partners: &Tensor,
        lambda: f32,
        label_smoothing: f32,
        optimizer: &mut Optimizer,
    ) -> Result<StepOutput> {
        let loss = Loss::MixupCrossEntropy {
            label_smoothing,
            lambda,
        };
        self.step(inputs, targets, Some(partners), &loss, optimizer)
    }

    fn step(
        &mut self,
        inputs: &[&Tensor],
        targets: &Tensor,
        partner: Option<&Tensor>,
        loss: &Loss,
        optimizer: &mut Optimizer,
    ) -> Result<StepOutput> {
        if !self.train {
            return Err(Error::invalid(
                "train_step",
                "mode",
                "the model is in eval mode; call train() first",
            ));
        }
        let batch = self.check_inputs(inputs)?;
        self.check_budget(batch, Some(*loss), optimizer.state_bytes())?;
        let g = self.exec_graph();
        let schedule = self.schedule(&g);
        let seed = self.seed ^ self.steps.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut backend = Real {
            graph: &g,
            device: &self.device,
            params: &self.params,
            dtype: self.options.dtype,
            train: true,
            seed,
            optimizer: Some(optimizer),
            loss: Some(*loss),
            targets: Some(targets),
            partner,
            loss_out: None,
            captured: None,
            output_grad: None,
            collective: None,
            #[cfg(not(target_arch = "wasm32"))]
            buckets: None,
        };
        self.execute(&mut backend, &g, &schedule, inputs)?;
        let out = backend.loss_out.take().expect("the loss ran");
        if let Some(opt) = backend.optimizer.take() {
            opt.finish_step();
        }
        self.steps += 1;
        self.count_bn_batches(&g);
        Ok(StepOutput {
            loss: out.loss,
            correct: out.correct,
        })
    }

    /// Forward, loss and backward without updating anything: the loss and the
    /// gradient of every trained parameter (indexed like [`Graph::params`];
    /// `None` for buffers and frozen parameters), in training mode. See
    /// [`backward`](Self::backward) for input gradients, evaluation mode and
    /// given output gradients. Running statistics are updated as in any training
    /// forward pass.
    pub fn gradients(
        &mut self,
        inputs: &[&Tensor],
        targets: &Tensor,
        loss: &Loss,
    ) -> Result<(Tensor, Vec<Option<Tensor>>)> {
        if !self.train {
            return Err(Error::invalid(
                "gradients",
                "mode",
                "the model is in eval mode; call train() first",
            ));
        }
        let grads = self.backward(inputs, Objective::Loss { loss, targets }, false)?;
        Ok((grads.loss.expect("a loss objective"), grads.params))
    }

    /// Differentiates `objective` without updating anything: the gradient of
    /// every trained parameter and, when `input_gradients`, of every graph
    /// input (saliency maps, adversarial examples). In training mode with
    /// training semantics (batch statistics, dropout; running statistics
    /// updated as in any training forward pass); in evaluation mode with
    /// evaluation semantics (running statistics, no dropout; nothing updated).
    pub fn backward(
        &mut self,
        inputs: &[&Tensor],
        objective: Objective<'_>,
        input_gradients: bool,
    ) -> Result<Gradients> {
        Ok(self
            .backward_with(inputs, objective, input_gradients, &[], None, None)?
            .0)
    }

    /// [`backward`](Self::backward) as one of several data-parallel workers
    /// with synchronised batch norm: training-mode batch-norm layers take
    /// their statistics over every worker's batch (exchanged through
    /// `collective`, as PyTorch's `SyncBatchNorm`), and so do their input
    /// gradients; parameter gradients stay this worker's, for the caller to
    /// average. Every worker must call it for the same network.
    pub fn backward_synchronised(
        &mut self,
        inputs: &[&Tensor],
        objective: Objective<'_>,
        collective: &mut (dyn Collective + 'static),
    ) -> Result<Gradients> {
        Ok(self
            .backward_with(inputs, objective, false, &[], Some(collective), None)?
            .0)
    }

    /// [`backward`](Self::backward) as a data-parallel worker whose gradient
    /// exchange overlaps the pass: every parameter gradient goes to
    /// `buckets` as soon as it is final. With `collective`, batch norm is
    /// synchronised as in [`backward_synchronised`](Self::backward_synchronised).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn backward_overlapped(
        &mut self,
        inputs: &[&Tensor],
        objective: Objective<'_>,
        buckets: &mut Buckets,
        collective: Option<&mut (dyn Collective + 'static)>,
    ) -> Result<Gradients> {
        Ok(self
            .backward_with(inputs, objective, false, &[], collective, Some(buckets))?
            .0)
    }

    /// [`backward`](Self::backward), also returning the output of each node
    /// named in `nodes` and the objective's gradient with respect to it (as
    /// Grad-CAM weighs a layer's feature maps).
    pub fn backward_at(
        &mut self,
        inputs: &[&Tensor],
        objective: Objective<'_>,
        nodes: &[&str],
    ) -> Result<(Gradients, Vec<NodeGradient>)> {
        let ids = nodes
            .iter()
            .map(|name| {
                self.graph
                    .find(name)
                    .filter(|&id| self.graph.node(id).layer.is_some())
                    .ok_or_else(|| {
                        Error::invalid("backward_at", "node", format!("no layer named \"{name}\""))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        self.backward_with(inputs, objective, false, &ids, None, None)
    }

    fn backward_with(
        &mut self,
        inputs: &[&Tensor],
        objective: Objective<'_>,
        input_gradients: bool,
        keep: &[NodeId],
        collective: Option<&mut (dyn Collective + 'static)>,
        #[cfg(not(target_arch = "wasm32"))] buckets: Option<&mut Buckets>,
        #[cfg(target_arch = "wasm32")] _buckets: Option<std::convert::Infallible>,
    ) -> Result<(Gradients, Vec<NodeGradient>)> {
        self.check_inputs(inputs)?;
        let g = if self.train {
            self.exec_graph()
        } else {
            // Evaluation mode as a training run: batch norms with frozen
            // statistics, dropout as the identity.
            let eval = self.graph.in_eval_mode();
            Rc::new(if self.options.fuse {
                eval.fused(true)
            } else {
                eval
            })
        };
        let schedule = self.training_schedule(&g, input_gradients, keep);
        let seed = self.seed ^ self.steps.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let (loss, targets, partner, output_grad) = match objective {
            Objective::Loss { loss, targets } => (Some(*loss), Some(targets), None, None),
            Objective::Mixup {
                targets,
                partners,
                lambda,
                label_smoothing,
            } => (
                Some(Loss::MixupCrossEntropy {
                    label_smoothing,
                    lambda,
                }),
                Some(targets),
                Some(partners),
                None,
            ),
            Objective::OutputGradient(dy) => (None, None, None, Some(dy)),
        };
        let mut backend = Real {
            graph: &g,
            device: &self.device,
            params: &self.params,
            dtype: self.options.dtype,
            train: true,
            seed,
            optimizer: None,
            loss,
            targets,
            partner,
            loss_out: None,
            captured: Some(vec![None; self.params.len()]),
            output_grad,
            collective,
            #[cfg(not(target_arch = "wasm32"))]
            buckets,
        };
        let mut returned = self
            .execute(&mut backend, &g, &schedule, inputs)?
            .into_iter();
        let (loss, correct) = match backend.loss_out.take() {
            Some(l) => (Some(l.loss), l.correct),
            None => (None, None),
        };
        let params = backend.captured.take().expect("captured");
        // A tensor no gradient reaches has a zero gradient.
        let or_zeros = |t: Option<Tensor>, like: &Tensor| match t {
            Some(t) => Ok(t),
            None => weft_kernels::elementwise::zeros(&self.device, like.shape(), like.dtype()),
        };
        let input_grads = if input_gradients {
            inputs
                .iter()
                .map(|x| or_zeros(returned.next().flatten(), x))
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let mut kept = Vec::with_capacity(keep.len());
        for _ in keep {
            let activation = returned
                .next()
                .flatten()
                .expect("kept to the end of the run");
            let gradient = or_zeros(returned.next().flatten(), &activation)?;
            kept.push(NodeGradient {
                activation,
                gradient,
            });
        }
        if self.train {
            self.count_bn_batches(&g);
        }
        let grads = Gradients {
            loss,
            correct,
            params,
            inputs: input_grads,
        };
        Ok((grads, kept))
    }

    fn count_bn_batches(&mut self, g: &Graph) {
        for (i, n) in g.nodes().iter().enumerate() {
            let frozen = |l: &dyn crate::Layer| l.as_batch_norm().is_some_and(|b| b.frozen);
            if n.layer
                .as_deref()
                .is_some_and(|l| l.tracks_batches() && !frozen(l))
            {
                self.batches_tracked[i] += 1;
            }
        }
    }

    /// Refuses a step whose planned peak, with the memory already live that
    /// the plan does not count (a data set kept on the device, other models),
    /// exceeds the device's memory budget, before anything is allocated.
    /// Each kind of step is planned once.
    fn check_budget(&self, batch: usize, loss: Option<Loss>, optimizer_bytes: u64) -> Result<()> {
        let Some(budget) = self.device.memory_budget() else {
            return Ok(());
        };
        let key = (
            batch,
            self.train,
            loss.as_ref().map(std::mem::discriminant),
            optimizer_bytes,
        );
        if self.within_budget.borrow().contains(&key) {
            return Ok(());
        }
        let plan = self.plan_memory(batch, loss, optimizer_bytes)?;
        let counted = plan.weights_bytes + plan.optimizer_bytes + plan.input_bytes;
        let resident = self.device.pool_stats().live_bytes.saturating_sub(counted);
        let needed = plan.planned_peak + resident;
        if needed > budget {
            let step = if loss.is_some() {
                "training step"
            } else if self.train {
                "forward pass (training mode)"
            } else {
                "inference"
            };
            return Err(Error::OverBudget {
                what: format!("{step} at batch {batch}"),
                needed,
                budget,
                detail: format!(
                    "planned peak {} (weights {}, optimizer state {}, inputs {}) + {resident} held outside the model; \
                     nothing was allocated: lower the batch, store activations as f16, or raise the budget",
                    plan.planned_peak, plan.weights_bytes, plan.optimizer_bytes, plan.input_bytes
                ),
            });
        }
        self.within_budget.borrow_mut().push(key);
        Ok(())
    }

    /// The memory plan of one step at `batch`: inference in eval mode, or a
    /// training step (with `optimizer_state_bytes` of optimizer state and
    /// `target_bytes` of targets on the device). Also simulates the
    /// keep-everything baseline.
    pub fn plan_memory(
        &self,
        batch: usize,
        loss: Option<Loss>,
        optimizer_state_bytes: u64,
    ) -> Result<MemoryReport> {
        let g = self.exec_graph();
        let schedule = self.schedule(&g);
        let input_bytes: u64 = self
            .graph
            .inputs()
            .iter()
            .map(|&i| {
                self.options
                    .dtype
                    .storage_bytes(batch * self.graph.shape(i).iter().product::<usize>())
            })
            .sum();
        let target_bytes = if self.train {
            match loss {
                Some(Loss::CrossEntropy { .. }) => {
                    // One class index per sample, or per pixel of [C, H, W] logits.
                    let out = g.shape(g.outputs()[0]);
                    let per_sample = if out.len() == 3 { out[1] * out[2] } else { 1 };
                    DType::I32.storage_bytes(batch * per_sample)
                }
                Some(Loss::MixupCrossEntropy { .. }) => 2 * DType::I32.storage_bytes(batch),
                Some(Loss::BceWithLogits | Loss::Mse | Loss::L1) => {
                    let out = g.outputs()[0];
                    self.options
                        .dtype
                        .storage_bytes(batch * g.shape(out).iter().product::<usize>())
                }
                None => 0,
            }
        } else {
            0
        };
        let baseline = self.weights_bytes() + optimizer_state_bytes + input_bytes + target_bytes;
        let simulate = |keep_everything: bool| -> Result<u64> {
            let counter = Rc::new(RefCell::new(Counter::default()));
            let mut sim = Sim {
                graph: &g,
                device: &self.device,
                batch,
                dtype: self.options.dtype,
                train: self.train,
                loss,
                counter: counter.clone(),
                kept: Vec::new(),
                keep_everything,
            };
            // The caller holds the inputs for the whole step (they are part of
            // the baseline), so simulated inputs start at zero bytes.
            let inputs: Vec<_> = self.graph.inputs().iter().map(|_| sim.tensor(0)).collect();
            // The plan itself is traced; the keep-everything baseline is not.
            let observe = if keep_everything {
                run::Observe::default()
            } else {
                self.observe(true)
            };
            let returned = run::run(&mut sim, &g, &schedule, &inputs, keep_everything, observe)?;
            drop((returned, inputs, sim));
            let peak = counter.borrow().peak;
            Ok(peak)
        };
        let planned = simulate(false)?;
        let keep = simulate(true)?;
        Ok(MemoryReport {
            batch,
            training: self.train,
            weights_bytes: self.weights_bytes(),
            optimizer_bytes: optimizer_state_bytes,
            input_bytes: input_bytes + target_bytes,
            planned_peak: baseline + planned,
            keep_everything_peak: baseline + keep,
            measured_peak: None,
            resident_bytes: 0,
        })
    }
}

/// Checks what a layer's backward returned: a gradient of the input's shape
/// and the activation dtype for every input that needs one. (A user layer
/// that breaks this would otherwise fail far from its cause.)
fn check_input_grads(
    who: &str,
    input_grads: &[Option<Tensor>],
    need: &[bool],
    shapes: &[Vec<usize>],
    dtype: DType,
) -> Result<()> {
    for (k, (g, &needed)) in input_grads.iter().zip(need).enumerate() {
        match g {
            None if needed => {
                return Err(Error::invalid(
                    who,
                    "input_grads",
                    format!(
                        "its backward set no gradient for input {k}, which needs one (cx.input_grads[{k}])"
                    ),
                ));
            }
            Some(g) if needed && (g.shape() != shapes[k].as_slice() || g.dtype() != dtype) => {
                return Err(Error::shape(
                    who,
                    format!(
                        "its backward produced {:?} {} as the gradient of input {k}, expected {:?} {dtype}",
                        g.shape(),
                        g.dtype(),
                        shapes[k]
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`check_input_grads`] for parameters: a gradient of the parameter's
/// shape for every trained parameter.
fn check_param_grads(
    who: &str,
    param_grads: &[Option<Tensor>],
    trained: &[bool],
    params: &[Tensor],
) -> Result<()> {
    for (k, (g, &trains)) in param_grads.iter().zip(trained).enumerate() {
        match g {
            None if trains => {
                return Err(Error::invalid(
                    who,
                    "param_grads",
                    format!(
                        "its backward set no gradient for trained parameter {k} (cx.param_grads[{k}])"
                    ),
                ));
            }
            Some(g) if g.shape() != params[k].shape() => {
                return Err(Error::shape(
                    who,
                    format!(
                        "its backward produced {:?} as the gradient of parameter {k}, expected {:?}",
                        g.shape(),
                        params[k].shape()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The backend that launches kernels.
struct Real<'a> {
    graph: &'a Graph,
    device: &'a Device,
    params: &'a [Tensor],
    dtype: DType,
    train: bool,
    seed: u64,
    optimizer: Option<&'a mut Optimizer>,
    loss: Option<Loss>,
    targets: Option<&'a Tensor>,
    /// Mixup partners' targets.
    partner: Option<&'a Tensor>,
    loss_out: Option<crate::loss::LossRun>,
    /// When set, parameter gradients are kept here instead of applied.
    captured: Option<Vec<Option<Tensor>>>,
    /// A given gradient with respect to the output, in place of a loss.
    output_grad: Option<&'a Tensor>,
    /// The other data-parallel workers, for layers that compute over the
    /// whole batch (synchronised batch norm).
    collective: Option<&'a mut (dyn Collective + 'static)>,
    /// Where parameter gradients go as soon as they are final, to be
    /// exchanged while the pass goes on.
    #[cfg(not(target_arch = "wasm32"))]
    buckets: Option<&'a mut Buckets>,
}

impl Real<'_> {
    fn node_seed(&self, node: NodeId) -> u64 {
        self.seed ^ (node.index() as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }

    fn node_params(&self, node: NodeId) -> Vec<Tensor> {
        self.graph
            .node(node)
            .params
            .iter()
            .map(|p| self.params[p.index()].clone())
            .collect()
    }
}

impl Backend for Real<'_> {
    type T = Tensor;

    fn forward(
        &mut self,
        node: NodeId,
        inputs: &[Tensor],
        recompute: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let n = self.graph.node(node);
        let layer = n.layer.as_ref().expect("layer node");
        let mut params = self.node_params(node);
        if recompute {
            // A re-run must not update running statistics a second time: give it
            // scratch copies of the buffers.
            for (k, &p) in n.params.iter().enumerate() {
                if self.graph.param(p).decl.kind == ParamKind::Buffer {
                    let copy = self.device.empty(params[k].shape(), params[k].dtype())?;
                    self.device.copy(&params[k], &copy)?;
                    params[k] = copy;
                }
            }
        }
        let mut cx = Forward {
            device: self.device,
            inputs,
            params: &params,
            train: self.train,
            dtype: self.dtype,
            seed: self.node_seed(node),
            output: None,
            extras: Vec::new(),
            collective: self.collective.as_deref_mut(),
        };
        layer.forward(&mut cx)?;
        let Some(out) = cx.output.take() else {
            return Err(Error::invalid(
                format!("layer \"{}\" ({})", n.name, layer.kind()),
                "output",
                "its forward returned without setting an output (assign cx.output)",
            ));
        };
        let batch = inputs.first().map_or(0, |t| t.dim(0));
        let want = [vec![batch], n.shape.clone()].concat();
        if out.shape() != want.as_slice() || out.dtype() != self.dtype {
            return Err(Error::shape(
                format!("layer \"{}\" ({})", n.name, layer.kind()),
                format!(
                    "its forward produced {:?} {}, the graph expects {want:?} {} (from its infer)",
                    out.shape(),
                    out.dtype(),
                    self.dtype
                ),
            ));
        }
        Ok((out, std::mem::take(&mut cx.extras)))
    }

    fn backward(
        &mut self,
        args: BackwardArgs<'_, Tensor>,
    ) -> Result<(Vec<Option<Tensor>>, Vec<Option<Tensor>>)> {
        let n = self.graph.node(args.node);
        let layer = n.layer.as_ref().expect("layer node");
        let params = self.node_params(args.node);
        let trained = self.graph.trained(args.node);
        let batch = args.dy.dim(0);
        let shapes: Vec<Vec<usize>> = n
            .inputs
            .iter()
            .map(|&i| [vec![batch], self.graph.shape(i).to_vec()].concat())
            .collect();
        let mut cx = Backward {
            device: self.device,
            inputs: args.inputs,
            input_shapes: &shapes,
            output: args.output,
            extras: args.extras,
            params: &params,
            dy: args.dy,
            need_input_grad: args.need_input_grad,
            need_param_grad: &trained,
            dtype: self.dtype,
            seed: self.node_seed(args.node),
            input_grads: Vec::new(),
            param_grads: Vec::new(),
            collective: self.collective.as_deref_mut(),
        };
        layer.backward(&mut cx)?;
        let mut input_grads = std::mem::take(&mut cx.input_grads);
        input_grads.resize(n.inputs.len(), None);
        let mut param_grads = std::mem::take(&mut cx.param_grads);
        param_grads.resize(n.params.len(), None);
        // Buffers and frozen parameters never get gradients.
        for (g, &trains) in param_grads.iter_mut().zip(&trained) {
            if !trains {
                *g = None;
            }
        }
        let who = format!("layer \"{}\" ({})", n.name, layer.kind());
        check_input_grads(
            &who,
            &input_grads,
            args.need_input_grad,
            &shapes,
            self.dtype,
        )?;
        check_param_grads(&who, &param_grads, &trained, &params)?;
        Ok((input_grads, param_grads))
    }

    fn loss(&mut self, output: &Tensor) -> Result<Tensor> {
        if let Some(dy) = self.output_grad {
            if dy.shape() != output.shape() || dy.dtype() != output.dtype() {
                return Err(Error::shape(
                    "output gradient",
                    format!(
                        "expected {:?} {} (the first output), got {:?} {}",
                        output.shape(),
                        output.dtype(),
                        dy.shape(),
                        dy.dtype()
                    ),
                ));
            }
            return Ok(dy.clone());
        }
        let loss = self.loss.expect("training has a loss");
        let targets = self.targets.expect("training has targets");
        let (grad, kept) = loss.run(output, targets, self.partner)?;
        self.loss_out = Some(kept);
        Ok(grad)
    }

    fn accumulate(&mut self, a: Tensor, b: Tensor) -> Result<Tensor> {
        weft_kernels::elementwise::add(&a, &b)
    }

    fn timed<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<(R, Option<f64>)> {
        let device = self.device.clone();
        let mut out = None;
        let ((), t) = device.time(|| {
            out = Some(f(self)?);
            Ok(())
        })?;
        Ok((out.expect("ran"), Some(t.elapsed.as_secs_f64())))
    }

    fn memory(&self) -> (u64, u64) {
        let s = self.device.pool_stats();
        (s.live_bytes, s.peak_live_bytes)
    }

    fn update(&mut self, param: ParamId, grad: Tensor) -> Result<()> {
        if let Some(c) = self.captured.as_mut() {
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(b) = self.buckets.as_deref_mut() {
                b.add(grad.clone())?;
            }
            c[param.index()] = Some(grad);
            return Ok(());
        }
        if let Some(opt) = self.optimizer.as_deref_mut() {
            opt.update(param, &self.params[param.index()], &grad)?;
        }
        Ok(())
    }
}
