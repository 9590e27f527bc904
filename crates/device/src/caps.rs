//! What the chosen adapter is and what it can do.

use std::fmt;

/// Optional device features that weft's kernels use when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Native `f16` arithmetic in shaders (`enable f16;`).
    ShaderF16,
    /// Subgroup builtins (`subgroupAdd`, shuffles, ...).
    Subgroups,
    /// GPU timestamps around passes and inside encoders.
    TimestampQuery,
}

impl Feature {
    /// Every optional feature weft knows about.
    pub const ALL: [Feature; 3] = [
        Feature::ShaderF16,
        Feature::Subgroups,
        Feature::TimestampQuery,
    ];

    /// The wgpu features this weft feature needs.
    pub(crate) fn wgpu_features(self) -> wgpu::Features {
        match self {
            Feature::ShaderF16 => wgpu::Features::SHADER_F16,
            Feature::Subgroups => wgpu::Features::SUBGROUP,
            Feature::TimestampQuery => {
                wgpu::Features::TIMESTAMP_QUERY
                    | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
                    | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            }
        }
    }

    /// Stable lowercase name, used in `weft info` and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Feature::ShaderF16 => "shader-f16",
            Feature::Subgroups => "subgroups",
            Feature::TimestampQuery => "timestamp-query",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The limits that matter for compute, as enforced on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputeLimits {
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_uniform_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_workgroup_size_y: u32,
    pub max_compute_workgroup_size_z: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub min_storage_buffer_offset_alignment: u32,
    pub min_uniform_buffer_offset_alignment: u32,
}

impl ComputeLimits {
    pub(crate) fn from_wgpu(l: &wgpu::Limits) -> Self {
        ComputeLimits {
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_uniform_buffer_binding_size: l.max_uniform_buffer_binding_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
            max_compute_workgroup_size_y: l.max_compute_workgroup_size_y,
            max_compute_workgroup_size_z: l.max_compute_workgroup_size_z,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            min_storage_buffer_offset_alignment: l.min_storage_buffer_offset_alignment,
            min_uniform_buffer_offset_alignment: l.min_uniform_buffer_offset_alignment,
        }
    }

    /// `(name, value)` pairs in a fixed order, for printing.
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("max_buffer_size", self.max_buffer_size),
            (
                "max_storage_buffer_binding_size",
                self.max_storage_buffer_binding_size,
            ),
            (
                "max_uniform_buffer_binding_size",
                self.max_uniform_buffer_binding_size,
            ),
            (
                "max_storage_buffers_per_shader_stage",
                self.max_storage_buffers_per_shader_stage.into(),
            ),
            (
                "max_compute_workgroups_per_dimension",
                self.max_compute_workgroups_per_dimension.into(),
            ),
            (
                "max_compute_invocations_per_workgroup",
                self.max_compute_invocations_per_workgroup.into(),
            ),
            (
                "max_compute_workgroup_size_x",
                self.max_compute_workgroup_size_x.into(),
            ),
            (
                "max_compute_workgroup_size_y",
                self.max_compute_workgroup_size_y.into(),
            ),
            (
                "max_compute_workgroup_size_z",
                self.max_compute_workgroup_size_z.into(),
            ),
            (
                "max_compute_workgroup_storage_size",
                self.max_compute_workgroup_storage_size.into(),
            ),
            (
                "min_storage_buffer_offset_alignment",
                self.min_storage_buffer_offset_alignment.into(),
            ),
            (
                "min_uniform_buffer_offset_alignment",
                self.min_uniform_buffer_offset_alignment.into(),
            ),
        ]
    }
}

/// Description of an adapter: what `weft info` lists for every adapter found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub vendor: u32,
    pub device: u32,
}

impl AdapterSummary {
    /// Name, backend and driver in one string: what measurements made on this
    /// adapter are recorded under.
    pub fn key(&self) -> String {
        format!(
            "{} | {} | {} {}",
            self.name, self.backend, self.driver, self.driver_info
        )
    }

    pub(crate) fn from_info(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: backend_name(info.backend).to_string(),
            device_type: device_type_name(info.device_type).to_string(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            vendor: info.vendor,
            device: info.device,
        }
    }
}

/// Capabilities of the device weft runs on.
#[derive(Debug, Clone)]
pub struct Caps {
    pub adapter: AdapterSummary,
    /// Optional features enabled on the device.
    pub features: Vec<Feature>,
    /// Optional features the adapter offers (a superset of `features` unless some were
    /// turned off by [`DeviceOptions`](crate::DeviceOptions)).
    pub adapter_features: Vec<Feature>,
    pub limits: ComputeLimits,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
}

impl Caps {
    /// Whether the device has `feature` enabled.
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }
}

pub(crate) fn backend_name(b: wgpu::Backend) -> &'static str {
    match b {
        wgpu::Backend::Vulkan => "vulkan",
        wgpu::Backend::Metal => "metal",
        wgpu::Backend::Dx12 => "dx12",
        wgpu::Backend::Gl => "gl",
        wgpu::Backend::BrowserWebGpu => "webgpu",
        wgpu::Backend::Noop => "noop",
    }
}

pub(crate) fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}
