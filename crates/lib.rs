//! weft: a GPU compute engine for convolutional neural networks, written in Rust
//! on wgpu, with every kernel a hand-written WGSL compute shader.
//!
//! - [`device`]: adapters, tensors on pooled buffers, transfers, pipelines,
//!   dispatch, timing, typed errors.
//! - [`kernels`]: the WGSL kernels, their launchers and CPU references.
//! - [`graph`]: networks, autodiff, memory-planned schedules, optimizers.
//! - [`onnx`]: ONNX import (models trained elsewhere as weft graphs).
//! - [`data`]: MNIST and image-folder loading, GPU-side batches with
//!   augmentation (the `data` feature, on by default; `download` adds
//!   fetching MNIST over HTTP).
//!
//! An application that only runs networks depends on `weft` with
//! `default-features = false`: no data sets, no HTTP client, no progress bars.

#[cfg(feature = "data")]
pub use weft_data as data;
pub use weft_device as device;
pub use weft_graph as graph;
pub use weft_kernels as kernels;
pub use weft_onnx as onnx;

pub use weft_device::{DType, Device, DeviceOptions, Drive, Error, Result, Tensor};

/// The Rust examples of the fine-tuning guide, compiled as doctests.
#[cfg(all(doctest, feature = "data"))]
#[doc = include_str!("../docs/FINETUNE.md")]
pub struct FinetuneGuide;
