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

/// Loads a checkpoint into the network its metadata names.
pub fn load_model(
    device: &Device,
    path: &std::path::Path,
    fp16: bool,
) -> Result<(Model, String), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path).map_err(|e| weft::Error::io(path, e))?;
    let name = peek_model_name(&bytes).unwrap_or_else(|| "lenet5".into());
    drop(bytes);
    let graph = ModelName::parse(&name)?.build()?;
    let mut model = Model::new(device, graph, 0)?;
    checkpoint::load(path, &mut model, None)?;
    model.set_options(crate::setup::exec_options(if fp16 {
        DType::F16
    } else {
        DType::F32
    }))?;
    model.eval();
    Ok((model, name))
}

/// The `weft.model` entry of a safetensors header, if present.
fn peek_model_name(bytes: &[u8]) -> Option<String> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..8 + n)?).ok()?;
    header
        .get("__metadata__")?
        .get("weft.model")?
        .as_str()
        .map(str::to_string)
}

pub fn run(global: &Global, args: &EvalArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::new(global.device_options()?)?;
    let (mut model, name) = load_model(&device, &args.checkpoint, args.fp16)?;
    let mnist = crate::setup::mnist(args.data.as_deref(), !args.no_download)?;
    let dtype = model.options().dtype;
    let mut test = Loader::new(&device, &mnist.test, args.batch, false, 0, dtype)?;
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
