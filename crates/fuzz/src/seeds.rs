//! Valid inputs for each target, made here so that the seeds follow the
//! formats as weft writes them; `fuzz/corpus/<target>/` holds them (written
//! by `cargo run -p weft-fuzz --example write-seeds`) beside real files and
//! every input that once found a bug.

use std::io::Write;
use std::path::{Path, PathBuf};

use weft_data::idx;
use weft_graph::checkpoint;

use crate::targets;

/// A raw IDX file: `magic`, then `dims` (big-endian), then `data`.
fn idx_file(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

/// IDX images and labels, raw and gzipped.
pub fn idx() -> Vec<Vec<u8>> {
    let images = idx_file(idx::IMAGES_MAGIC, &[2, 3, 3], &(0..18).collect::<Vec<u8>>());
    let labels = idx_file(idx::LABELS_MAGIC, &[4], &[3, 1, 4, 1]);
    vec![gzip(&images), gzip(&labels), images, labels]
}

/// A small gradient image as PNG (grey, RGB, RGBA) and JPEG.
pub fn image() -> Vec<Vec<u8>> {
    let rgb = image::RgbImage::from_fn(7, 5, |x, y| {
        image::Rgb([(x * 30) as u8, (y * 50) as u8, 99])
    });
    let encode = |img: image::DynamicImage, format: image::ImageFormat| {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("in memory");
        out.into_inner()
    };
    let dynamic = image::DynamicImage::ImageRgb8(rgb);
    vec![
        encode(dynamic.clone(), image::ImageFormat::Png),
        encode(
            image::DynamicImage::ImageLuma8(dynamic.to_luma8()),
            image::ImageFormat::Png,
        ),
        encode(
            image::DynamicImage::ImageRgba8(dynamic.to_rgba8()),
            image::ImageFormat::Png,
        ),
        encode(dynamic, image::ImageFormat::Jpeg),
    ]
}

/// Tuning caches as the command line writes them: empty, one adapter, two.
pub fn tune_cache() -> Vec<Vec<u8>> {
    let key = |adapter: &str, op: &str, class: &str| weft_device::TuneKey {
        adapter: adapter.into(),
        op: op.into(),
        class: class.into(),
        precision: "f32".into(),
    };
    let mut records = weft_device::TuneRecords::default();
    let empty = records.to_json().into_bytes();
    records.record(
        &key(
            "llvmpipe | vulkan | mesa 22",
            "gemm",
            "b0 m6 n6 k6 ta0 tb0 a1",
        ),
        "vec4_16x16_64x128",
    );
    let one = records.to_json().into_bytes();
    records.record(
        &key("H100 | vulkan | nvidia 550", "conv2d", "n3 c6 k3x3 s1"),
        "implicit",
    );
    records.record(
        &key("H100 | vulkan | nvidia 550", "rank_filter", "r2 f32"),
        "median5",
    );
    vec![empty, one, records.to_json().into_bytes()]
}

/// The tiny model's checkpoint as weft saves it, with its optimizer state.
pub fn checkpoint() -> Vec<Vec<u8>> {
    let path =
        std::env::temp_dir().join(format!("weft-fuzz-seed-{}.safetensors", std::process::id()));
    targets::with_tiny_model(|model, optimizer| {
        checkpoint::save(&path, model, Some(optimizer), &[]).expect("saving the seed checkpoint")
    });
    let bytes = std::fs::read(&path).expect("reading the seed checkpoint");
    let _ = std::fs::remove_file(&path);
    vec![bytes]
}

/// The committed corpus of `target` under `root` (`fuzz/corpus`), sorted by
/// name; empty when the folder is missing.
pub fn corpus(root: &Path, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(target))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// The generated seeds of `target` (ONNX seeds are real models, committed).
pub fn generated(target: &str) -> Vec<Vec<u8>> {
    match target {
        "checkpoint" => checkpoint(),
        "idx" => idx(),
        "image" => image(),
        "tune_cache" => tune_cache(),
        _ => Vec::new(),
    }
}
