//! The training loop that the command line and embedding applications share.
//!
//! A [`Trainer`] owns a [`Model`], its [`Optimizer`] (with the learning-rate
//! schedule) and the [`Loss`]. It runs steps on [`Batch`]es, epochs over any
//! iterator of batches with a callback after every step (progress display,
//! early stop), and evaluates classifiers. Hooks given with
//! [`Trainer::with_batch_hook`] see every batch before its step, for
//! augmentation an application does itself.
//!
//! ```no_run
//! # use std::ops::ControlFlow;
//! # use weft_graph::{Batch, Loss, LrSchedule, Model, Optimizer, OptimizerKind, Trainer};
//! # fn run(device: &weft_device::Device, batches: Vec<Batch>) -> weft_device::Result<()> {
//! let model = Model::new(device, weft_graph::models::lenet5()?, 0)?;
//! let optimizer = Optimizer::new(
//!     device,
//!     model.graph(),
//!     OptimizerKind::adam(1e-3),
//!     LrSchedule::Constant,
//! )?;
//! let mut trainer = Trainer::new(model, optimizer, Loss::CrossEntropy { label_smoothing: 0.0 });
//! let report = trainer.epoch(batches.into_iter().map(Ok), |step| {
//!     eprintln!("step {}: loss {:.4}", step.epoch_step, step.loss);
//!     ControlFlow::Continue(())
//! })?;
//! eprintln!("mean loss {:.4} over {} images", report.mean_loss, report.images);
//! # Ok(()) }
//! ```

use std::ops::ControlFlow;
use web_time::Instant;

use weft_device::{Drive, Error, Result, Tensor};

use crate::collective::Collective;
use crate::loss::Loss;
use crate::model::{Gradients, Model, Objective, StepOutput};
use crate::optim::Optimizer;

/// One batch on the device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The network's inputs, each with the batch as its first dimension.
    pub inputs: Vec<Tensor>,
    /// `[N]` I32 class indices (cross-entropy), or targets shaped like the
    /// output (binary cross-entropy).
    pub targets: Tensor,
    /// Mixup: the inputs are blends `λ·x_a + (1 − λ)·x_b` and the loss mixes
    /// the targets of both.
    pub mixup: Option<Mixup>,
}

/// The second half of a mixup batch.
#[derive(Debug, Clone)]
pub struct Mixup {
    /// `[N]` I32 classes of the blended-in samples.
    pub partners: Tensor,
    /// The weight λ of `targets`.
    pub lambda: f32,
}

impl Batch {
    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.targets.shape().first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one step of an epoch did (values read back from the device).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Index of the step within the epoch, from 0.
    pub epoch_step: usize,
    /// Optimizer steps taken so far, this one included.
    pub step: usize,
    /// Samples in this step.
    pub batch: usize,
    /// This step's mean loss.
    pub loss: f64,
    /// Mean loss over the epoch so far.
    pub mean_loss: f64,
    /// Accuracy over the epoch so far (classification losses).
    pub accuracy: Option<f64>,
    /// Training throughput over the epoch so far.
    pub images_per_s: f64,
    /// The learning rate of the next step.
    pub lr: f32,
}

/// Device memory measured around one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasuredStep {
    /// Live bytes before the step (weights, optimizer state, the batch).
    pub live_before: u64,
    /// The pool's peak of live bytes during the step.
    pub peak: u64,
}

/// What an epoch did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    pub steps: usize,
    pub images: usize,
    pub mean_loss: f64,
    pub accuracy: Option<f64>,
    pub seconds: f64,
    /// The callback asked to stop before the batches ran out.
    pub stopped: bool,
    /// The step chosen with [`Trainer::measure_memory_at`], if the epoch
    /// reached it.
    pub memory: Option<MeasuredStep>,
}

impl EpochReport {
    pub fn images_per_s(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }
}

/// A classifier's results on labelled batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `confusion[true class][predicted class]`, one row and column per
    /// output of the network.
    pub confusion: Vec<Vec<u64>>,
    pub images: usize,
    pub seconds: f64,
}

impl Evaluation {
    pub fn correct(&self) -> u64 {
        (0..self.confusion.len())
            .map(|i| self.confusion[i][i])
            .sum()
    }

    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.images.max(1) as f64
    }

    pub fn images_per_s(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }
}

/// A hook that sees (and may change) every batch before its step.
pub type BatchHook = Box<dyn FnMut(&mut Batch) -> Result<()> + Send>;

/// A model with its optimizer and loss: see the module documentation.
pub struct Trainer {
    pub model: Model,
    pub optimizer: Optimizer,
    pub loss: Loss,
    hooks: Vec<BatchHook>,
    measure_at: Option<usize>,
    epochs: usize,
    /// The other data-parallel workers, if any.
    collective: Option<Box<dyn Collective>>,
    /// Batch-norm statistics over every worker's batch.
    sync_batch_norm: bool,
    /// Gradient buckets exchanged during backward, or `None` for one
    /// exchange after it.
    bucket_bytes: Option<u64>,
    last_exchange: Option<ExchangeReport>,
}

/// How the last data-parallel step exchanged its gradients
/// ([`Trainer::last_exchange`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExchangeReport {
    /// Exchanges of the step (buckets; 1 when exchanged after the pass, 0
    /// for a group of one, which has nothing to exchange).
    pub buckets: usize,
    /// Of those, how many were sent while the backward pass was still
    /// being recorded (the rest, and the loss, after it).
    pub during_backward: usize,
    /// Seconds this worker's thread waited for the means after its backward
    /// pass: the part of the exchange the pass did not hide.
    pub waited_s: f64,
}

/// PyTorch's `DistributedDataParallel` default bucket size.
pub const DEFAULT_BUCKET_BYTES: u64 = 25 << 20;

impl Trainer {
    pub fn new(model: Model, optimizer: Optimizer, loss: Loss) -> Trainer {
        Trainer {
            model,
            optimizer,
            loss,
            hooks: Vec::new(),
            measure_at: None,
            epochs: 0,
            collective: None,
            sync_batch_norm: false,
            bucket_bytes: Some(DEFAULT_BUCKET_BYTES),
            last_exchange: None,
        }
    }

    /// How the last data-parallel step exchanged its gradients (`None`
    /// before the first, or alone).
    pub fn last_exchange(&self) -> Option<ExchangeReport> {
        self.last_exchange
    }

    /// How a data-parallel worker exchanges its gradients. `Some(bytes)`
    /// (the default, [`DEFAULT_BUCKET_BYTES`]): in buckets of about `bytes`,
    /// each averaged on a helper thread as soon as the backward pass has
    /// produced it, while the pass goes on (as PyTorch's
    /// `DistributedDataParallel` does). `None`: in one exchange after the
    /// backward pass. Both give the same bits. A collective whose
    /// transport cannot be used from a helper thread always exchanges after
    /// the pass.
    pub fn bucket_bytes(mut self, bytes: Option<u64>) -> Trainer {
        self.bucket_bytes = bytes;
        self
    }

    /// Synchronised batch norm (PyTorch's `SyncBatchNorm`): with several
    /// workers, training-mode batch norm normalises with the mean and
    /// variance of the whole global batch, and updates its running
    /// statistics with them, instead of each worker's shard's. Costs one
    /// exchange of 2·C + 1 values per batch-norm layer, forward and
    /// backward. Without a collective it changes nothing.
    pub fn sync_batch_norm(mut self, on: bool) -> Trainer {
        self.sync_batch_norm = on;
        self
    }

    /// Makes this trainer one worker of a data-parallel run: rank 0's
    /// parameters and buffers are copied to every worker now, and each step
    /// averages the workers' gradients (and their losses, for the reports)
    /// before the update, so every worker keeps the same weights. Each
    /// worker steps on its own shard of the batch (equal sizes); batch-norm
    /// statistics are per worker unless [`sync_batch_norm`](Self::sync_batch_norm).
    pub fn with_collective(mut self, mut collective: Box<dyn Collective>) -> Result<Trainer> {
        collective.broadcast(self.model.params())?;
        self.collective = Some(collective);
        Ok(self)
    }

    /// This worker's rank and the number of workers (`(0, 1)` alone).
    pub fn worker(&self) -> (usize, usize) {
        self.collective
            .as_ref()
            .map_or((0, 1), |c| (c.rank(), c.size()))
    }

    /// The collective, for exchanges of the caller's own between steps (every
    /// worker must make the same ones).
    pub fn collective_mut(&mut self) -> Option<&mut (dyn Collective + 'static)> {
        self.collective.as_deref_mut()
    }

    /// The collective, if this trainer is a data-parallel worker (to leave
    /// the group, or read the bytes it moved).
    pub fn take_collective(&mut self) -> Option<Box<dyn Collective>> {
        self.collective.take()
    }

    /// Adds a hook run on every batch before its step (in the order added).
    pub fn with_batch_hook(
        mut self,
        hook: impl FnMut(&mut Batch) -> Result<()> + Send + 'static,
    ) -> Trainer {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Measures the device's peak memory around step `epoch_step` of the next
    /// epoch (step 1 skips the first step's one-time pipeline compilations),
    /// reported in [`EpochReport::memory`].
    pub fn measure_memory_at(mut self, epoch_step: usize) -> Trainer {
        self.measure_at = Some(epoch_step);
        self
    }

    /// Epochs completed.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// One training step: the hooks, forward, loss, backward, and the
    /// optimizer's update. The outputs stay on the device.
    pub fn step(&mut self, mut batch: Batch) -> Result<StepOutput> {
        for hook in &mut self.hooks {
            hook(&mut batch)?;
        }
        self.model.train();
        let inputs: Vec<&Tensor> = batch.inputs.iter().collect();
        if let Some(c) = &mut self.collective {
            let objective = match &batch.mixup {
                // Each worker mixes its own shard with its own λ.
                Some(m) => {
                    let label_smoothing = mixup_smoothing(&self.loss)?;
                    Objective::Mixup {
                        targets: &batch.targets,
                        partners: &m.partners,
                        lambda: m.lambda,
                        label_smoothing,
                    }
                }
                None => Objective::Loss {
                    loss: &self.loss,
                    targets: &batch.targets,
                },
            };
            // A group of one has nothing to exchange: the mean of one
            // worker's values is those values, bit for bit.
            let alone = c.size() == 1;
            let overlap = self.bucket_bytes.filter(|_| c.overlaps() && !alone);
            let (grads, loss, exchange) = match overlap {
                #[cfg(not(target_arch = "wasm32"))]
                Some(bytes) => overlapped_backward(
                    &mut self.model,
                    &inputs,
                    objective,
                    c.as_mut(),
                    bytes,
                    self.sync_batch_norm,
                )?,
                _ => {
                    let grads = if self.sync_batch_norm {
                        self.model
                            .backward_synchronised(&inputs, objective, c.as_mut())?
                    } else {
                        self.model.backward(&inputs, objective, false)?
                    };
                    let loss = returned_loss(&grads)?;
                    // The gradients and the loss in one exchange.
                    let mut shared: Vec<Tensor> = grads.params.iter().flatten().cloned().collect();
                    shared.push(loss.clone());
                    let t0 = Instant::now();
                    if !alone {
                        c.all_reduce_mean(&shared)?;
                    }
                    let exchange = ExchangeReport {
                        buckets: usize::from(!alone),
                        during_backward: 0,
                        waited_s: t0.elapsed().as_secs_f64(),
                    };
                    (grads, loss, exchange)
                }
            };
            self.last_exchange = Some(exchange);
            self.optimizer.apply(self.model.params(), &grads.params)?;
            let (seed, steps) = self.model.rng_state();
            self.model.set_rng_state(seed, steps + 1);
            // The loss is the workers' mean; the count of correct answers is
            // this worker's, on its shard (a progress estimate).
            return Ok(StepOutput {
                loss,
                correct: grads.correct,
            });
        }
        match &batch.mixup {
            Some(m) => {
                let label_smoothing = mixup_smoothing(&self.loss)?;
                self.model.train_step_mixup(
                    &inputs,
                    &batch.targets,
                    &m.partners,
                    m.lambda,
                    label_smoothing,
                    &mut self.optimizer,
                )
            }
            None => self
                .model
                .train_step(&inputs, &batch.targets, &self.loss, &mut self.optimizer),
        }
    }

    /// Trains on every batch `batches` yields, calling `on_step` after each
    /// step; stops early when it returns [`ControlFlow::Break`]. A loss that
    /// stops being finite is [`Error::Diverged`]. Blocks while each step's
    /// loss is read back: [`epoch_async`](Self::epoch_async) is the form for
    /// a browser, where nothing may block.
    pub fn epoch(
        &mut self,
        batches: impl IntoIterator<Item = Result<Batch>>,
        on_step: impl FnMut(&StepReport) -> ControlFlow<()>,
    ) -> Result<EpochReport> {
        pollster::block_on(self.epoch_with(batches, on_step, Drive::Here))
    }

    /// [`epoch`](Self::epoch) without blocking: each step's loss is awaited.
    pub async fn epoch_async(
        &mut self,
        batches: impl IntoIterator<Item = Result<Batch>>,
        on_step: impl FnMut(&StepReport) -> ControlFlow<()>,
    ) -> Result<EpochReport> {
        self.epoch_with(batches, on_step, Drive::Elsewhere).await
    }

    /// The one body of [`epoch`](Self::epoch) and
    /// [`epoch_async`](Self::epoch_async): readbacks wait as `drive` says.
    async fn epoch_with(
        &mut self,
        batches: impl IntoIterator<Item = Result<Batch>>,
        mut on_step: impl FnMut(&StepReport) -> ControlFlow<()>,
        drive: Drive,
    ) -> Result<EpochReport> {
        let t0 = Instant::now();
        let device = self.model.device().clone();
        let mut report = EpochReport {
            steps: 0,
            images: 0,
            mean_loss: f64::NAN,
            accuracy: None,
            seconds: 0.0,
            stopped: false,
            memory: None,
        };
        let (mut loss_sum, mut correct, mut counted) = (0.0f64, 0u64, false);
        let measure_at = self.measure_at.take();
        for (i, batch) in batches.into_iter().enumerate() {
            let batch = batch?;
            let n = batch.len();
            let measure = measure_at == Some(i);
            let live_before = if measure {
                device.sync_with(drive).await?;
                device.reset_peak();
                device.pool_stats().live_bytes
            } else {
                0
            };
            let out = self.step(batch)?;
            let loss = device.read_f32_with(&out.loss, drive).await?[0] as f64;
            if measure {
                report.memory = Some(MeasuredStep {
                    live_before,
                    peak: device.pool_stats().peak_live_bytes,
                });
            }
            if !loss.is_finite() {
                return Err(Error::Diverged {
                    what: format!("epoch {}, step {i}", self.epochs + 1),
                    value: loss,
                });
            }
            if let Some(c) = &out.correct {
                correct += device.read_u32_with(c, drive).await?[0] as u64;
                counted = true;
            }
            loss_sum += loss * n as f64;
            report.steps += 1;
            report.images += n;
            report.mean_loss = loss_sum / report.images as f64;
            report.accuracy = counted.then(|| correct as f64 / report.images as f64);
            report.seconds = t0.elapsed().as_secs_f64();
            let step = StepReport {
                epoch_step: i,
                step: self.optimizer.steps(),
                batch: n,
                loss,
                mean_loss: report.mean_loss,
                accuracy: report.accuracy,
                images_per_s: report.images_per_s(),
                lr: self.optimizer.current_lr(),
            };
            if on_step(&step).is_break() {
                report.stopped = true;
                break;
            }
        }
        report.seconds = t0.elapsed().as_secs_f64();
        if !report.stopped {
            self.epochs += 1;
        }
        Ok(report)
    }

    /// Runs the model in evaluation mode over `batches` (class-index targets)
    /// and counts its predictions (the largest output; NaN never wins). The
    /// model is back in training mode afterwards.
    pub fn evaluate(
        &mut self,
        batches: impl IntoIterator<Item = Result<Batch>>,
    ) -> Result<Evaluation> {
        evaluate(&mut self.model, batches)
    }

    /// [`evaluate`](Self::evaluate) without blocking.
    pub async fn evaluate_async(
        &mut self,
        batches: impl IntoIterator<Item = Result<Batch>>,
    ) -> Result<Evaluation> {
        evaluate_async(&mut self.model, batches).await
    }
}

/// The label smoothing of a mixup step's cross-entropy (mixup mixes class
/// targets, so it needs that loss).
fn returned_loss(grads: &Gradients) -> Result<Tensor> {
    grads
        .loss
        .clone()
        .ok_or_else(|| Error::invalid("train", "loss", "the backward pass returned no loss"))
}

/// Backward with the gradient exchange overlapped (see
/// [`Trainer::bucket_bytes`]): a helper thread, lent the collective for the
/// pass, averages each bucket of gradients as it is produced; the loss goes
/// in the last bucket. Returns once every gradient holds the workers' mean.
#[cfg(not(target_arch = "wasm32"))]
fn overlapped_backward(
    model: &mut Model,
    inputs: &[&Tensor],
    objective: Objective<'_>,
    collective: &mut dyn Collective,
    bucket_bytes: u64,
    sync_batch_norm: bool,
) -> Result<(Gradients, Tensor, ExchangeReport)> {
    use crate::collective::overlap::{Buckets, Link, queue, serve};
    let (rank, size) = (collective.rank(), collective.size());
    std::thread::scope(|s| {
        let (jobs, pending, failure) = queue();
        std::thread::Builder::new()
            .name(format!("weft-exchange-{rank}"))
            .spawn_scoped(s, move || serve(collective, pending, failure))
            .map_err(|e| {
                Error::invalid(
                    "data parallel",
                    "exchange",
                    format!("could not start the exchange thread: {e}"),
                )
            })?;
        let mut buckets = Buckets::new(jobs.clone(), bucket_bytes);
        let mut link = Link::new(jobs, rank, size);
        let sync = sync_batch_norm.then_some(&mut link as &mut (dyn Collective + 'static));
        let grads = model.backward_overlapped(inputs, objective, &mut buckets, sync)?;
        let during_backward = buckets.sent();
        let loss = returned_loss(&grads)?;
        buckets.add(loss.clone())?;
        let (count, waited_s) = buckets.finish()?;
        let report = ExchangeReport {
            buckets: count,
            during_backward,
            waited_s,
        };
        Ok((grads, loss, report))
        // The queue's senders drop here; the helper ends and the scope
        // joins it.
    })
}

fn mixup_smoothing(loss: &Loss) -> Result<f32> {
    match *loss {
        Loss::CrossEntropy { label_smoothing } => Ok(label_smoothing),
        other => Err(Error::invalid(
            "train",
            "mixup",
            format!("mixup needs a cross-entropy loss, the trainer has {other:?}"),
        )),
    }
}

/// [`Trainer::evaluate`] for a model on its own.
pub fn evaluate(
    model: &mut Model,
    batches: impl IntoIterator<Item = Result<Batch>>,
) -> Result<Evaluation> {
    pollster::block_on(evaluate_with(model, batches, Drive::Here))
}

/// [`evaluate`] without blocking.
pub async fn evaluate_async(
    model: &mut Model,
    batches: impl IntoIterator<Item = Result<Batch>>,
) -> Result<Evaluation> {
    evaluate_with(model, batches, Drive::Elsewhere).await
}

/// The one body of [`evaluate`] and [`evaluate_async`].
async fn evaluate_with(
    model: &mut Model,
    batches: impl IntoIterator<Item = Result<Batch>>,
    drive: Drive,
) -> Result<Evaluation> {
    let t0 = Instant::now();
    model.eval();
    let device = model.device().clone();
    let result = async {
        let mut confusion: Vec<Vec<u64>> = Vec::new();
        let mut images = 0;
        for batch in batches {
            let batch = batch?;
            let inputs: Vec<&Tensor> = batch.inputs.iter().collect();
            let out = model.forward(&inputs)?;
            let logits = device.read_f32_with(&out[0], drive).await?;
            let labels = device.read_i32_with(&batch.targets, drive).await?;
            if labels.is_empty() {
                continue;
            }
            let classes = logits.len() / labels.len();
            if confusion.is_empty() {
                confusion = vec![vec![0; classes]; classes];
            }
            for (row, &label) in logits.chunks(classes).zip(&labels) {
                let Some(truth) = usize::try_from(label).ok().filter(|&l| l < classes) else {
                    return Err(Error::invalid(
                        "evaluate",
                        "targets",
                        format!("class {label} is outside the network's {classes} outputs"),
                    ));
                };
                confusion[truth][argmax(row)] += 1;
            }
            images += labels.len();
        }
        Ok(Evaluation {
            confusion,
            images,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }
    .await;
    model.train();
    result
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best
}
