//! `weft train`: trains a network on MNIST with live progress, test accuracy
//! after every epoch, an atomic checkpoint after every epoch, a memory report
//! and a chart of the training curves. The loop itself is the library's
//! [`Trainer`]; this file is flags and printing.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;
use weft::data::{Augment, Loader};
use weft::graph::memory::human;
use weft::graph::{
    Evaluation, Loss, LrSchedule, Model, Optimizer, OptimizerKind, Trainer, checkpoint,
};
use weft::{DType, Device};

use crate::Global;
use crate::chart::{self, EpochPoint};
use crate::models::ModelName;

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Network to train (MNIST digits: lenet5).
    #[arg(long, value_enum, default_value_t = ModelName::LENET5)]
    pub model: ModelName,
    /// Directory with the MNIST files (default: WEFT_DATA, the cache, a download,
    /// or the embedded subset).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Never download; use the embedded subset when no data is found.
    #[arg(long)]
    pub no_download: bool,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[command(flatten)]
    pub optim: OptimizerArgs,
    /// Learning-rate schedule (step: ×0.1 every third of the epochs).
    #[arg(long, value_enum, default_value_t = ScheduleName::Cosine)]
    pub schedule: ScheduleName,
    /// Store activations and gradients as f16 (half the memory and bandwidth).
    #[arg(long)]
    pub fp16: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the checkpoint (the training curves go beside it).
    #[arg(long, default_value = "lenet5.safetensors")]
    pub out: PathBuf,
    #[command(flatten)]
    pub augment: AugmentArgs,
    /// Mixup with Beta(α, α) blending weights (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub mixup: f32,
    /// Label smoothing of the cross-entropy loss.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// Stop after this many training images per epoch (for quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Continue a run from its checkpoint (weights, optimizer state, epochs
    /// done) up to `--epochs`, with the same flags: the result is the
    /// uninterrupted run's, bit for bit.
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// End this run after so many epochs, keeping the learning-rate schedule
    /// of `--epochs` (for time-limited jobs: go on later with `--resume`).
    #[arg(long, value_name = "EPOCHS")]
    pub stop_after: Option<usize>,
    /// Data-parallel workers, one device each on the chosen adapter: each
    /// steps on `--batch / N` samples of every batch and the gradients are
    /// averaged, which gives the single-device run's weights.
    /// `all`: one worker per GPU of the kind weft picks first (e.g. every
    /// discrete GPU); a number spreads that many workers over those GPUs.
    #[arg(long, default_value = "1", value_name = "N|all", value_parser = parse_devices)]
    pub devices: Devices,
    /// Run as one worker of a multi-process job: `mpi` under `mpirun`
    /// (builds with the `mpi` feature; see docs/DISTRIBUTED.md).
    #[arg(long, value_enum, value_name = "TRANSPORT")]
    pub distributed: Option<Transport>,
    /// With several workers: exchange gradients in buckets of about this
    /// many MiB, each as soon as the backward pass has produced it, while
    /// the pass goes on; 0 exchanges them all after the pass. Same weights
    /// either way.
    #[arg(long, default_value_t = 25.0, value_name = "MIB", value_parser = parse_bucket_mib)]
    pub bucket_mib: f64,
}

/// `--bucket-mib`.
fn parse_bucket_mib(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("expected a size in MiB (0 or more), got \"{s}\""))
}

impl TrainArgs {
    /// `--bucket-mib` for [`Trainer::bucket_bytes`](weft::graph::Trainer::bucket_bytes).
    pub fn bucket_bytes(&self) -> Option<u64> {
        (self.bucket_mib > 0.0).then(|| ((self.bucket_mib * 1048576.0) as u64).max(1))
    }
}

/// `--devices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    Count(usize),
    All,
}

fn parse_devices(s: &str) -> Result<Devices, String> {
    if s.trim() == "all" {
        return Ok(Devices::All);
    }
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n >= 1)
        .map(Devices::Count)
        .ok_or_else(|| format!("expected a number of devices (1 or more) or all, got \"{s}\""))
}

/// `--distributed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Mpi,
}

/// The optimizer's flags (`weft train`, `weft finetune`).
#[derive(Args, Debug, Clone)]
pub struct OptimizerArgs {
    /// Learning rate (default: 0.001 for adam/adamw, 0.05 for sgd).
    #[arg(long)]
    pub lr: Option<f32>,
    /// The update rule (sgd: momentum 0.9).
    #[arg(long, value_enum, default_value_t = OptimizerName::Adam)]
    pub optimizer: OptimizerName,
    /// Weight decay (L2 for sgd/adam, decoupled for adamw).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
}

impl OptimizerArgs {
    pub fn kind(&self) -> OptimizerKind {
        self.optimizer.kind(self.lr, self.weight_decay)
    }
}

/// GPU augmentation flags (`weft train`, `weft finetune`).
#[derive(Args, Debug, Clone)]
pub struct AugmentArgs {
    /// Random shift in pixels (augmentation).
    #[arg(long, default_value_t = 0.0)]
    pub shift: f32,
    /// Random rotation in degrees.
    #[arg(long, default_value_t = 0.0)]
    pub rotate: f32,
    /// Random zoom (0.1 = ±10%).
    #[arg(long, default_value_t = 0.0)]
    pub zoom: f32,
    /// Random shear in degrees.
    #[arg(long, default_value_t = 0.0)]
    pub shear: f32,
    /// Random horizontal flips.
    #[arg(long)]
    pub hflip: bool,
}

impl AugmentArgs {
    /// The augmentation, with mixup's α, each amount checked (`--rotate`,
    /// `--zoom`, ... name the field at fault).
    pub fn augment(&self, mixup: f32) -> weft::Result<Augment> {
        let augment = Augment {
            shift: self.shift,
            rotate: self.rotate,
            zoom: self.zoom,
            shear: self.shear,
            hflip: self.hflip,
            mixup,
        };
        augment.check()?;
        Ok(augment)
    }
}

/// `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerName {
    Sgd,
    Adam,
    Adamw,
}

impl OptimizerName {
    /// The update rule at `lr` (default: 0.001 for adam/adamw, 0.05 for sgd
    /// with momentum 0.9) with `weight_decay`.
    pub fn kind(self, lr: Option<f32>, weight_decay: f32) -> OptimizerKind {
        match self {
            OptimizerName::Sgd => OptimizerKind::sgd(lr.unwrap_or(0.05), 0.9, weight_decay),
            OptimizerName::Adam => {
                let mut k = OptimizerKind::adam(lr.unwrap_or(1e-3));
                if let OptimizerKind::Adam(c) = &mut k {
                    c.weight_decay = weight_decay;
                }
                k
            }
            OptimizerName::Adamw => OptimizerKind::adamw(lr.unwrap_or(1e-3), weight_decay),
        }
    }
}

/// A flag that Ctrl-C sets (a second Ctrl-C exits at once): the training
/// loops finish their step and keep the last checkpoint.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the current step; the last checkpoint stays as it was");
    });
    stop
}

/// The progress bar of one epoch of `steps` steps.
pub fn epoch_bar(epoch: usize, epochs: usize, steps: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix:>3} {bar:30} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .expect("valid template"),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// Advances `bar` after a step; `Break` once Ctrl-C set `stop`.
pub fn on_step(
    bar: &indicatif::ProgressBar,
    stop: &AtomicBool,
    s: &weft::graph::StepReport,
) -> ControlFlow<()> {
    bar.set_message(format!(
        "loss {:.4} acc {:.2}% {:.0} img/s lr {:.2e}",
        s.mean_loss,
        100.0 * s.accuracy.unwrap_or(0.0),
        s.images_per_s,
        s.lr
    ));
    bar.inc(1);
    if stop.load(Ordering::SeqCst) {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}

/// `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleName {
    Cosine,
    Step,
    Constant,
}

/// The run's first line: network, data, adapter (and `workers`, a note on
/// data-parallel workers).
pub fn banner(
    args: &TrainArgs,
    mnist: &weft::data::Mnist,
    device: &Device,
    workers: &str,
) -> String {
    format!(
        "weft train: {} on {} ({} training / {} test images), {workers}adapter {} ({})",
        args.model.name(),
        mnist.source,
        mnist.train.count,
        mnist.test.count,
        device.caps().adapter.name,
        device.caps().adapter.backend
    )
}

/// The learning-rate schedule of `args` over `steps_per_epoch`.
pub fn schedule(args: &TrainArgs, steps_per_epoch: usize) -> LrSchedule {
    match args.schedule {
        ScheduleName::Cosine => LrSchedule::Cosine {
            total_steps: steps_per_epoch * args.epochs,
            eta_min: 0.0,
        },
        ScheduleName::Step => LrSchedule::Step {
            step_size: (args.epochs / 3).max(1),
            gamma: 0.1,
            steps_per_epoch,
        },
        ScheduleName::Constant => LrSchedule::Constant,
    }
}

/// The checkpoint metadata after `epoch`.
pub fn metadata(
    args: &TrainArgs,
    epoch: usize,
    test_accuracy: f64,
    dtype: DType,
    points: &[EpochPoint],
) -> Vec<(&'static str, String)> {
    vec![
        ("weft.model", args.model.name().to_string()),
        ("weft.epochs", epoch.to_string()),
        ("weft.test_accuracy", format!("{test_accuracy:.6}")),
        ("weft.dtype", dtype.to_string()),
        ("weft.curve", EpochPoint::to_metadata(points)),
    ]
}

pub fn run(global: &Global, args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::setup::check_output_file(&args.out, "--out")?;
    crate::setup::check_output_file(&chart_path(&args.out), "--out (its loss chart)")?;
    if args.limit == Some(0) {
        return Err("--limit 0: give at least one image per epoch".into());
    }
    if args.distributed == Some(Transport::Mpi) {
        return crate::parallel::run_mpi(global, args);
    }
    if args.devices != Devices::Count(1) {
        return crate::parallel::run(global, args);
    }
    let start = Instant::now();
    if args.model != ModelName::LENET5 {
        return Err(format!(
            "training is available for lenet5 (MNIST); got --model {}",
            args.model.name()
        )
        .into());
    }
    let device = Device::new(global.device_options()?)?;
    let mnist = crate::setup::mnist(args.data.as_deref(), !args.no_download)?;
    let log = |s: String| eprintln!("{s}");
    log(banner(args, &mnist, &device, ""));
    crate::setup::check_fp16(&device, args.fp16)?;
    let dtype = if args.fp16 { DType::F16 } else { DType::F32 };
    let mut model = Model::new(&device, args.model.build()?, args.seed)?;
    model.set_options(crate::setup::exec_options(dtype))?;

    let mut train = Loader::new(&device, &mnist.train, args.batch, true, args.seed, dtype)?;
    train.augment = args.augment.augment(args.mixup)?;
    if train.batches() == 0 {
        return Err(
            weft::Error::invalid("train", "data", "the training set holds no images").into(),
        );
    }
    let mut test = Loader::new(&device, &mnist.test, 256.max(args.batch), false, 0, dtype)?;
    let steps_per_epoch = match args.limit {
        Some(l) => (l / args.batch).clamp(1, train.batches()),
        None => train.batches(),
    };
    let kind = args.optim.kind();
    let mut optimizer = Optimizer::new(
        &device,
        model.graph(),
        kind,
        schedule(args, steps_per_epoch),
    )?;
    let (done, mut points) = match &args.resume {
        Some(path) => resume(path, args, dtype, &mut model, &mut optimizer)?,
        None => (0, Vec::new()),
    };
    train.set_epoch(done as u64);
    let loss = Loss::CrossEntropy {
        label_smoothing: args.label_smoothing,
    };
    let plan_loss = if args.mixup > 0.0 {
        Loss::MixupCrossEntropy {
            label_smoothing: args.label_smoothing,
            lambda: 0.5,
        }
    } else {
        loss
    };
    let planned = model.plan_memory(args.batch, Some(plan_loss), optimizer.state_bytes())?;
    // Step 1 of the first epoch: after the first step's pipeline compilations.
    let mut trainer = Trainer::new(model, optimizer, loss).measure_memory_at(1);

    let stop = stop_on_ctrl_c();

    let mut measured = None;
    let (mut train_images, mut train_seconds, mut final_loss) = (0usize, 0.0f64, f64::NAN);
    let mut last_eval: Option<Evaluation> = None;
    let mut interrupted = false;
    if done > 0 {
        log(format!(
            "resuming after epoch {done} of {} (step {})",
            args.epochs,
            trainer.optimizer.steps()
        ));
    }
    for epoch in done + 1..=args.epochs {
        let bar = epoch_bar(epoch, args.epochs, steps_per_epoch);
        let report = trainer.epoch(train.epoch(Some(steps_per_epoch)), |s| {
            on_step(&bar, &stop, s)
        });
        bar.finish_and_clear();
        let report = report?;
        measured = measured.or(report.memory);
        interrupted = report.stopped;
        if report.steps == 0 {
            break;
        }
        train_images += report.images;
        train_seconds += report.seconds;
        final_loss = report.mean_loss;
        let eval = trainer.evaluate(test.epoch(None))?;
        let point = EpochPoint {
            epoch,
            train_loss: report.mean_loss,
            train_accuracy: report.accuracy.unwrap_or(0.0),
            test_accuracy: eval.accuracy(),
        };
        log(format!(
            "epoch {epoch:>3}/{}: loss {:.4}  train acc {:.2}%  test acc {:.2}%  {:.0} img/s  ({:.1} s)",
            args.epochs,
            point.train_loss,
            100.0 * point.train_accuracy,
            100.0 * point.test_accuracy,
            report.images_per_s(),
            report.seconds
        ));
        points.push(point);
        if interrupted {
            break;
        }
        let meta = metadata(args, epoch, eval.accuracy(), dtype, &points);
        checkpoint::save(&args.out, &trainer.model, Some(&trainer.optimizer), &meta)?;
        write_chart(&args.out, args.model.name(), &points)?;
        last_eval = Some(eval);
        if args.stop_after.is_some_and(|n| epoch - done >= n) && epoch < args.epochs {
            log(format!(
                "stopped after {} epoch(s) as asked; continue with `weft train --resume {}` and the same flags",
                epoch - done,
                args.out.display()
            ));
            break;
        }
    }
    if interrupted {
        log(format!(
            "stopped early; {}",
            if args.out.exists() {
                format!(
                    "{0} holds the last completed epoch (continue with `weft train --resume {0}` and the same flags)",
                    args.out.display()
                )
            } else {
                "no epoch completed, no checkpoint written".into()
            }
        ));
    }
    let eval = match last_eval {
        Some(e) => e,
        None => trainer.evaluate(test.epoch(None))?,
    };
    let report = match measured {
        Some(m) => planned.with_measurement(m.live_before, m.peak),
        None => planned,
    };
    log(format!("{report}"));
    let epochs_done = points.last().map_or(done, |p| p.epoch);
    log(format!(
        "test accuracy {:.2}% after {} epoch(s); checkpoint {}; curves {}",
        100.0 * eval.accuracy(),
        epochs_done,
        args.out.display(),
        chart_path(&args.out).display()
    ));
    let train_ips = train_images as f64 / train_seconds.max(1e-9);
    if global.json {
        let out = json!({
            "command": "train",
            "model": args.model.name(),
            "data": mnist.source.to_string(),
            "adapter": device.caps().adapter.name,
            "dtype": dtype.to_string(),
            "epochs": epochs_done,
            "batch": args.batch,
            "test_accuracy": eval.accuracy(),
            "final_loss": final_loss,
            "train_images_per_s": train_ips,
            "inference_images_per_s": eval.images_per_s(),
            "planned_peak_bytes": report.planned_peak,
            "measured_peak_bytes": report.measured_peak,
            "keep_everything_peak_bytes": report.keep_everything_peak,
            "weights_bytes": report.weights_bytes,
            "seconds": start.elapsed().as_secs_f64(),
            "interrupted": interrupted,
            "checkpoint": args.out.display().to_string(),
            "curve": points.iter().map(|p| json!({
                "epoch": p.epoch, "train_loss": p.train_loss,
                "train_accuracy": p.train_accuracy, "test_accuracy": p.test_accuracy,
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
    } else {
        log(format!(
            "training {:.0} img/s, inference {:.0} img/s, peak memory {} planned / {} measured, {:.1} s",
            train_ips,
            eval.images_per_s(),
            human(report.planned_peak),
            report.measured_peak.map_or("-".into(), human),
            start.elapsed().as_secs_f64()
        ));
    }
    if interrupted {
        std::process::exit(130);
    }
    Ok(())
}

/// Loads `--resume`'s checkpoint into the model and optimizer and returns
/// the epochs it had completed with their curve.
pub fn resume(
    path: &Path,
    args: &TrainArgs,
    dtype: DType,
    model: &mut Model,
    optimizer: &mut Optimizer,
) -> Result<(usize, Vec<EpochPoint>), Box<dyn std::error::Error>> {
    let loaded = checkpoint::load(path, model, Some(optimizer))?;
    let meta = |k: &str| loaded.metadata.get(k).map(String::as_str);
    let done: usize = meta("weft.epochs")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| {
            format!(
                "{}: no epoch count (weft.epochs) in its metadata; --resume takes a checkpoint written by `weft train`",
                path.display()
            )
        })?;
    if let Some(d) = meta("weft.dtype")
        && d != dtype.to_string()
    {
        return Err(format!(
            "{}: written by a {d} run; resume it with the same flags ({})",
            path.display(),
            if d == "f16" {
                "add --fp16"
            } else {
                "drop --fp16"
            }
        )
        .into());
    }
    if done >= args.epochs {
        return Err(format!(
            "{}: already trained for {done} epoch(s); ask for more with --epochs",
            path.display()
        )
        .into());
    }
    let mut points = EpochPoint::from_metadata(meta("weft.curve"));
    points.retain(|p| p.epoch <= done);
    Ok((done, points))
}

pub fn chart_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}.curves.svg"))
}

pub fn write_chart(
    out: &Path,
    model: &str,
    points: &[EpochPoint],
) -> Result<(), Box<dyn std::error::Error>> {
    let svg = chart::svg(&format!("weft: {model} on MNIST"), points);
    weft::graph::checkpoint::write_atomic(&chart_path(out), svg.as_bytes())?;
    Ok(())
}
