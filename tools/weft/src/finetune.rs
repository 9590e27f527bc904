//! `weft finetune`: transfer learning on an image folder. A network of the zoo
//! takes pretrained weights (a torchvision-style `state_dict` as safetensors),
//! gets a new classifier head when the number of classes differs, freezes
//! what `--freeze` names (frozen batch norms keep their statistics), trains
//! the rest with optional per-group learning-rate scales, reports validation
//! accuracy before and after every epoch, and saves an atomic checkpoint that
//! `weft eval`-style loaders rebuild from its metadata.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use weft::data::{FolderOptions, IMAGENET_MEAN, IMAGENET_STD, ImageFolder, Loader};
use weft::graph::memory::human;
use weft::graph::{
    Evaluation, Loss, LrSchedule, Model, NamePatterns, Optimizer, Trainer, checkpoint,
};
use weft::{DType, Device};

use crate::Global;
use crate::models::ModelName;
use crate::train::{AugmentArgs, OptimizerArgs, epoch_bar, on_step, stop_on_ctrl_c};

#[derive(Args, Debug, Clone)]
pub struct FinetuneArgs {
    /// Network of the zoo to fine-tune.
    #[arg(long, value_enum, default_value = "resnet18")]
    pub model: ModelName,
    /// Pretrained weights: a safetensors `state_dict` with the network's
    /// parameter names (torchvision's). Without it the network starts from
    /// its default initialisation.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Image folder: one sub-folder of PNG/JPEG images per class (or `train/`
    /// and `val/` folders laid out so).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Classes of the new head (default: the folder's); when it differs from
    /// the weights' head, the head is re-initialised.
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// Image side after resizing and centre-cropping (default: the network's usual size).
    #[arg(long)]
    pub size: Option<usize>,
    /// Parameters to freeze, as comma-separated patterns (`conv1.*,bn1.*,layer1.*`).
    #[arg(long, value_name = "PATTERNS")]
    pub freeze: Option<String>,
    /// Train only the classifier head (freeze everything else).
    #[arg(long, conflicts_with = "freeze")]
    pub head_only: bool,
    /// Learning-rate scale for a parameter group, `PATTERNS=SCALE` (repeatable;
    /// later ones win where they overlap), e.g. `--lr-scale 'layer1.*,layer2.*=0.1'`.
    #[arg(long, value_name = "PATTERNS=SCALE")]
    pub lr_scale: Vec<String>,
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[command(flatten)]
    pub optim: OptimizerArgs,
    /// Share of each class held out for validation (without `train/`/`val/`).
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f32,
    #[command(flatten)]
    pub augment: AugmentArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the fine-tuned checkpoint.
    #[arg(long, default_value = "finetuned.safetensors")]
    pub out: PathBuf,
}

/// Per-channel mean and standard deviation of `v/255` for a network with
/// `channels` inputs: ImageNet's for RGB (what torchvision's pretrained
/// weights expect), 0.5 for grey.
pub fn normalization(channels: usize) -> (&'static [f32], &'static [f32]) {
    if channels == 3 {
        (&IMAGENET_MEAN, &IMAGENET_STD)
    } else {
        (&[0.5], &[0.5])
    }
}

/// `--lr-scale PATTERNS=SCALE`.
fn parse_lr_scale(arg: &str) -> weft::Result<(NamePatterns, f32)> {
    let bad = || {
        weft::Error::invalid(
            "finetune",
            "lr-scale",
            format!("expected PATTERNS=SCALE (e.g. 'layer1.*=0.1'), got \"{arg}\""),
        )
    };
    let (patterns, scale) = arg.rsplit_once('=').ok_or_else(bad)?;
    let scale: f32 = scale.trim().parse().map_err(|_| bad())?;
    Ok((NamePatterns::parse(patterns)?, scale))
}

pub fn run(global: &Global, args: &FinetuneArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::setup::check_output_file(&args.out, "--out")?;
    let start = Instant::now();
    let log = |s: String| eprintln!("{s}");
    let entry = args.model.entry();
    let size = args.size.unwrap_or(entry.size);
    // Beyond these, the images or the head could not be held by any device.
    if !(8..=4096).contains(&size) {
        return Err(format!("--size {size}: expected 8 to 4096 pixels").into());
    }
    if args
        .num_classes
        .is_some_and(|c| !(1..=1_000_000).contains(&c))
    {
        return Err(format!(
            "--num-classes {}: expected 1 to 1000000",
            args.num_classes.unwrap_or(0)
        )
        .into());
    }
    let lr_scales = args
        .lr_scale
        .iter()
        .map(|a| parse_lr_scale(a))
        .collect::<weft::Result<Vec<_>>>()?;
    let folder = ImageFolder::load(
        &args.data,
        &FolderOptions {
            size,
            channels: entry.in_channels,
            val_fraction: args.val_fraction,
        },
    )?;
    let classes = args.num_classes.unwrap_or(folder.classes.len());
    if classes < folder.classes.len() {
        return Err(format!(
            "--num-classes {classes} is fewer than the {} class folders in {}",
            folder.classes.len(),
            args.data.display()
        )
        .into());
    }
    if folder.train.count == 0 || folder.val.count == 0 {
        return Err(format!(
            "{} gives {} training and {} validation images; both splits need images (add images or change --val-fraction)",
            args.data.display(),
            folder.train.count,
            folder.val.count
        )
        .into());
    }
    let device = Device::new(global.device_options()?)?;
    log(format!(
        "weft finetune: {} on {} ({} classes: {} training / {} validation images, {size}×{size}), adapter {} ({})",
        entry.name,
        args.data.display(),
        folder.classes.len(),
        folder.train.count,
        folder.val.count,
        device.caps().adapter.name,
        device.caps().adapter.backend
    ));

    let mut graph = entry.build(classes, size)?;
    // The classifier head: the parameters of the output layer.
    let head: Vec<String> = graph
        .node(graph.outputs()[0])
        .params
        .iter()
        .map(|&p| graph.param(p).name.clone())
        .collect();
    let freeze = if args.head_only {
        let backbone: Vec<String> = graph
            .params()
            .iter()
            .filter(|p| !head.contains(&p.name))
            .map(|p| p.name.clone())
            .collect();
        Some(NamePatterns::new(&backbone)?)
    } else {
        args.freeze
            .as_deref()
            .map(NamePatterns::parse)
            .transpose()?
    };
    let frozen = match &freeze {
        Some(p) => graph.freeze(p)?,
        None => Vec::new(),
    };
    let mut model = Model::new(&device, graph, args.seed)?;
    let dtype = DType::F32;
    model.set_options(crate::setup::exec_options(dtype))?;
    let mut new_head = false;
    if let Some(weights) = &args.weights {
        // A head of another size is skipped (kept as initialised); a head of
        // the same size loads like every other parameter.
        let bytes = std::fs::read(weights).map_err(|e| weft::Error::io(weights, e))?;
        let head_fits = head_matches(&bytes, &model, &head);
        let options = checkpoint::LoadOptions {
            strict: true,
            skip: if head_fits {
                NamePatterns::default()
            } else {
                NamePatterns::new(&head)?
            },
        };
        let loaded = checkpoint::load_bytes(&bytes, weights, &mut model, None, &options)?;
        new_head = !loaded.skipped.is_empty();
        log(format!(
            "loaded {}{}",
            weights.display(),
            if new_head {
                format!("; new {classes}-class head ({})", loaded.skipped.join(", "))
            } else {
                String::new()
            }
        ));
    } else {
        log("no --weights: training from the default initialisation".into());
    }
    let g = model.graph();
    log(format!(
        "{} of {} parameters trained, {} tensors frozen{}",
        g.trained_parameter_count(),
        g.parameter_count(),
        frozen.len(),
        freeze
            .as_ref()
            .map(|p| if args.head_only {
                " (everything but the head)".to_string()
            } else {
                format!(" ({p})")
            })
            .unwrap_or_default()
    ));

    let (mean, std) = normalization(entry.in_channels);
    let batch = args.batch.min(folder.train.count);
    let mut train =
        Loader::new(&device, &folder.train, batch, true, args.seed, dtype)?.normalize(mean, std);
    train.augment = args.augment.augment(0.0)?;
    let mut val =
        Loader::new(&device, &folder.val, batch.max(64), false, 0, dtype)?.normalize(mean, std);
    let steps_per_epoch = train.batches();
    let kind = args.optim.kind();
    let schedule = LrSchedule::Cosine {
        total_steps: steps_per_epoch * args.epochs,
        eta_min: 0.0,
    };
    let mut optimizer = Optimizer::new(&device, model.graph(), kind, schedule)?;
    for (patterns, scale) in &lr_scales {
        let n = optimizer.set_lr_scale(patterns, *scale)?;
        log(format!(
            "learning rate ×{scale} for {n} tensors ({patterns})"
        ));
    }
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let planned = model.plan_memory(batch, Some(loss), optimizer.state_bytes())?;
    let mut trainer = Trainer::new(model, optimizer, loss).measure_memory_at(1);

    let before = trainer.evaluate(val.epoch(None))?;
    log(format!(
        "before fine-tuning: validation accuracy {:.2}%",
        100.0 * before.accuracy()
    ));
    let stop = stop_on_ctrl_c();
    let mut curve = Vec::new();
    let mut measured = None;
    let mut last: Option<Evaluation> = None;
    let mut interrupted = false;
    let class_names = serde_json::to_string(&folder.classes)?;
    for epoch in 1..=args.epochs {
        let bar = epoch_bar(epoch, args.epochs, steps_per_epoch);
        let report = trainer.epoch(train.epoch(None), |s| on_step(&bar, &stop, s));
        bar.finish_and_clear();
        let report = report?;
        measured = measured.or(report.memory);
        interrupted = report.stopped;
        if report.steps == 0 {
            break;
        }
        let eval = trainer.evaluate(val.epoch(None))?;
        log(format!(
            "epoch {epoch:>3}/{}: loss {:.4}  train acc {:.2}%  val acc {:.2}%  {:.0} img/s  ({:.1} s)",
            args.epochs,
            report.mean_loss,
            100.0 * report.accuracy.unwrap_or(0.0),
            100.0 * eval.accuracy(),
            report.images_per_s(),
            report.seconds
        ));
        curve.push(json!({
            "epoch": epoch,
            "train_loss": report.mean_loss,
            "train_accuracy": report.accuracy,
            "val_accuracy": eval.accuracy(),
        }));
        if interrupted {
            break;
        }
        let meta = [
            ("weft.model", entry.name.to_string()),
            ("weft.num_classes", classes.to_string()),
            ("weft.size", size.to_string()),
            ("weft.classes", class_names.clone()),
            ("weft.epochs", epoch.to_string()),
            ("weft.val_accuracy", format!("{:.6}", eval.accuracy())),
        ];
        checkpoint::save(&args.out, &trainer.model, None, &meta)?;
        last = Some(eval);
    }
    let report = match measured {
        Some(m) => planned.with_measurement(m.live_before, m.peak),
        None => planned,
    };
    log(format!("{report}"));
    let after = last
        .as_ref()
        .map_or(before.accuracy(), Evaluation::accuracy);
    log(format!(
        "validation accuracy {:.2}% → {:.2}% after {} epoch(s); checkpoint {}",
        100.0 * before.accuracy(),
        100.0 * after,
        curve.len(),
        if last.is_some() {
            args.out.display().to_string()
        } else {
            "not written".into()
        }
    ));
    if global.json {
        let g = trainer.model.graph();
        println!(
            "{}",
            json!({
                "command": "finetune",
                "model": entry.name,
                "data": args.data.display().to_string(),
                "classes": folder.classes,
                "num_classes": classes,
                "size": size,
                "train_images": folder.train.count,
                "val_images": folder.val.count,
                "new_head": new_head,
                "frozen": frozen,
                "trained_parameters": g.trained_parameter_count(),
                "parameters": g.parameter_count(),
                "val_accuracy_before": before.accuracy(),
                "val_accuracy": after,
                "curve": curve,
                "planned_peak_bytes": report.planned_peak,
                "measured_peak_bytes": report.measured_peak,
                "optimizer_bytes": report.optimizer_bytes,
                "seconds": start.elapsed().as_secs_f64(),
                "interrupted": interrupted,
                "checkpoint": last.is_some().then(|| args.out.display().to_string()),
            })
        );
    } else {
        log(format!(
            "peak memory {} planned / {} measured (optimizer state {}), {:.1} s",
            human(report.planned_peak),
            report.measured_peak.map_or("-".into(), human),
            human(report.optimizer_bytes),
            start.elapsed().as_secs_f64()
        ));
    }
    if interrupted {
        std::process::exit(130);
    }
    Ok(())
}

/// Whether the checkpoint's head tensors have the shapes of the model's head
/// (then they load; otherwise the head is new).
fn head_matches(bytes: &[u8], model: &Model, head: &[String]) -> bool {
    let Ok(st) = safetensors::SafeTensors::deserialize(bytes) else {
        return true; // the load reports the broken file
    };
    head.iter().all(|name| {
        let want = model.param(name).map(|t| t.shape().to_vec());
        st.tensor(name).ok().map(|t| t.shape().to_vec()) == want
    })
}
