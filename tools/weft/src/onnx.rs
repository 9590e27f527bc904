//! `weft import` and `weft run`: ONNX models trained elsewhere, checked,
//! converted to weft's weights, and run with the memory report.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use weft::onnx::{ImportOptions, Imported};
use weft::{DType, Device};

use crate::Global;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Write the weights as a safetensors checkpoint, named as the imported
    /// graph names its parameters.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Per-sample input shape (C,H,W) for models with symbolic input sizes.
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// The input: a PNG or JPEG image (resized to the model's input, scaled to
    /// [0, 1]), or a serialized ONNX TensorProto (`.pb`).
    pub input: PathBuf,
    /// How many of the highest outputs to print.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Normalise images with ImageNet's mean and standard deviation (the
    /// torchvision convention) instead of leaving them in [0, 1].
    #[arg(long)]
    pub imagenet: bool,
    /// Per-sample input shape (C,H,W) for models with symbolic input sizes.
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn import(model: &Path, input_shape: &Option<Vec<usize>>) -> weft::Result<Imported> {
    weft::onnx::import_file(
        model,
        &ImportOptions {
            input_shape: input_shape.clone(),
        },
    )
}

pub fn run_import(global: &Global, args: &ImportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let imported = import(&args.model, &args.input_shape)?;
    if args.json {
        let layers: Vec<_> = imported
            .graph
            .nodes()
            .iter()
            .map(|n| {
                json!({
                    "name": n.name,
                    "type": n.layer.as_ref().map_or("Input", |l| l.kind()),
                    "shape": n.shape,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "model": args.model.display().to_string(),
                "opset": imported.opset,
                "producer": imported.producer,
                "inputs": imported.inputs,
                "input_shapes": imported.input_shapes,
                "outputs": imported.outputs,
                "parameters": imported.graph.parameter_count(),
                "layers": layers,
            })
        );
    } else {
        println!(
            "{}: opset {}{}, inputs {:?} of per-sample shape {:?}, outputs {:?}",
            args.model.display(),
            imported.opset,
            if imported.producer.is_empty() {
                String::new()
            } else {
                format!(", exported by {}", imported.producer)
            },
            imported.inputs,
            imported.input_shapes,
            imported.outputs
        );
        print!("{}", imported.graph.summary());
    }
    if let Some(out) = &args.out {
        let device = Device::new(global.device_options()?)?;
        let model = imported.into_model(&device)?;
        let source = args.model.display().to_string();
        weft::graph::checkpoint::save(out, &model, None, &[("weft.onnx", source)])?;
        if !args.json {
            println!("weights written to {}", out.display());
        }
    }
    Ok(())
}

pub fn run_model(global: &Global, args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let imported = import(&args.model, &args.input_shape)?;
    let per_sample = imported.input_shapes[0].clone();
    let (dims, x) = read_input(&args.input, &per_sample, args.imagenet)?;
    let device = Device::new(global.device_options()?)?;
    let mut model = imported.into_model(&device)?;
    let planned = model.plan_memory(dims[0], None, 0)?.planned_peak;
    let input = device.upload_f32(&dims, DType::F32, &x)?;
    device.reset_peak();
    let start = std::time::Instant::now();
    let out = model.forward(&[&input])?;
    let values = device.read_f32(&out[0])?;
    let elapsed = start.elapsed().as_secs_f64();
    let measured = device.pool_stats().peak_live_bytes;
    // The highest outputs of each sample, indexed within the sample.
    let per = values.len() / dims[0].max(1);
    let ranked: Vec<Vec<(usize, f32)>> = values
        .chunks(per.max(1))
        .map(|sample| {
            let mut r: Vec<(usize, f32)> = sample.iter().copied().enumerate().collect();
            r.sort_by(|a, b| b.1.total_cmp(&a.1));
            r.truncate(args.top);
            r
        })
        .collect();
    if args.json {
        let top: Vec<Vec<_>> = ranked
            .iter()
            .map(|r| {
                r.iter()
                    .map(|(i, v)| json!({"index": i, "value": v}))
                    .collect()
            })
            .collect();
        let report = json!({
            "model": args.model.display().to_string(),
            "input": args.input.display().to_string(),
            "output_shape": out[0].shape(),
            "top": top,
            "seconds": elapsed,
            "planned_peak_bytes": planned,
            "measured_peak_bytes": measured,
        });
        println!("{report}");
    } else {
        println!(
            "{} on {}: output {:?} in {:.1} ms; peak device memory {:.1} MiB planned, {:.1} MiB measured",
            args.model.display(),
            args.input.display(),
            out[0].shape(),
            elapsed * 1e3,
            planned as f64 / (1u64 << 20) as f64,
            measured as f64 / (1u64 << 20) as f64
        );
        for (s, r) in ranked.iter().enumerate() {
            if ranked.len() > 1 {
                println!("  sample {s}");
            }
            for (rank, (i, v)) in r.iter().enumerate() {
                println!("  #{:<2} index {i:>5}  {v:.6}", rank + 1);
            }
        }
    }
    Ok(())
}

/// The model's input from an image or a TensorProto file, as `[1, ...]` dims and values.
pub fn read_input(
    path: &Path,
    per_sample: &[usize],
    imagenet: bool,
) -> weft::Result<(Vec<usize>, Vec<f32>)> {
    let is_pb = path.extension().is_some_and(|e| e == "pb");
    if is_pb {
        let bytes = std::fs::read(path).map_err(|e| weft::Error::io(path, e))?;
        let (dims, x) = weft::onnx::read_tensor(&bytes)
            .map_err(|e| weft::Error::format(path, e.to_string()))?;
        if dims.len() != per_sample.len() + 1 || dims[1..] != per_sample[..] {
            return Err(weft::Error::shape(
                path.display().to_string(),
                format!(
                    "the model takes samples of shape {per_sample:?} (with a batch first), the file holds {dims:?}"
                ),
            ));
        }
        return Ok((dims, x));
    }
    let [c, h, w] = <[usize; 3]>::try_from(per_sample).map_err(|_| {
        weft::Error::shape(
            path.display().to_string(),
            format!("an image input needs a [C, H, W] model input, the model takes {per_sample:?}"),
        )
    })?;
    if c != 1 && c != 3 {
        return Err(weft::Error::shape(
            path.display().to_string(),
            format!("an image has 1 or 3 channels, the model takes {c}"),
        ));
    }
    let img = image::open(path)
        .map_err(|e| weft::Error::format(path, format!("not a readable image: {e}")))?
        .resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
        .to_rgb32f();
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let mut x = vec![0f32; c * h * w];
    for (px, p) in img.pixels().enumerate() {
        for ch in 0..c {
            let v = if c == 1 {
                (p.0[0] + p.0[1] + p.0[2]) / 3.0
            } else {
                p.0[ch]
            };
            x[ch * h * w + px] = if imagenet && c == 3 {
                (v - MEAN[ch]) / STD[ch]
            } else {
                v
            };
        }
    }
    Ok((vec![1, c, h, w], x))
}
