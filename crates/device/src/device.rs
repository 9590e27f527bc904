//! The [`Device`]: adapter choice, device creation, and the state every other part
//! of the device layer shares (pool, pipeline cache, command batch, error sinks).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::caps::{AdapterSummary, Caps, ComputeLimits};
use crate::dispatch::Batch;
use crate::launch_profile::LaunchProfile;
use crate::pipeline::PipelineCache;
use crate::pool::{Pool, PoolStats};
use crate::scope::Scope;
use crate::tensor::BufferRange;
use crate::{Backend, DeviceOptions, Error, Feature, LaunchTime, Result, Tuner};

/// A GPU device weft runs kernels on. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Device {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub caps: Caps,
    pub gpu_timeout: std::time::Duration,
    pub launches_per_submit: u64,
    pub memory_budget: Option<u64>,
    /// Kernel variants disabled on this device (their shader failed to
    /// compile), by key, with the reason.
    pub disabled_variants: Mutex<std::collections::BTreeMap<String, String>>,
    /// Submissions the GPU has completed (counted by work-done callbacks).
    pub completed: Arc<std::sync::atomic::AtomicU64>,
    pub tuner: Arc<dyn Tuner>,
    /// Per-launch device times, when the options ask for them.
    pub launch_profile: Option<Mutex<LaunchProfile>>,
    pub pool: Mutex<Pool>,
    pub pipelines: Mutex<PipelineCache>,
    pub batch: Mutex<Batch>,
    /// Set by wgpu's device-lost callback.
    pub lost: Arc<Mutex<Option<String>>>,
    /// Errors that escaped every error scope, collected instead of panicking.
    pub uncaptured: Arc<Mutex<Vec<Error>>>,
    /// A small buffer for bindings a launch leaves unused (see
    /// [`Device::placeholder`]).
    pub placeholder: wgpu::Buffer,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the
/// guarded state (free lists, caches) stays consistent across our panics.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("adapter", &self.shared.caps.adapter.name)
            .field("backend", &self.shared.caps.adapter.backend)
            .finish()
    }
}

/// Size of [`Device::placeholder`]: one element of the widest array type a
/// shader declares (`vec4<f32>`, 16 bytes), with room to spare.
const PLACEHOLDER_BYTES: u64 = 256;

/// Preference of device types when no adapter is named: real GPUs first.
fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Among adapters of the same type, native compute APIs beat GL (which lacks f16
/// and subgroups on most drivers).
fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    }
}

/// The backends tried when none is named: the native APIs, or in a browser
/// the page's WebGPU.
fn default_backends() -> wgpu::Backends {
    if cfg!(target_arch = "wasm32") {
        wgpu::Backends::BROWSER_WEBGPU
    } else {
        wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12 | wgpu::Backends::GL
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        flags: wgpu::InstanceFlags::from_build_config().with_env(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

/// Every adapter the native backends expose, in weft's order of preference.
pub fn list_adapters(backend: Option<crate::Backend>) -> Vec<AdapterSummary> {
    let (_, _, adapters) = pollster::block_on(candidates(&DeviceOptions {
        backend,
        ..DeviceOptions::default()
    }));
    adapters
        .iter()
        .map(|a| AdapterSummary::from_info(&a.get_info()))
        .collect()
}

/// The adapters `options` can open, in weft's preference order: discrete
/// GPUs, integrated, virtual, CPU; native APIs before GL.
async fn candidates(options: &DeviceOptions) -> (wgpu::Backends, usize, Vec<wgpu::Adapter>) {
    let backends = options.backend.map_or_else(default_backends, |b| b.wgpu());
    let mut adapters = instance(backends).enumerate_adapters(backends).await;
    let found = adapters.len();
    if let Some(name) = &options.adapter_name {
        let needle = name.to_lowercase();
        adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
    }
    adapters.sort_by_key(|a| {
        let info = a.get_info();
        (type_rank(info.device_type), backend_rank(info.backend))
    });
    (backends, found, adapters)
}

/// Options for one device on each adapter of the kind `options` picks
/// first (its backend and device type, e.g. every discrete GPU on Vulkan),
/// each pinned to its adapter: one data-parallel worker per GPU. Empty when
/// no adapter matches.
pub fn peer_adapters(options: &DeviceOptions) -> Vec<DeviceOptions> {
    let (_, _, adapters) = pollster::block_on(candidates(&DeviceOptions {
        adapter_index: None,
        ..options.clone()
    }));
    let Some(first) = adapters.first().map(|a| a.get_info()) else {
        return Vec::new();
    };
    let Some(backend) = Backend::from_wgpu(first.backend) else {
        return Vec::new();
    };
    let peers = adapters
        .iter()
        .filter(|a| {
            let info = a.get_info();
            info.backend == first.backend && info.device_type == first.device_type
        })
        .count();
    (0..peers)
        .map(|i| DeviceOptions {
            backend: Some(backend),
            adapter_index: Some(i),
            ..options.clone()
        })
        .collect()
}

impl Device {
    /// Opens the preferred adapter (see [`DeviceOptions`]) with its own limits and
    /// every optional feature weft's kernels can use. Blocks until the driver
    /// answers; in a browser use [`new_async`](Self::new_async).
    pub fn new(options: DeviceOptions) -> Result<Device> {
        if cfg!(target_arch = "wasm32") {
            return Err(Error::Blocking {
                what: "Device::new".into(),
                instead: "Device::new_async".into(),
            });
        }
        pollster::block_on(Self::new_async(options))
    }

    /// Async form of [`new`](Self::new), the one that runs in a browser.
    pub async fn new_async(options: DeviceOptions) -> Result<Device> {
        let (backends, found, adapters) = candidates(&options).await;
        let matching = adapters.len();
        let Some(adapter) = adapters.into_iter().nth(options.adapter_index.unwrap_or(0)) else {
            let mut detail = format!("{found} adapter(s) on backends {backends:?}");
            if let Some(name) = &options.adapter_name {
                detail.push_str(&format!(", none named like \"{name}\""));
            }
            if let Some(i) = options.adapter_index.filter(|_| matching > 0) {
                detail.push_str(&format!(
                    ", {matching} matching, asked for number {i} (from 0)"
                ));
            }
            if found == 0 && cfg!(target_arch = "wasm32") {
                detail.push_str(
                    "; this browser offers no WebGPU adapter (WebGPU may be disabled, \
                     or the page is not served from a secure context)",
                );
            } else if found == 0 {
                detail.push_str(
                    "; install a Vulkan driver (on Debian: apt-get install mesa-vulkan-drivers) \
                     or pick another backend with WEFT_BACKEND",
                );
            }
            return Err(Error::NoAdapter(detail));
        };

        let info = adapter.get_info();
        let adapter_features = adapter.features();
        let mut wanted = wgpu::Features::empty();
        for f in Feature::ALL {
            if adapter_features.contains(f.wgpu_features())
                && !options.disabled_features.contains(&f)
            {
                wanted |= f.wgpu_features();
            }
        }
        if wanted.contains(wgpu::Features::SUBGROUP)
            && adapter_features.contains(wgpu::Features::SUBGROUP_BARRIER)
        {
            wanted |= wgpu::Features::SUBGROUP_BARRIER;
        }

        let mut limits = adapter.limits();
        let o = options.limits;
        if let Some(v) = o.max_storage_buffer_binding_size {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(v);
        }
        if let Some(v) = o.max_compute_workgroups_per_dimension {
            limits.max_compute_workgroups_per_dimension =
                limits.max_compute_workgroups_per_dimension.min(v);
        }
        if let Some(v) = o.max_buffer_size {
            limits.max_buffer_size = limits.max_buffer_size.min(v);
        }
        if let Some(v) = o.max_storage_buffers_per_shader_stage {
            limits.max_storage_buffers_per_shader_stage =
                limits.max_storage_buffers_per_shader_stage.min(v);
        }
        if let Some(v) = o.max_compute_invocations_per_workgroup {
            limits.max_compute_invocations_per_workgroup =
                limits.max_compute_invocations_per_workgroup.min(v);
        }

        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("weft"),
                required_features: wanted,
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: info.name.clone(),
                reason: e.to_string(),
            })?;

        let adapter_feature_list = Feature::ALL
            .into_iter()
            .filter(|f| adapter_features.contains(f.wgpu_features()))
            .collect();
        let dev = Self::assemble(device, queue, &info, adapter_feature_list, &options);
        // We own this device: route anything that escapes an error scope into our
        // error list instead of wgpu's default handler, which panics.
        let sink = dev.shared.uncaptured.clone();
        dev.shared
            .device
            .on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                lock(&sink).push(Error::from_wgpu(e));
            }));
        Ok(dev)
    }

    /// Opens the device chosen by `WEFT_BACKEND` / `WEFT_ADAPTER`, or the preferred one.
    pub fn from_env() -> Result<Device> {
        Device::new(DeviceOptions::from_env()?)
    }

    /// Wraps a device and queue that a host application already owns, so weft can
    /// run as that application's accelerator backend. weft uses the features and
    /// limits the device was created with, catches its own errors with error scopes
    /// and leaves the host's uncaptured-error handler alone. The host keeps using
    /// the device as before.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Device {
        Self::from_wgpu_with(device, queue, &DeviceOptions::default())
    }

    /// [`from_wgpu`](Self::from_wgpu) with the options that apply to a device
    /// the host created: the GPU timeout, the submission size and the tuner. (Adapter choice,
    /// limits and features are the host's.)
    pub fn from_wgpu_with(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: &DeviceOptions,
    ) -> Device {
        let info = device.adapter_info();
        let features = device.features();
        let present = Feature::ALL
            .into_iter()
            .filter(|f| features.contains(f.wgpu_features()))
            .collect();
        Self::assemble(device, queue, &info, present, options)
    }

    fn assemble(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: &wgpu::AdapterInfo,
        adapter_features: Vec<Feature>,
        options: &DeviceOptions,
    ) -> Device {
        let enabled = device.features();
        let features = Feature::ALL
            .into_iter()
            .filter(|f| enabled.contains(f.wgpu_features()))
            .collect();
        let caps = Caps {
            adapter: AdapterSummary::from_info(info),
            features,
            adapter_features,
            limits: ComputeLimits::from_wgpu(&device.limits()),
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
        };
        let lost = Arc::new(Mutex::new(None));
        let lost_flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *lock(&lost_flag) = Some(format!("{reason:?} {message}").trim().to_string());
        });
        let batch = Batch::new(&caps.limits);
        let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("weft-placeholder"),
            size: PLACEHOLDER_BYTES,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Device {
            shared: Arc::new(Shared {
                device,
                queue,
                caps,
                gpu_timeout: options.gpu_timeout,
                launches_per_submit: options.launches_per_submit.max(1),
                memory_budget: options.memory_budget,
                disabled_variants: Mutex::new(Default::default()),
                completed: Arc::new(std::sync::atomic::AtomicU64::new(0)),
                tuner: options.tuner.clone(),
                launch_profile: options
                    .profile_launches
                    .then(|| Mutex::new(LaunchProfile::default())),
                pool: Mutex::new(Pool::default()),
                pipelines: Mutex::new(PipelineCache::with_overrides(
                    options.shader_overrides.clone(),
                )),
                batch: Mutex::new(batch),
                lost,
                uncaptured: Arc::new(Mutex::new(Vec::new())),
                placeholder,
            }),
        }
    }

    /// A binding for a buffer the shader declares but this launch never
    /// touches (the other branch of an override constant, say). WebGPU
    /// refuses two writable bindings over one buffer, so such a binding
    /// cannot simply repeat another; this small buffer outside the pool
    /// stands in (it is never read or written).
    pub fn placeholder(&self) -> BufferRange<'_> {
        BufferRange {
            buffer: &self.shared.placeholder,
            offset: 0,
            size: PLACEHOLDER_BYTES,
        }
    }

    /// Device time per kernel since the last call, longest first; empty unless
    /// the device was created with `profile_launches`.
    pub fn take_launch_profile(&self) -> Vec<LaunchTime> {
        self.shared
            .launch_profile
            .as_ref()
            .map(|p| lock(p).take())
            .unwrap_or_default()
    }

    /// Where the kernels find and record their measured variant choices.
    pub fn tuner(&self) -> &dyn Tuner {
        self.shared.tuner.as_ref()
    }

    /// What the device is and can do.
    pub fn caps(&self) -> &Caps {
        &self.shared.caps
    }

    /// The device's limits as enforced (adapter limits, possibly lowered).
    pub fn limits(&self) -> &ComputeLimits {
        &self.shared.caps.limits
    }

    /// Whether an optional feature is enabled.
    pub fn has(&self, feature: Feature) -> bool {
        self.shared.caps.has(feature)
    }

    /// Errors with [`Error::MissingFeature`] unless `feature` is enabled.
    pub fn require(&self, op: &str, feature: Feature) -> Result<()> {
        if self.has(feature) {
            Ok(())
        } else {
            Err(Error::MissingFeature {
                op: op.to_string(),
                feature,
                adapter: self.shared.caps.adapter.name.clone(),
            })
        }
    }

    /// The underlying wgpu device, for interop.
    pub fn wgpu_device(&self) -> &wgpu::Device {
        &self.shared.device
    }

    /// The underlying wgpu queue, for interop.
    pub fn wgpu_queue(&self) -> &wgpu::Queue {
        &self.shared.queue
    }

    /// Whether two handles refer to the same device.
    pub fn same(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The memory budget live tensors must stay within, if any (see
    /// [`DeviceOptions::memory_budget`]).
    pub fn memory_budget(&self) -> Option<u64> {
        self.shared.memory_budget
    }

    /// Why the kernel variant `key` (`op/variant/precision`) is disabled on
    /// this device, if it is.
    pub fn variant_disabled(&self, key: &str) -> Option<String> {
        lock(&self.shared.disabled_variants).get(key).cloned()
    }

    /// Disables the kernel variant `key` on this device (its shader does not
    /// compile here) and logs why on stderr, once; returns whether it was
    /// newly disabled.
    pub fn disable_variant(&self, key: &str, reason: &str) -> bool {
        let mut disabled = lock(&self.shared.disabled_variants);
        if disabled.contains_key(key) {
            return false;
        }
        eprintln!("weft: warning: kernel variant {key} disabled on this device: {reason}");
        disabled.insert(key.to_string(), reason.to_string());
        true
    }

    /// Whether any kernel variant is disabled on this device (a cheap test
    /// before building keys).
    pub fn has_disabled_variants(&self) -> bool {
        !lock(&self.shared.disabled_variants).is_empty()
    }

    /// The kernel variants disabled on this device, with their reasons.
    pub fn disabled_variants(&self) -> Vec<(String, String)> {
        lock(&self.shared.disabled_variants)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Buffer pool statistics.
    pub fn pool_stats(&self) -> PoolStats {
        lock(&self.shared.pool).stats()
    }

    /// Restarts peak tracking from the bytes live now.
    pub fn reset_peak(&self) {
        lock(&self.shared.pool).reset_peak();
    }

    /// Gives every cached (unused) buffer back to wgpu; returns the bytes freed.
    pub fn trim(&self) -> u64 {
        lock(&self.shared.pool).trim()
    }

    /// Number of distinct pipelines compiled so far.
    pub fn pipelines_compiled(&self) -> u64 {
        lock(&self.shared.pipelines).compiled()
    }

    /// Destroys the device: pending work is abandoned and every later call
    /// fails with [`Error::DeviceLost`] at once. (wgpu reports the loss of a
    /// device destroyed through [`wgpu_device`](Self::wgpu_device) only once
    /// its queue has drained; until then calls fail with validation errors.)
    pub fn destroy(&self) {
        lock(&self.shared.lost).get_or_insert_with(|| "destroyed by the application".into());
        self.shared.device.destroy();
    }

    /// Errors with [`Error::DeviceLost`] if the device has been lost, or with the
    /// first error that escaped wgpu's error scopes since the last check.
    pub fn check(&self) -> Result<()> {
        if let Some(reason) = lock(&self.shared.lost).clone() {
            return Err(Error::DeviceLost(reason));
        }
        let first = {
            let mut errs = lock(&self.shared.uncaptured);
            let first = (!errs.is_empty()).then(|| errs.remove(0));
            errs.clear();
            first
        };
        match first {
            Some(e) => Err(self.classify(e)),
            None => Ok(()),
        }
    }

    /// Turns an error wgpu reported into weft's, preferring [`Error::DeviceLost`]:
    /// on a lost device every call fails validation, and the lost callback only
    /// fires when the device is polled.
    pub(crate) fn classify(&self, err: Error) -> Error {
        let _ = self.shared.device.poll(wgpu::PollType::Poll);
        match lock(&self.shared.lost).clone() {
            Some(reason) => Error::DeviceLost(reason),
            None => err,
        }
    }

    /// Checks `bytes` against `max_buffer_size` before wgpu sees it: wgpu hands back
    /// a valid-looking handle for an oversized buffer.
    pub(crate) fn check_buffer_size(&self, op: &str, bytes: u64) -> Result<()> {
        let limit = self.shared.caps.limits.max_buffer_size;
        if bytes > limit {
            return Err(Error::BufferTooLarge {
                op: op.to_string(),
                requested: bytes,
                limit,
            });
        }
        Ok(())
    }

    /// Creates a raw wgpu buffer inside an error scope, mapping failures to typed errors.
    pub(crate) fn create_buffer(
        &self,
        op: &str,
        label: &str,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer> {
        self.check_buffer_size(op, size)?;
        let dev = &self.shared.device;
        let oom = Scope::push(dev, wgpu::ErrorFilter::OutOfMemory);
        let validation = Scope::push(dev, wgpu::ErrorFilter::Validation);
        let buffer = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        });
        let v = validation.pop();
        let o = oom.pop();
        if let Some(e) = o.or(v) {
            return Err(match self.classify(Error::from_wgpu(e)) {
                Error::OutOfMemory(detail) => {
                    Error::OutOfMemory(format!("{op}: allocating {size} bytes: {detail}"))
                }
                other => other,
            });
        }
        Ok(buffer)
    }
}
