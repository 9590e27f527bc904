//! A classifier loaded from bytes: a weft checkpoint (safetensors, its
//! network named by `weft.model`) or an ONNX model.

use std::path::Path;

use weft::data::{IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD};
use weft::graph::checkpoint::{self, LoadOptions};
use weft::graph::models as zoo;
use weft::graph::{MemoryReport, Model};
use weft::onnx::ImportOptions;
use weft::{Device, Error, Result};

/// A network in evaluation mode and what it expects.
pub struct Classifier {
    model: Model,
    /// The zoo name of a checkpoint's network, or `onnx`.
    pub name: String,
    /// One sample's shape, `[C, H, W]`.
    pub sample_shape: Vec<usize>,
}

/// Whether `bytes` start like a safetensors file: an 8-byte little-endian
/// header length that fits, then the JSON header's `{`.
fn is_safetensors(bytes: &[u8]) -> bool {
    bytes.len() > 8
        && bytes[8] == b'{'
        && u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default()) < bytes.len() as u64
}

impl Classifier {
    /// Loads a weft checkpoint or an ONNX model (told apart by content).
    pub fn from_bytes(device: &Device, bytes: &[u8]) -> Result<Classifier> {
        if is_safetensors(bytes) {
            Self::from_checkpoint(device, bytes)
        } else {
            Self::from_onnx(device, bytes)
        }
    }

    /// A checkpoint written by `weft train` or `weft finetune`.
    pub fn from_checkpoint(device: &Device, bytes: &[u8]) -> Result<Classifier> {
        let origin = Path::new("checkpoint");
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::format(origin, format!("not a valid safetensors file: {e}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let number = |key: &str| -> Result<Option<usize>> {
            meta.get(key)
                .map(|v| {
                    v.parse().map_err(|_| {
                        Error::format(origin, format!("metadata {key} = \"{v}\" is not a number"))
                    })
                })
                .transpose()
        };
        let name = meta
            .get("weft.model")
            .cloned()
            .unwrap_or_else(|| "lenet5".into());
        let graph = zoo::build(&name, number("weft.num_classes")?, number("weft.size")?)?;
        let mut model = Model::new(device, graph, 0)?;
        checkpoint::load_bytes(bytes, origin, &mut model, None, &LoadOptions::default())?;
        model.eval();
        Ok(Self::with_model(model, name))
    }

    /// An ONNX classifier (one input, one output).
    pub fn from_onnx(device: &Device, bytes: &[u8]) -> Result<Classifier> {
        let imported = weft::onnx::import(bytes, &ImportOptions::default())?;
        let model = imported.into_model(device)?;
        Ok(Self::with_model(model, "onnx".into()))
    }

    /// A network already on the device (one trained here, say).
    pub fn with_model(mut model: Model, name: String) -> Classifier {
        model.eval();
        let g = model.graph();
        let sample_shape = g
            .inputs()
            .first()
            .map(|&id| g.shape(id).to_vec())
            .unwrap_or_default();
        Classifier {
            model,
            name,
            sample_shape,
        }
    }

    /// The model, to inspect or run directly.
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// The raw outputs for `samples` (whole samples of
    /// [`sample_shape`](Self::sample_shape), concatenated), `[N, classes]`
    /// flattened.
    pub async fn logits(&mut self, samples: &[f32]) -> Result<Vec<f32>> {
        let per: usize = self.sample_shape.iter().product();
        if per == 0 || samples.is_empty() || !samples.len().is_multiple_of(per) {
            return Err(Error::shape(
                "classify",
                format!(
                    "{} values are not whole samples of {:?} ({per} values each)",
                    samples.len(),
                    self.sample_shape
                ),
            ));
        }
        let mut shape = vec![samples.len() / per];
        shape.extend(&self.sample_shape);
        let device = self.model.device().clone();
        let x = device.tensor(&shape, samples)?;
        let out = self.model.forward(&[&x])?;
        let y = out
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("classify", "outputs", "the network has no output"))?;
        device.read_f32_async(&y).await
    }

    /// Class probabilities (softmax of the outputs, in f64) for one sample.
    pub async fn probabilities(&mut self, sample: &[f32]) -> Result<Vec<f32>> {
        let logits = self.logits(sample).await?;
        Ok(softmax(&logits))
    }

    /// Class probabilities of an encoded image (PNG or JPEG). A digit model
    /// (one 28×28 channel) gets an MNIST-style digit ([`digit_from_rgba`]);
    /// other square inputs get the shorter side resized, a centre crop and
    /// values in [0, 1] (as `weft finetune` and torchvision prepare images),
    /// then ImageNet's mean and standard deviation when `imagenet` is set,
    /// or when a three-channel weft checkpoint expects them.
    pub async fn classify_image(&mut self, encoded: &[u8], imagenet: bool) -> Result<Vec<f32>> {
        let origin = Path::new("image");
        let sample = match self.sample_shape[..] {
            [1, 28, 28] => {
                let img = weft::data::folder::decode(encoded, origin)?.to_rgba8();
                let (w, h) = (img.width() as usize, img.height() as usize);
                digit_from_rgba(img.as_raw(), w, h)
                    .iter()
                    .map(|v| (v - MNIST_MEAN) / MNIST_STD)
                    .collect()
            }
            [c @ (1 | 3), h, w] if h == w => {
                let planes = weft::data::folder::prepare_bytes(encoded, origin, h, c)?;
                let (mean, std): (&[f32], &[f32]) = if imagenet || (c == 3 && self.name != "onnx") {
                    (&IMAGENET_MEAN, &IMAGENET_STD)
                } else if self.name != "onnx" {
                    (&[0.5], &[0.5])
                } else {
                    (&[0.0; 3], &[1.0; 3])
                };
                planes
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| {
                        let ch = (i / (h * w)).min(mean.len() - 1);
                        (b as f32 / 255.0 - mean[ch]) / std[ch]
                    })
                    .collect::<Vec<f32>>()
            }
            _ => {
                return Err(Error::shape(
                    "classify",
                    format!(
                        "images go to networks taking one or three square planes, this one takes {:?}",
                        self.sample_shape
                    ),
                ));
            }
        };
        self.probabilities(&sample).await
    }

    /// The planned device memory of inference at `batch`.
    pub fn plan(&self, batch: usize) -> Result<MemoryReport> {
        self.model.plan_memory(batch, None, 0)
    }
}

/// Softmax of one row, summed in f64.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

/// A drawing's ink in [0, 1] as a 28×28 MNIST-style digit.
pub fn digit_from_rgba(rgba: &[u8], width: usize, height: usize) -> Vec<f32> {
    let mut grey: Vec<f32> = rgba
        .chunks_exact(4)
        .map(|p| {
            let alpha = p[3] as f32 / 255.0;
            let lum = (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0;
            lum * alpha
        })
        .collect();
    // Dark ink on a light ground (the border is mostly bright): invert.
    let border: Vec<f32> = (0..width)
        .flat_map(|x| [x, (height - 1) * width + x])
        .chain((0..height).flat_map(|y| [y * width, y * width + width - 1]))
        .map(|i| grey[i])
        .collect();
    if border.iter().sum::<f32>() / border.len().max(1) as f32 > 0.5 {
        grey.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    weft::data::fit_digit(&grey, width, height)
}
