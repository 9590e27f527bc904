//! `weft train`: trains a network on MNIST with live progress, test accuracy
//! after every epoch, an atomic checkpoint after every epoch, a memory report
//! and a chart of the training curves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::Args;
use serde_json::json;
use weft::data::{Augment, Loader, Mnist};
use weft::graph::memory::human;
use weft::graph::{ExecOptions, Loss, LrSchedule, Model, Optimizer, OptimizerKind, checkpoint};
use weft::{DType, Device};

use crate::Global;
use crate::chart::{self, EpochPoint};
use crate::evaluate::{self, Evaluation};

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Network to train (lenet5).
    #[arg(long, default_value = "lenet5")]
    pub model: String,
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
    /// Learning rate (default: 0.001 for adam/adamw, 0.05 for sgd).
    #[arg(long)]
    pub lr: Option<f32>,
    /// sgd (momentum 0.9), adam or adamw.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Weight decay (L2 for sgd/adam, decoupled for adamw).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Learning-rate schedule: cosine, step or constant.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Store activations and gradients as f16 (half the memory and bandwidth).
    #[arg(long)]
    pub fp16: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the checkpoint (the training curves go beside it).
    #[arg(long, default_value = "lenet5.safetensors")]
    pub out: PathBuf,
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
    /// Mixup with Beta(α, α) blending weights (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub mixup: f32,
    /// Label smoothing of the cross-entropy loss.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// Stop after this many training images per epoch (for quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
}

pub fn run(global: &Global, args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    if args.model != "lenet5" {
        return Err(format!(
            "training is available for lenet5 (MNIST); got --model {}",
            args.model
        )
        .into());
    }
    let device = Device::new(global.device_options()?)?;
    let mnist = Mnist::locate(args.data.as_deref(), !args.no_download)?;
    let log = |s: String| eprintln!("{s}");
    log(format!(
        "weft train: {} on {} ({} training / {} test images), adapter {} ({})",
        args.model,
        mnist.source,
        mnist.train.count,
        mnist.test.count,
        device.caps().adapter.name,
        device.caps().adapter.backend
    ));
    let dtype = if args.fp16 { DType::F16 } else { DType::F32 };
    let graph = crate::models::build(&args.model)?;
    let mut model = Model::new(&device, graph, args.seed)?;
    model.set_options(ExecOptions {
        dtype,
        ..ExecOptions::default()
    })?;

    let mut train = Loader::new(&device, &mnist.train, args.batch, true, args.seed, dtype)?;
    train.augment = Augment {
        shift: args.shift,
        rotate: args.rotate,
        zoom: args.zoom,
        shear: args.shear,
        hflip: args.hflip,
        mixup: args.mixup,
    };
    let mut test = Loader::new(&device, &mnist.test, 256.max(args.batch), false, 0, dtype)?;
    let steps_per_epoch = match args.limit {
        Some(l) => (l / args.batch).clamp(1, train.batches()),
        None => train.batches(),
    };
    let total_steps = steps_per_epoch * args.epochs;
    let kind = match args.optimizer.as_str() {
        "sgd" => OptimizerKind::sgd(args.lr.unwrap_or(0.05), 0.9, args.weight_decay),
        "adam" => {
            let mut k = OptimizerKind::adam(args.lr.unwrap_or(1e-3));
            if let OptimizerKind::Adam(c) = &mut k {
                c.weight_decay = args.weight_decay;
            }
            k
        }
        "adamw" => OptimizerKind::adamw(args.lr.unwrap_or(1e-3), args.weight_decay),
        other => return Err(format!("unknown optimizer \"{other}\" (sgd, adam, adamw)").into()),
    };
    let schedule = match args.schedule.as_str() {
        "cosine" => LrSchedule::Cosine {
            total_steps,
            eta_min: 0.0,
        },
        "step" => LrSchedule::Step {
            step_size: (args.epochs / 3).max(1),
            gamma: 0.1,
            steps_per_epoch,
        },
        "constant" => LrSchedule::Constant,
        other => {
            return Err(format!("unknown schedule \"{other}\" (cosine, step, constant)").into());
        }
    };
    let mut optimizer = Optimizer::new(&device, model.graph(), kind, schedule)?;
    let loss = Loss::CrossEntropy {
        label_smoothing: args.label_smoothing,
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted: finishing the current step; the last checkpoint stays as it was"
            );
        });
    }

    let plan_loss = if args.mixup > 0.0 {
        Loss::MixupCrossEntropy {
            label_smoothing: args.label_smoothing,
            lambda: 0.5,
        }
    } else {
        loss
    };
    let planned = model.plan_memory(args.batch, Some(plan_loss), optimizer.state_bytes())?;
    let mut measured: Option<(u64, u64)> = None;
    let mut points = Vec::new();
    let mut train_images = 0usize;
    let mut train_seconds = 0.0f64;
    let mut final_loss = f64::NAN;
    let mut last_eval: Option<Evaluation> = None;
    let mut interrupted = false;
    for epoch in 1..=args.epochs {
        model.train();
        let order = train.epoch_order();
        let chunks: Vec<Vec<u32>> = train
            .chunks(&order)
            .into_iter()
            .take(steps_per_epoch)
            .collect();
        let bar = indicatif::ProgressBar::new(chunks.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "epoch {prefix:>3} {bar:30} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .expect("valid template"),
        );
        bar.set_prefix(format!("{epoch}/{}", args.epochs));
        let t0 = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0u64, 0usize);
        for (step, chunk) in chunks.iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
            let batch = train.batch(chunk)?;
            let measure = epoch == 1 && step == 1;
            let live_at_start = if measure {
                device.sync()?;
                device.reset_peak();
                device.pool_stats().live_bytes
            } else {
                0
            };
            let out = match &batch.mixup {
                Some((partners, lambda)) => model.train_step_mixup(
                    &[&batch.images],
                    &batch.targets,
                    partners,
                    *lambda,
                    args.label_smoothing,
                    &mut optimizer,
                )?,
                None => {
                    model.train_step(&[&batch.images], &batch.targets, &loss, &mut optimizer)?
                }
            };
            let l = out.loss.to_f32_vec()?[0] as f64;
            if measure {
                measured = Some((live_at_start, device.pool_stats().peak_live_bytes));
            }
            if !l.is_finite() {
                bar.abandon();
                return Err(format!(
                    "the loss became {l} at epoch {epoch}, step {step}; lower --lr"
                )
                .into());
            }
            let c = match &out.correct {
                Some(t) => t.to_u32_vec()?[0] as u64,
                None => 0,
            };
            loss_sum += l * chunk.len() as f64;
            correct += c;
            seen += chunk.len();
            let secs = t0.elapsed().as_secs_f64();
            bar.set_message(format!(
                "loss {:.4} acc {:.2}% {:.0} img/s lr {:.2e}",
                loss_sum / seen as f64,
                100.0 * correct as f64 / seen as f64,
                seen as f64 / secs.max(1e-9),
                optimizer.current_lr()
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        if seen == 0 {
            break;
        }
        let secs = t0.elapsed().as_secs_f64();
        train_images += seen;
        train_seconds += secs;
        final_loss = loss_sum / seen as f64;
        let eval = evaluate::evaluate(&mut model, &mut test)?;
        let point = EpochPoint {
            epoch,
            train_loss: final_loss,
            train_accuracy: correct as f64 / seen as f64,
            test_accuracy: eval.accuracy(),
        };
        log(format!(
            "epoch {epoch:>3}/{}: loss {:.4}  train acc {:.2}%  test acc {:.2}%  {:.0} img/s  ({:.1} s)",
            args.epochs,
            point.train_loss,
            100.0 * point.train_accuracy,
            100.0 * point.test_accuracy,
            seen as f64 / secs,
            secs
        ));
        points.push(point);
        if interrupted {
            break;
        }
        let meta = [
            ("weft.model", args.model.clone()),
            ("weft.epochs", epoch.to_string()),
            ("weft.test_accuracy", format!("{:.6}", eval.accuracy())),
            ("weft.dtype", dtype.to_string()),
        ];
        checkpoint::save(&args.out, &model, Some(&optimizer), &meta)?;
        write_chart(&args.out, &args.model, &points)?;
        last_eval = Some(eval);
    }
    if interrupted {
        log(format!(
            "stopped early; {} holds the last completed epoch",
            if args.out.exists() {
                args.out.display().to_string()
            } else {
                "no checkpoint".into()
            }
        ));
    }
    let eval = match last_eval {
        Some(e) => e,
        None => evaluate::evaluate(&mut model, &mut test)?,
    };
    let report = match measured {
        Some((live, peak)) => planned.with_measurement(live, peak),
        None => planned,
    };
    log(format!("{report}"));
    log(format!(
        "test accuracy {:.2}% after {} epoch(s); checkpoint {}; curves {}",
        100.0 * eval.accuracy(),
        points.len(),
        args.out.display(),
        chart_path(&args.out).display()
    ));
    let train_ips = train_images as f64 / train_seconds.max(1e-9);
    if global.json {
        let out = json!({
            "command": "train",
            "model": args.model,
            "data": mnist.source.to_string(),
            "adapter": device.caps().adapter.name,
            "dtype": dtype.to_string(),
            "epochs": points.len(),
            "batch": args.batch,
            "test_accuracy": eval.accuracy(),
            "final_loss": final_loss,
            "train_images_per_s": train_ips,
            "inference_images_per_s": eval.images_per_s,
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
            eval.images_per_s,
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

fn chart_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}.curves.svg"))
}

fn write_chart(
    out: &Path,
    model: &str,
    points: &[EpochPoint],
) -> Result<(), Box<dyn std::error::Error>> {
    let svg = chart::svg(&format!("weft: {model} on MNIST"), points);
    weft::graph::checkpoint::write_atomic(&chart_path(out), svg.as_bytes())?;
    Ok(())
}
