//! Helpers the command-line tests share.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

/// Tensor bytes by name (sorted), and the metadata, of a safetensors file.
pub type FileContents = (Vec<(String, Vec<u8>)>, HashMap<String, String>);

/// Every tensor of a safetensors file, as bytes by name, and its metadata.
pub fn tensors_of(path: &Path) -> FileContents {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    out.sort();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    (out, meta.metadata().clone().unwrap_or_default())
}

/// Little-endian f32 values of a tensor's bytes.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// A short training run on the embedded subset (one epoch of 512 images,
/// batches of 32), the one the data-parallel tests compare across workers.
pub const SHORT_TRAIN: [&str; 8] = [
    "train",
    "--no-download",
    "--epochs",
    "1",
    "--limit",
    "512",
    "--batch",
    "32",
];
