//! weft's device layer.
//!
//! It owns wgpu: adapter choice ([`Device::new`]) or wrapping a host's device
//! ([`Device::from_wgpu`]), tensors on pooled buffers ([`Tensor`], [`PoolStats`]),
//! transfers, compute pipelines compiled once and cached, recorded launches
//! ([`Device::dispatch`]), GPU timing ([`Device::time`]) and one typed [`Error`].
//!
//! ```no_run
//! # fn main() -> weft_device::Result<()> {
//! let device = weft_device::Device::from_env()?;
//! let x = device.tensor(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//! assert_eq!(x.to_f32_vec()?, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! # Ok(()) }
//! ```
//!
//! In a browser (wasm32, WebGPU) nothing may block: open the device with
//! [`Device::new_async`] and read results with the `_async` forms
//! ([`Device::read_f32_async`], [`Device::sync_async`]); the blocking forms
//! return [`Error::Blocking`] there.

// In a browser wgpu's handles are neither Send nor Sync (the page has one
// thread), so the Arcs that share them natively are plain shared pointers.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

mod caps;
mod device;
mod dispatch;
mod dtype;
mod error;
mod launch_profile;
mod options;
mod pipeline;
mod pool;
mod scope;
mod shader;
mod tensor;
mod timing;
mod transfer;
mod tuner;

pub use caps::{AdapterSummary, Caps, ComputeLimits, Feature};
pub use device::{Device, list_adapters, peer_adapters};
pub use dispatch::{Binding, Kernel, fold_grid};
pub use dtype::{DType, pack_f16, unpack_f16};
pub use error::{Error, Result, ShaderError, fmt_bytes};
pub use launch_profile::LaunchTime;
pub use options::{Backend, DeviceOptions, LimitOverrides, parse_bytes};
pub use pool::{PoolStats, size_class};
pub use shader::{Shader, ShaderFile};
pub use tensor::{BufferRange, Tensor, numel};
pub use timing::{Clock, Timing};
pub use transfer::{Drive, PendingRead};
pub use tuner::{MemoryTuner, TuneKey, TuneMode, TuneRecords, Tuner};

/// Re-export of the wgpu version weft is built on, for embedding applications.
pub use wgpu;
