//! `weft eval`: test accuracy and confusion matrix of a checkpoint.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use weft::data::Loader;
use weft::graph::{Model, checkpoint, trainer};
use weft::{DType, Device};

use crate::Global;
use crate::models::ModelName;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint written by `weft train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Directory with the MNIST files (default: WEFT_DATA, the cache, a download,
    /// or the embedded subset).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[arg(long)]
    pub no_download: bool,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Run with f16 activations.
    #[arg(long)]
    pub fp16: bool,
}

/// What a checkpoint's metadata says about its network.
#[derive(Debug, Clone)]
pub struct CheckpointInfo {
    /// The zoo name (`weft.model`; LeNet-5 when absent).
    pub name: String,
    /// Image side (`weft.size`; the network's usual size when absent).
    pub size: usize,
    pub channels: usize,
    /// Class names (`weft.classes`, written by `weft finetune`).
    pub classes: Option<Vec<String>>,
}

/// Loads a checkpoint into the network its metadata names, with the head and
/// input size it was trained with.
pub fn load_model(
    device: &Device,
    path: &std::path::Path,
    fp16: bool,
) -> Result<(Model, CheckpointInfo), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                " (train a network with `weft train --out {0}`, or name another with --checkpoint)",
                path.display()
            )
        } else {
            String::new()
        };
        weft::Error::io(path, format!("{e}{hint}"))
    })?;
    let meta = peek_metadata(&bytes);
    let name = meta
        .get("weft.model")
        .cloned()
        .unwrap_or_else(|| "lenet5".into());
    let entry = ModelName::parse(&name)
        .map_err(|e| weft::Error::format(path, format!("its weft.model metadata: {e}")))?
        .entry();
    let number = |key: &str, default: usize| -> weft::Result<usize> {
        meta.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                weft::Error::format(path, format!("metadata {key} is not a number: \"{v}\""))
            })
        })
    };
    let classes = number("weft.num_classes", entry.classes)?;
    let size = number("weft.size", entry.size)?;
    let graph = entry.build(classes, size)?;
    let mut model = Model::new(device, graph, 0)?;
    checkpoint::load_bytes(&bytes, path, &mut model, None, &Default::default())?;
    let info = CheckpointInfo {
        name,
        size,
        channels: entry.in_channels,
        classes: meta
            .get("weft.classes")
            .and_then(|c| serde_json::from_str(c).ok()),
    };
    model.set_options(crate::setup::exec_options(if fp16 {
        DType::F16
    } else {
        DType::F32
    }))?;
    model.eval();
    Ok((model, info))
}

/// The string metadata of a safetensors header (empty when unreadable: the
/// load reports a broken file).
fn peek_metadata(bytes: &[u8]) -> std::collections::HashMap<String, String> {
    safetensors::SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default()
}

pub fn run(global: &Global, args: &EvalArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::new(global.device_options()?)?;
    crate::setup::check_fp16(&device, args.fp16)?;
    let (mut model, info) = load_model(&device, &args.checkpoint, args.fp16)?;
    if info.name != "lenet5" {
        return Err(format!(
            "weft eval measures MNIST accuracy of LeNet-5 checkpoints; {} holds {} (fine-tuned checkpoints report validation accuracy in weft finetune, and weft classify runs them on images)",
            args.checkpoint.display(),
            info.name
        )
        .into());
    }
    let name = info.name;
    let mnist = crate::setup::mnist(args.data.as_deref(), !args.no_download)?;
    let dtype = model.options().dtype;
    // Evaluation has no gradients to keep consistent: a batch whose largest
    // activation would not fit one binding runs in smaller batches.
    let largest = model
        .graph()
        .nodes()
        .iter()
        .map(|n| dtype.storage_bytes(n.shape.iter().product::<usize>()))
        .max()
        .unwrap_or(1)
        .max(1);
    let fits = (device.limits().max_storage_buffer_binding_size / largest).max(1) as usize;
    let batch = args.batch.min(fits);
    if batch < args.batch {
        eprintln!(
            "note: --batch {} holds activations larger than this device binds at once; \
             evaluating in batches of {batch}",
            args.batch
        );
    }
    let mut test = Loader::new(&device, &mnist.test, batch, false, 0, dtype)?;
    if test.batches() == 0 {
        return Err(format!("{}: the test set holds no images", mnist.source).into());
    }
    let e = trainer::evaluate(&mut model, test.epoch(None))?;
    model.eval();
    if global.json {
        println!(
            "{}",
            json!({
                "command": "eval",
                "model": name,
                "checkpoint": args.checkpoint.display().to_string(),
                "data": mnist.source.to_string(),
                "images": e.images,
                "correct": e.correct(),
                "test_accuracy": e.accuracy(),
                "inference_images_per_s": e.images_per_s(),
                "confusion": e.confusion,
            })
        );
        return Ok(());
    }
    println!(
        "{} on {}: {}/{} correct, test accuracy {:.2}%, {:.0} img/s",
        args.checkpoint.display(),
        mnist.source,
        e.correct(),
        e.images,
        100.0 * e.accuracy(),
        e.images_per_s()
    );
    println!("\nconfusion matrix (rows: true digit, columns: predicted)");
    let classes = e.confusion.len();
    print!("     ");
    for p in 0..classes {
        print!("{p:>6}");
    }
    println!("  recall");
    for t in 0..classes {
        print!("{t:>4} ");
        let total: u64 = e.confusion[t].iter().sum();
        for p in 0..classes {
            print!("{:>6}", e.confusion[t][p]);
        }
        println!(
            "  {:>5.1}%",
            100.0 * e.confusion[t][t] as f64 / total.max(1) as f64
        );
    }
    Ok(())
}
