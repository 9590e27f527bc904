//! `weft cam`: where a classifier looks. Grad-CAM of a layer (CAM for
//! networks ending in global average pooling), upsampled to the input,
//! drawn over it in a colour map with a colour bar, as PNG.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use weft::Device;
use weft::graph::cam::{self, Heatmap};

use crate::Global;
use crate::classify::{self, Classifier};

#[derive(Args, Debug)]
pub struct CamArgs {
    /// Checkpoint of `weft train` / `weft finetune`, or an ONNX classifier.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// The class whose evidence to show (default: the predicted one).
    #[arg(long)]
    pub class: Option<usize>,
    /// The layer whose feature maps to weigh (default: the input of the last
    /// global average pool, i.e. CAM; else the last layer with a spatial map).
    #[arg(long)]
    pub layer: Option<String>,
    /// ONNX models: normalise with ImageNet's mean and standard deviation.
    #[arg(long)]
    pub imagenet: bool,
    /// ONNX models with symbolic image sizes: the per-sample input shape
    /// (C,H,W).
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
    /// Where to write the heatmap over the image, with a colour bar (0 at the
    /// bottom, 1 at the top).
    #[arg(long, default_value = "cam.png")]
    pub out: PathBuf,
}

/// A blue → cyan → green → yellow → red colour map.
fn colour(v: f32) -> [f32; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [0.0, 0.0, 0.6],
        [0.0, 0.8, 1.0],
        [0.1, 0.9, 0.2],
        [1.0, 0.9, 0.0],
        [0.9, 0.0, 0.0],
    ];
    let t = v.clamp(0.0, 1.0) * 4.0;
    let i = (t as usize).min(3);
    let f = t - i as f32;
    std::array::from_fn(|c| STOPS[i][c] * (1.0 - f) + STOPS[i + 1][c] * f)
}

/// The default layer: CAM's, else the last layer whose output is a spatial map.
fn default_layer(model: &weft::graph::Model) -> Option<String> {
    cam::cam_layer(model).or_else(|| {
        let g = model.graph();
        g.nodes()
            .iter()
            .rev()
            .find(|n| n.layer.is_some() && n.shape.len() == 3 && n.shape[1] * n.shape[2] > 1)
            .map(|n| n.name.clone())
    })
}

/// The image (`plain`, C·H·W in [0, 1]) with `heat` (H·W in [0, 1]) over it,
/// scaled by `zoom`, and a colour bar on the right.
fn draw(plain: &[f32], c: usize, heat: &Heatmap, zoom: usize) -> image::RgbImage {
    let (h, w) = (heat.h, heat.w);
    let bar = 6 * zoom.max(2);
    let mut img = image::RgbImage::from_pixel(
        (w * zoom + bar + 2 * zoom) as u32,
        (h * zoom) as u32,
        image::Rgb([255, 255, 255]),
    );
    for y in 0..h * zoom {
        for x in 0..w * zoom {
            let (sy, sx) = (y / zoom, x / zoom);
            let px = sy * w + sx;
            let base: [f32; 3] = if c == 1 {
                [plain[px]; 3]
            } else {
                std::array::from_fn(|ch| plain[ch * h * w + px])
            };
            let v = heat.values[px];
            let col = colour(v);
            let a = 0.25 + 0.45 * v;
            let mix: [u8; 3] = std::array::from_fn(|ch| {
                ((base[ch] * (1.0 - a) + col[ch] * a) * 255.0).round() as u8
            });
            img.put_pixel(x as u32, y as u32, image::Rgb(mix));
        }
        let v = 1.0 - y as f32 / (h * zoom - 1).max(1) as f32;
        let col = colour(v).map(|c| (c * 255.0).round() as u8);
        for x in 0..bar {
            img.put_pixel((w * zoom + 2 * zoom + x) as u32, y as u32, image::Rgb(col));
        }
    }
    img
}

pub fn run(global: &Global, args: &CamArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::setup::check_output_file(&args.out, "--out")?;
    let device = Device::new(global.device_options()?)?;
    let (mut model, classifier) =
        classify::load(&device, &args.checkpoint, args.input_shape.as_ref())?;
    model.eval();
    let (x, plain) = classify::input(&device, &classifier, &args.image, args.imagenet)?;
    let logits = model.forward(&[&x])?[0].to_f32_vec()?;
    let predicted = weft::graph::trainer::argmax(&logits);
    let class = args.class.unwrap_or(predicted);
    let layer = match &args.layer {
        Some(l) => l.clone(),
        None => default_layer(&model)
            .ok_or("the network has no spatial layer; name one with --layer")?,
    };
    let maps = cam::grad_cam(&mut model, &x, &layer, &[class])?;
    let (c, h, w) = (x.dim(1), x.dim(2), x.dim(3));
    let heat = cam::upsample_map(&model, &maps[0], h, w)?.normalized();
    let zoom = 224usize.div_ceil(h.min(w)).max(1);
    draw(&plain, c, &heat, zoom)
        .save(&args.out)
        .map_err(|e| weft::Error::io(&args.out, e))?;
    let method = if cam::cam_layer(&model).as_deref() == Some(layer.as_str()) {
        "CAM (Grad-CAM at the pooled maps)"
    } else {
        "Grad-CAM"
    };
    if global.json {
        println!(
            "{}",
            json!({
                "command": "cam",
                "image": args.image.display().to_string(),
                "class": class,
                "label": classifier.label(class),
                "predicted": predicted,
                "layer": layer,
                "method": method,
                "map": [maps[0].h, maps[0].w],
                "size": [h, w],
                "heatmap": heat.values,
                "out": args.out.display().to_string(),
            })
        );
    } else {
        let what = match &classifier {
            Classifier::Checkpoint(i) => i.name.clone(),
            Classifier::Onnx(_) => "ONNX model".into(),
        };
        println!(
            "{}: {method} of class {} ({}) at {layer} ({}×{} maps) of {what}; predicted {}; {} written",
            args.image.display(),
            class,
            classifier.label(class),
            maps[0].h,
            maps[0].w,
            classifier.label(predicted),
            args.out.display()
        );
    }
    Ok(())
}
