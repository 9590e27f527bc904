//! weft's kernels: hand-written WGSL compute shaders (under `shaders/`), a Rust
//! launcher for each, and a CPU reference beside it.

pub mod peak;
pub mod shaders;
