//! `weft classify`: the top three classes for image files.
//!
//! For LeNet-5 (digits) images are prepared the way MNIST's were: converted to
//! grey, inverted when the background is light (dark ink on paper), cropped to
//! the ink, scaled so the longer side is 20 pixels, and centred by centre of
//! mass in a 28×28 frame. Checkpoints of `weft finetune` get their images as
//! it prepared them, and their class names.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use weft::Device;
use weft::data::{MNIST_MEAN, MNIST_STD};

use crate::Global;

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Checkpoint written by `weft train` or `weft finetune`, or an ONNX
    /// classifier (`.onnx`: images resized to its input, scaled to [0, 1]).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// ONNX models: normalise images with ImageNet's mean and standard
    /// deviation (the torchvision convention).
    #[arg(long)]
    pub imagenet: bool,
    /// ONNX models with symbolic image sizes: the per-sample input shape
    /// (C,H,W).
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
    /// PNG or JPEG images.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Converts an image to a normalised 28×28 MNIST-style digit.
pub fn prepare(img: &image::DynamicImage) -> Vec<f32> {
    let grey = img.to_luma32f();
    let (w, h) = grey.dimensions();
    let mut px: Vec<f32> = grey.pixels().map(|p| p.0[0].clamp(0.0, 1.0)).collect();
    // Light background (the border is mostly bright): dark ink on paper.
    let border: Vec<f32> = (0..w)
        .flat_map(|x| [(x, 0), (x, h - 1)])
        .chain((0..h).flat_map(|y| [(0, y), (w - 1, y)]))
        .map(|(x, y)| px[(y * w + x) as usize])
        .collect();
    let border_mean = border.iter().sum::<f32>() / border.len().max(1) as f32;
    if border_mean > 0.5 {
        px.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    let out = if (w, h) == (28, 28) {
        px
    } else {
        weft::data::fit_digit(&px, w as usize, h as usize)
    };
    out.iter().map(|v| (v - MNIST_MEAN) / MNIST_STD).collect()
}

/// The network to classify with and what it expects.
pub enum Classifier {
    /// A weft checkpoint.
    Checkpoint(crate::eval::CheckpointInfo),
    /// An imported ONNX model taking `[C, H, W]` samples.
    Onnx(Vec<usize>),
}

impl Classifier {
    /// The checkpoint's class name for `k`, else its index.
    pub fn label(&self, k: usize) -> String {
        match self {
            Classifier::Checkpoint(info) => match &info.classes {
                Some(names) if k < names.len() => names[k].clone(),
                _ => k.to_string(),
            },
            Classifier::Onnx(_) => k.to_string(),
        }
    }
}

/// A weft checkpoint or (`.onnx`) an imported model, in evaluation mode.
pub fn load(
    device: &Device,
    path: &std::path::Path,
    input_shape: Option<&Vec<usize>>,
) -> Result<(weft::graph::Model, Classifier), Box<dyn std::error::Error>> {
    if path.extension().is_some_and(|e| e == "onnx") {
        let options = weft::onnx::ImportOptions {
            input_shape: input_shape.cloned(),
        };
        let imported = weft::onnx::import_file(path, &options)?;
        let per_sample = imported.input_shapes[0].clone();
        Ok((imported.into_model(device)?, Classifier::Onnx(per_sample)))
    } else {
        let (model, info) = crate::eval::load_model(device, path, false)?;
        Ok((model, Classifier::Checkpoint(info)))
    }
}

/// An image as the classifier takes it (`[1, C, H, W]`), and the same pixels
/// in [0, 1] before normalisation (`C·H·W`, to draw on).
pub fn input(
    device: &Device,
    classifier: &Classifier,
    path: &std::path::Path,
    imagenet: bool,
) -> Result<(weft::Tensor, Vec<f32>), Box<dyn std::error::Error>> {
    let (dims, x, plain) = match classifier {
        Classifier::Onnx(per_sample) => {
            let (dims, x) = crate::onnx::read_input(path, per_sample, false)?;
            let normalised = if imagenet {
                crate::onnx::read_input(path, per_sample, true)?.1
            } else {
                x.clone()
            };
            (dims, normalised, x)
        }
        Classifier::Checkpoint(info) if info.name == "lenet5" => {
            let img = image::open(path)
                .map_err(|e| weft::Error::format(path, format!("cannot read image: {e}")))?;
            let x = prepare(&img);
            let plain = x.iter().map(|v| v * MNIST_STD + MNIST_MEAN).collect();
            (vec![1, 1, 28, 28], x, plain)
        }
        Classifier::Checkpoint(info) => {
            // As `weft finetune` prepared its images: shorter side resized,
            // centre crop, per-channel normalisation.
            let (c, s) = (info.channels, info.size);
            let bytes = weft::data::folder::prepare(path, s, c)?;
            let (mean, std) = crate::finetune::normalization(c);
            let plain: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
            let x = plain
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ch = i / (s * s);
                    (v - mean[ch]) / std[ch]
                })
                .collect();
            (vec![1, c, s, s], x, plain)
        }
    };
    Ok((device.tensor(&dims, &x)?, plain))
}

pub fn run(global: &Global, args: &ClassifyArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::new(global.device_options()?)?;
    let (mut model, classifier) = load(&device, &args.checkpoint, args.input_shape.as_ref())?;
    let digits = matches!(&classifier, Classifier::Checkpoint(i) if i.name == "lenet5");
    let label = |k: usize| classifier.label(k);
    let mut results = Vec::new();
    for path in &args.images {
        let (t, _) = input(&device, &classifier, path, args.imagenet)?;
        let logits = model.forward(&[&t])?[0].to_f32_vec()?;
        let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f64> = logits.iter().map(|&v| ((v - max) as f64).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut ranked: Vec<(usize, f64)> = exp.iter().map(|e| e / sum).enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(3);
        if !global.json {
            let top: Vec<String> = ranked
                .iter()
                .map(|&(k, p)| format!("{} ({:.1}%)", label(k), 100.0 * p))
                .collect();
            println!("{}: {}", path.display(), top.join(", "));
        }
        let top: Vec<_> = ranked
            .iter()
            .map(|&(k, p)| {
                if digits {
                    json!({"digit": k, "probability": p})
                } else {
                    json!({"class": k, "label": label(k), "probability": p})
                }
            })
            .collect();
        results.push(json!({
            "image": path.display().to_string(),
            "top3": top,
        }));
    }
    if global.json {
        println!("{}", json!({ "command": "classify", "results": results }));
    }
    Ok(())
}
