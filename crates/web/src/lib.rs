//! weft in the browser: the same kernels on the page's WebGPU.
//!
//! Everything here is plain async Rust over weft's public API, so the native
//! tests and the native reference run (`examples/native_reference.rs`) execute
//! exactly the code the page does; only [`bindings`] is browser-specific
//! (wasm-bindgen glue). Nothing blocks: each call that waits for the GPU
//! awaits it ([`Device::new_async`](weft::Device::new_async),
//! [`Device::read_f32_async`](weft::Device::read_f32_async)), which native
//! callers drive with any executor (`pollster::block_on`).

pub mod classifier;
pub mod selftest;
pub mod training;

#[cfg(target_arch = "wasm32")]
mod bindings;

pub use classifier::Classifier;
pub use selftest::Check;
pub use training::{StepStats, Training};

/// The adapter a device runs on, for the page to show.
pub fn adapter_json(device: &weft::Device) -> serde_json::Value {
    let caps = device.caps();
    serde_json::json!({
        "name": caps.adapter.name,
        "backend": caps.adapter.backend,
        "device_type": caps.adapter.device_type,
        "max_storage_buffers_per_stage": caps.limits.max_storage_buffers_per_shader_stage,
        "max_storage_binding_bytes": caps.limits.max_storage_buffer_binding_size,
        "max_workgroup_invocations": caps.limits.max_compute_invocations_per_workgroup,
        "features": caps.features.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>(),
    })
}

/// The device pool's bytes now (live, peak, held by the pool).
pub fn pool_json(device: &weft::Device) -> serde_json::Value {
    let s = device.pool_stats();
    serde_json::json!({
        "live_bytes": s.live_bytes,
        "peak_live_bytes": s.peak_live_bytes,
        "held_bytes": s.held_bytes,
    })
}
