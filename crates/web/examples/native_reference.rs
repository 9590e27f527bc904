//! The native side of the browser tests: runs the checkpoint the page loads
//! on the first embedded MNIST test images with the same code the page runs
//! (on a native adapter), times the same training steps, and writes both as
//! JSON for the page to compare against.
//!
//! `cargo run --release -p weft-web --example native_reference -- CHECKPOINT OUT.json [IMAGES [ONNX]]`

use std::error::Error;

use weft::data::Mnist;
use weft::{Device, DeviceOptions};
use weft_web::training::normalised;
use weft_web::{Classifier, Training};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(checkpoint), Some(out)) = (args.first(), args.get(1)) else {
        return Err("usage: native_reference CHECKPOINT OUT.json [IMAGES]".into());
    };
    let count: usize = args.get(2).map_or(Ok(64), |v| v.parse())?;
    let device = pollster::block_on(Device::new_async(DeviceOptions::from_env()?))?;
    let bytes = std::fs::read(checkpoint).map_err(|e| format!("{checkpoint}: {e}"))?;
    let mut classifier = Classifier::from_bytes(&device, &bytes)?;
    let mnist = Mnist::embedded()?;
    let images = normalised(&mnist.test, 0..count);
    let logits = pollster::block_on(classifier.logits(&images))?;
    // Timed again, after the first call compiled the pipelines.
    let t0 = web_time::Instant::now();
    pollster::block_on(classifier.logits(&images))?;
    let inference_images_per_s = count as f64 / t0.elapsed().as_secs_f64();

    // The browser test's training run: 40 steps of 64 from seed 1.
    let mut training = Training::lenet5(&device, 64, 1e-3, 1)?;
    let mut steady_from = None;
    for step in 0..40 {
        pollster::block_on(training.step())?;
        // Steady state: the steps after the tenth, as the page measures.
        if step == 9 {
            steady_from = Some(web_time::Instant::now());
        }
    }
    let steady = steady_from.map(|t| 64.0 * 30.0 / t.elapsed().as_secs_f64());
    // An ONNX model through the import path: a convolution from ONNX's
    // operator tests, on fixed inputs.
    let onnx_path = args
        .get(3)
        .map_or("fuzz/corpus/onnx/test_Conv2d.onnx", String::as_str);
    let onnx_bytes = std::fs::read(onnx_path).map_err(|e| format!("{onnx_path}: {e}"))?;
    let mut onnx = Classifier::from_bytes(&device, &onnx_bytes)?;
    let per: usize = onnx.sample_shape.iter().product();
    let onnx_input: Vec<f32> = (0..2 * per).map(|i| (i as f32 * 0.37).sin()).collect();
    let onnx_output = pollster::block_on(onnx.logits(&onnx_input))?;

    let json = serde_json::json!({
        "onnx": { "input": onnx_input, "output": onnx_output, "sample_shape": onnx.sample_shape },
        "images": count,
        "logits": logits,
        "adapter": weft_web::adapter_json(&device),
        "inference_images_per_s": inference_images_per_s,
        "train_steady_images_per_s": steady,
    });
    std::fs::write(out, json.to_string()).map_err(|e| format!("{out}: {e}"))?;
    eprintln!("native reference: {count} images' logits written to {out}");
    Ok(())
}
