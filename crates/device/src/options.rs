//! How a [`Device`](crate::Device) is chosen and configured.

use std::sync::Arc;
use std::time::Duration;

use crate::{Error, Feature, MemoryTuner, Result, Tuner};

/// A native graphics API that wgpu can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl Backend {
    /// Parses `vulkan`, `metal`, `dx12` or `gl` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(Backend::Vulkan),
            "metal" | "mtl" => Ok(Backend::Metal),
            "dx12" | "d3d12" => Ok(Backend::Dx12),
            "gl" | "gles" | "opengl" => Ok(Backend::Gl),
            other => Err(Error::invalid(
                "device",
                "backend",
                format!("unknown backend \"{other}\" (expected vulkan, metal, dx12 or gl)"),
            )),
        }
    }

    pub(crate) fn from_wgpu(b: wgpu::Backend) -> Option<Backend> {
        match b {
            wgpu::Backend::Vulkan => Some(Backend::Vulkan),
            wgpu::Backend::Metal => Some(Backend::Metal),
            wgpu::Backend::Dx12 => Some(Backend::Dx12),
            wgpu::Backend::Gl => Some(Backend::Gl),
            _ => None,
        }
    }

    pub(crate) fn wgpu(self) -> wgpu::Backends {
        match self {
            Backend::Vulkan => wgpu::Backends::VULKAN,
            Backend::Metal => wgpu::Backends::METAL,
            Backend::Dx12 => wgpu::Backends::DX12,
            Backend::Gl => wgpu::Backends::GL,
        }
    }
}

/// Limits to impose below the adapter's own. wgpu enforces lowered limits, which
/// lets tests drive the binding-window and grid-folding paths with small tensors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    pub max_storage_buffer_binding_size: Option<u64>,
    pub max_compute_workgroups_per_dimension: Option<u32>,
    pub max_buffer_size: Option<u64>,
    /// Storage buffers one kernel may bind (WebGPU guarantees 8).
    pub max_storage_buffers_per_shader_stage: Option<u32>,
    /// Invocations in one workgroup (WebGPU guarantees 256).
    pub max_compute_invocations_per_workgroup: Option<u32>,
}

impl LimitOverrides {
    /// The limits every WebGPU implementation guarantees (the defaults a
    /// browser grants when a page asks for nothing more): run natively with
    /// these to check that weft fits in any browser.
    pub fn webgpu_defaults() -> LimitOverrides {
        LimitOverrides {
            max_storage_buffer_binding_size: Some(128 << 20),
            max_compute_workgroups_per_dimension: Some(65535),
            max_buffer_size: Some(256 << 20),
            max_storage_buffers_per_shader_stage: Some(8),
            max_compute_invocations_per_workgroup: Some(256),
        }
    }
}

/// Options for [`Device::new`](crate::Device::new).
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Restrict adapter search to one backend. `None`: all native backends.
    pub backend: Option<Backend>,
    /// Only adapters whose name contains this (case-insensitive) are considered.
    pub adapter_name: Option<String>,
    /// Take the adapter at this place of weft's preference order (after the
    /// backend and name filters) rather than the first; see
    /// [`peer_adapters`](crate::peer_adapters).
    pub adapter_index: Option<usize>,
    /// Lower the device's limits below the adapter's.
    pub limits: LimitOverrides,
    /// Optional features not to enable even if the adapter has them (for testing
    /// fallbacks, or to compare variants).
    pub disabled_features: Vec<Feature>,
    /// How long a wait (a readback, [`Device::sync`](crate::Device::sync))
    /// may see the GPU complete none of the work submitted to it before it
    /// reports the device as hung ([`Error::Timeout`](crate::Error::Timeout)).
    /// A long queue is no error as long as work keeps completing; long steps
    /// are submitted in parts (see `launches_per_submit`) so that it does.
    pub gpu_timeout: Duration,
    /// Launches recorded before the open batch is submitted on its own, so
    /// that the GPU starts on long steps while the rest is recorded and waits
    /// can see progress. Default 128.
    pub launches_per_submit: u64,
    /// Where the kernels find (and record) their measured variant choices.
    /// Default: a [`MemoryTuner`] in [`TuneMode::Cache`](crate::TuneMode::Cache)
    /// mode, empty, so every op uses its fixed default.
    pub tuner: Arc<dyn Tuner>,
    /// Submit and wait for every launch on its own, recording its device time
    /// per kernel (read with [`Device::take_launch_profile`](crate::Device::take_launch_profile)).
    /// Serialises the device: for finding hot kernels, not for timing.
    pub profile_launches: bool,
    /// Device memory weft may hold in live tensors at once, in bytes (`None`:
    /// no budget; wgpu cannot say how much memory a device has). A model
    /// refuses a step whose planned peak exceeds it before allocating
    /// anything, and an allocation past it is [`Error::OverBudget`](crate::Error::OverBudget)
    /// rather than a driver failure. From `WEFT_MEMORY_BUDGET` (`512MiB`, `2GiB`, bytes).
    pub memory_budget: Option<u64>,
    /// Replacement texts for `.wgsl` files, by path under `shaders/`
    /// (`"gemm/gemm_tiled.wgsl"`), used by every shader compiled on this
    /// device: to try a modified kernel without rebuilding, or to see how
    /// weft meets a shader a driver rejects (the variant is disabled and
    /// another row of its table runs instead).
    pub shader_overrides: Vec<(String, String)>,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            backend: None,
            adapter_name: None,
            adapter_index: None,
            limits: LimitOverrides::default(),
            disabled_features: Vec::new(),
            gpu_timeout: Duration::from_secs(60),
            launches_per_submit: 128,
            tuner: Arc::new(MemoryTuner::default()),
            profile_launches: false,
            memory_budget: None,
            shader_overrides: Vec::new(),
        }
    }
}

impl DeviceOptions {
    /// Defaults, then `WEFT_BACKEND` (vulkan, metal, dx12, gl) and `WEFT_ADAPTER`
    /// (a substring of the adapter's name) from the environment.
    pub fn from_env() -> Result<Self> {
        let mut options = DeviceOptions::default();
        if let Some(b) = env_nonempty("WEFT_BACKEND") {
            options.backend = Some(Backend::parse(&b)?);
        }
        options.adapter_name = env_nonempty("WEFT_ADAPTER");
        if let Some(b) = env_nonempty("WEFT_MEMORY_BUDGET") {
            options.memory_budget = Some(parse_bytes(&b).ok_or_else(|| {
                Error::invalid(
                    "device",
                    "WEFT_MEMORY_BUDGET",
                    format!("expected a size such as 512MiB, 2GiB or 1000000 (bytes), got \"{b}\""),
                )
            })?);
        }
        Ok(options)
    }
}

/// A size in bytes: a number with an optional unit (`B`, `KB`, `KiB`, `MB`,
/// `MiB`, `GB`, `GiB`, `TB`, `TiB`; case-insensitive, spaces allowed).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" => 1024.0,
        "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let bytes = (value * scale).round();
    (value.is_finite() && bytes <= u64::MAX as f64).then_some(bytes as u64)
}

fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}
