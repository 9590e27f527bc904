//! Real pretrained CNNs, end to end: PP-OCR's text-direction classifier (a
//! MobileNetV3: squeeze-and-excitation gates, hard-swish written out as
//! `x · clip(x + 3, 0, 6) / 6`, hard sigmoid) and its v4 text detector (a DB
//! network: MobileNetV3 backbone, FPN with nearest `Resize`, transposed
//! convolutions), from the `rapidocr_onnxruntime` wheel on PyPI.
//! `tools/ocr-models` fetches the two model files once into a cache (or set
//! `WEFT_OCR_MODELS` to a directory holding them).
//!
//! The inputs (text lines written with MNIST digits) and ONNX Runtime's
//! outputs live in `tests/data/pp-ocr`, written by
//! `tools/ocr-reference/generate.py`. weft must match them within
//! |got − want| ≤ ATOL + RTOL·|want|, and predict the same text direction.

mod common;

use std::path::{Path, PathBuf};

use weft_device::{DType, Device};
use weft_onnx::{ImportOptions, import_file, read_tensor};

/// Bounds on the difference from ONNX Runtime: f32 kernels that sum in a
/// different order than the reference runtime, through ~60 layers.
const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-4;

fn models_dir() -> Option<PathBuf> {
    common::fetched("WEFT_OCR_MODELS", "ocr-models")
}

fn data(case: &str, file: &str) -> (Vec<usize>, Vec<f32>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pp-ocr")
        .join(case)
        .join(file);
    read_tensor(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))).unwrap()
}

/// Imports `model` for inputs like `case`'s, runs it and compares with the
/// reference output. Returns weft's output.
fn check(device: &Device, dir: &Path, model: &str, case: &str) -> Vec<f32> {
    let (dims, x) = data(case, "input_0.pb");
    let (want_dims, want) = data(case, "output_0.pb");
    let options = ImportOptions {
        input_shape: Some(dims[1..].to_vec()),
    };
    let imported = import_file(&dir.join(model), &options)
        .unwrap_or_else(|e| panic!("importing {model}: {e}"));
    eprintln!(
        "{model}: {} layers, {} weights",
        imported.graph.nodes().len(),
        imported.weights.len()
    );
    let mut m = imported.into_model(device).unwrap();
    let input = device.upload_f32(&dims, DType::F32, &x).unwrap();
    let out = m.forward(&[&input]).unwrap();
    assert_eq!(
        out[0].shape().iter().product::<usize>(),
        want_dims.iter().product::<usize>(),
        "{case}: output {:?} vs reference {want_dims:?}",
        out[0].shape()
    );
    let got = device.read_f32(&out[0]).unwrap();
    let mut worst = 0.0f64;
    let mut max_abs = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let (g, w) = (g as f64, w as f64);
        let err = (g - w).abs();
        let bound = ATOL + RTOL * w.abs();
        assert!(
            err <= bound,
            "{case}: element {i}: got {g}, want {w} (bound {bound:e})"
        );
        worst = worst.max(err / bound);
        max_abs = max_abs.max(err);
    }
    eprintln!("{case}: max |Δ| {max_abs:.3e}, worst {worst:.3} of the bound");
    got
}

#[test]
fn pp_ocr_models_match_onnx_runtime() {
    let Some(dir) = models_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "OCR models unavailable (tools/ocr-models failed)"
        );
        eprintln!("skipped: OCR models unavailable and not in CI");
        return;
    };
    let device = Device::from_env().unwrap();

    // Direction classifier: probabilities of 0° and 180° for an upright line,
    // the same line turned over, and noise.
    let got = check(&device, &dir, "ch_ppocr_mobile_v2.0_cls_infer.onnx", "cls");
    let (_, want) = data("cls", "output_0.pb");
    for (k, (g, w)) in got.chunks(2).zip(want.chunks(2)).enumerate() {
        let top = |p: &[f32]| usize::from(p[1] > p[0]);
        assert_eq!(top(g), top(w), "image {k}: direction {g:?} vs {w:?}");
    }
    assert_ne!(
        usize::from(got[1] > got[0]),
        usize::from(got[3] > got[2]),
        "a line and the line turned over must get opposite directions"
    );

    // Detector: the text-probability map, same pixels above DB's 0.3 threshold.
    let got = check(&device, &dir, "ch_PP-OCRv4_det_infer.onnx", "det");
    let (_, want) = data("det", "output_0.pb");
    let text = |p: &[f32]| p.iter().filter(|&&v| v > 0.3).count();
    let (g, w) = (text(&got), text(&want));
    assert!(w > 100, "the reference finds text ({w} pixels)");
    assert!(
        g.abs_diff(w) <= w / 1000 + 2,
        "text pixels: weft {g}, reference {w}"
    );
}
