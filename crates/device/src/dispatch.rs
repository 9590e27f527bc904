//! Recording kernel launches.
//!
//! Launches are recorded into one command encoder and one compute pass, and
//! submitted together when the caller needs a result (a readback), uploads data,
//! calls [`Device::flush`], or when `launches_per_submit` launches are pending
//! (so that the GPU starts on long steps while the rest is recorded, and waits
//! see submissions complete). On lavapipe a dispatch in a shared pass costs
//! ~32 µs against ~100 µs with a submit per dispatch.
//!
//! Waits never time out healthy work: they poll in slices and give up
//! only when no submission has completed for the device's `gpu_timeout`, or at
//! once when the device is lost.
//!
//! Each launch's parameter block goes into a shared uniform arena that is written
//! with one `write_buffer` per chunk just before the submit.
//!
//! Grids: every weft kernel computes a *flat* workgroup index from
//! `workgroup_id` and `num_workgroups` (see `shaders/common/grid.wgsl`), so a
//! launch of any number of workgroups is folded into up to three dimensions that
//! each respect `max_compute_workgroups_per_dimension`. Kernels ignore workgroups
//! past their work (the fold can overshoot by less than one row).

use std::sync::Arc;

use crate::caps::ComputeLimits;
use crate::device::lock;
use crate::pipeline::{BindingKind, Pipeline};
use crate::scope::Scope;
use crate::shader::Shader;
use crate::tensor::BufferRange;
use crate::{Device, Error, Feature, Result};

/// A kernel to launch: a shader entry point specialised by override constants.
#[derive(Debug, Clone, Copy)]
pub struct Kernel<'a> {
    /// Op name for error messages, e.g. `"conv2d"`.
    pub op: &'a str,
    pub shader: &'static Shader,
    pub entry: &'static str,
    /// WGSL `override` values; part of the pipeline cache key.
    pub constants: &'a [(&'static str, f64)],
}

impl<'a> Kernel<'a> {
    pub const fn new(op: &'a str, shader: &'static Shader, entry: &'static str) -> Self {
        Kernel {
            op,
            shader,
            entry,
            constants: &[],
        }
    }

    pub const fn with_constants(mut self, constants: &'a [(&'static str, f64)]) -> Self {
        self.constants = constants;
        self
    }
}

/// A buffer binding of a launch. Binding `0` is the parameter block; these
/// follow in order from `1`.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// `var<storage, read>`.
    Read(BufferRange<'a>),
    /// `var<storage, read_write>`.
    ReadWrite(BufferRange<'a>),
    /// `var<uniform>`: small read-only tables every invocation reads at the
    /// same index (CPU rasterisers serve those with one load per SIMD group).
    Uniform(BufferRange<'a>),
}

impl<'a> Binding<'a> {
    fn range(&self) -> &BufferRange<'a> {
        match self {
            Binding::Read(r) | Binding::ReadWrite(r) | Binding::Uniform(r) => r,
        }
    }

    fn kind(&self) -> BindingKind {
        match self {
            Binding::Read(_) => BindingKind::Read,
            Binding::ReadWrite(_) => BindingKind::ReadWrite,
            Binding::Uniform(_) => BindingKind::Uniform,
        }
    }
}

/// Folds `workgroups` into `(x, y, z)` with every dimension at most `max`.
pub fn fold_grid(workgroups: u64, max: u32) -> Option<[u32; 3]> {
    let max = max as u64;
    if workgroups == 0 {
        return Some([0, 0, 0]);
    }
    if workgroups <= max {
        return Some([workgroups as u32, 1, 1]);
    }
    let rows = workgroups.div_ceil(max);
    if rows <= max {
        return Some([max as u32, rows as u32, 1]);
    }
    let planes = rows.div_ceil(max);
    if planes <= max {
        return Some([max as u32, max as u32, planes as u32]);
    }
    None
}

/// Uniform buffers for parameter blocks, filled on the CPU and written at submit.
struct ParamArena {
    align: u64,
    chunk_size: u64,
    /// Chunks in use by the open batch, with their CPU-side contents.
    active: Vec<(wgpu::Buffer, Vec<u8>)>,
    /// Chunks free for the next batch. Writes are queue-ordered after earlier
    /// submissions, so a chunk can be reused as soon as its batch is submitted.
    spare: Vec<wgpu::Buffer>,
}

impl ParamArena {
    fn new(limits: &ComputeLimits) -> Self {
        ParamArena {
            align: limits.min_uniform_buffer_offset_alignment.max(16) as u64,
            chunk_size: 64 * 1024,
            active: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Copies `params` into the arena; returns the buffer, offset and binding size.
    fn push(&mut self, device: &wgpu::Device, params: &[u8]) -> (wgpu::Buffer, u64, u64) {
        // Uniform bindings are sized in multiples of 16 bytes.
        let size = (params.len().max(16) as u64).div_ceil(16) * 16;
        let slot = size.div_ceil(self.align) * self.align;
        let fits = self
            .active
            .last()
            .is_some_and(|(_, data)| data.len() as u64 + slot <= self.chunk_size);
        if !fits {
            let chunk_size = self.chunk_size.max(slot);
            let buffer = match self.spare.pop() {
                Some(b) if b.size() >= chunk_size => b,
                _ => device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("weft-params"),
                    size: chunk_size,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
            };
            self.active
                .push((buffer, Vec::with_capacity(chunk_size as usize)));
        }
        let (buffer, data) = self.active.last_mut().expect("a chunk was just ensured");
        let offset = data.len() as u64;
        data.extend_from_slice(params);
        data.resize((offset + slot) as usize, 0);
        (buffer.clone(), offset, size)
    }

    /// Writes every active chunk and moves it to the spare list.
    fn write_out(&mut self, queue: &wgpu::Queue) {
        for (buffer, data) in self.active.drain(..) {
            if !data.is_empty() {
                queue.write_buffer(&buffer, 0, &data);
            }
            self.spare.push(buffer);
        }
    }
}

/// The open command batch of a device.
pub(crate) struct Batch {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    params: ParamArena,
    /// Launches recorded in the open batch.
    pub recorded: u64,
    /// Launches recorded over the device's life.
    pub total_dispatches: u64,
    pub last_submission: Option<wgpu::SubmissionIndex>,
    /// Set while timestamps bracket the open batch: it must stay one
    /// submission, so launches do not flush it on their own.
    pub hold: bool,
}

impl Batch {
    pub(crate) fn new(limits: &ComputeLimits) -> Self {
        Batch {
            encoder: None,
            pass: None,
            params: ParamArena::new(limits),
            recorded: 0,
            total_dispatches: 0,
            last_submission: None,
            hold: false,
        }
    }

    /// The open encoder, with no compute pass open on it (for copies and timestamps).
    pub(crate) fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("weft-batch"),
            })
        })
    }

    fn pass(&mut self, device: &wgpu::Device) -> &mut wgpu::ComputePass<'static> {
        if self.pass.is_none() {
            let pass = self
                .encoder(device)
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("weft-pass"),
                    timestamp_writes: None,
                })
                .forget_lifetime();
            self.pass = Some(pass);
        }
        self.pass.as_mut().expect("pass just opened")
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.encoder.is_none()
    }
}

impl Device {
    /// Records one launch of `kernel` over `workgroups` workgroups (folded as
    /// needed). `params` is the kernel's uniform parameter block (binding 0);
    /// `bindings` follow from binding 1.
    pub fn dispatch(
        &self,
        kernel: &Kernel<'_>,
        params: &[u8],
        bindings: &[Binding<'_>],
        workgroups: u64,
    ) -> Result<()> {
        self.check()?;
        if kernel.shader.uses_native_f16() {
            self.require(kernel.op, Feature::ShaderF16)?;
        }
        let limits = self.limits();
        for b in bindings {
            let r = b.range();
            if let Binding::Uniform(r) = b {
                if r.size > limits.max_uniform_buffer_binding_size
                    || r.offset % limits.min_uniform_buffer_offset_alignment as u64 != 0
                {
                    return Err(Error::invalid(
                        kernel.op,
                        "uniform binding",
                        format!(
                            "{} bytes at offset {}: the device allows {} bytes at multiples of {}",
                            r.size,
                            r.offset,
                            limits.max_uniform_buffer_binding_size,
                            limits.min_uniform_buffer_offset_alignment
                        ),
                    ));
                }
                continue;
            }
            if r.size > limits.max_storage_buffer_binding_size {
                return Err(Error::BindingTooLarge {
                    op: kernel.op.to_string(),
                    bytes: r.size,
                    limit: limits.max_storage_buffer_binding_size,
                });
            }
            if r.offset % limits.min_storage_buffer_offset_alignment as u64 != 0 {
                return Err(Error::invalid(
                    kernel.op,
                    "binding offset",
                    format!(
                        "{} is not a multiple of the storage offset alignment {}",
                        r.offset, limits.min_storage_buffer_offset_alignment
                    ),
                ));
            }
        }
        let storage = bindings
            .iter()
            .filter(|b| !matches!(b, Binding::Uniform(_)))
            .count();
        if limits.max_storage_buffers_per_shader_stage < storage as u32 {
            return Err(Error::invalid(
                kernel.op,
                "bindings",
                format!(
                    "{} storage bindings, the device allows {}",
                    storage, limits.max_storage_buffers_per_shader_stage
                ),
            ));
        }
        // WebGPU (every browser) refuses a dispatch that binds overlapping
        // ranges of one buffer when either binding is writable; native
        // backends let it through, so it is refused everywhere.
        for (i, a) in bindings.iter().enumerate() {
            for (j, b) in bindings.iter().enumerate().skip(i + 1) {
                let writable =
                    matches!(a, Binding::ReadWrite(_)) || matches!(b, Binding::ReadWrite(_));
                let (ra, rb) = (a.range(), b.range());
                let overlap = ra.offset < rb.offset + rb.size.max(4)
                    && rb.offset < ra.offset + ra.size.max(4);
                if writable && overlap && ra.buffer == rb.buffer {
                    return Err(Error::invalid(
                        kernel.op,
                        "bindings",
                        format!(
                            "bindings {} and {} overlap in one buffer and one is written \
                             (an output may not alias an input)",
                            i + 1,
                            j + 1
                        ),
                    ));
                }
            }
        }
        let Some(grid) = fold_grid(workgroups, limits.max_compute_workgroups_per_dimension) else {
            return Err(Error::GridTooLarge {
                op: kernel.op.to_string(),
                workgroups,
                limit: limits.max_compute_workgroups_per_dimension,
            });
        };
        if workgroups == 0 {
            return Ok(());
        }

        let mut layout = vec![BindingKind::Uniform];
        layout.extend(bindings.iter().map(Binding::kind));
        let pipeline = self.pipeline(kernel, &layout)?;

        let dev = &self.shared.device;
        let mut batch = lock(&self.shared.batch);
        let (param_buf, param_off, param_size) = batch.params.push(dev, params);
        let mut entries = Vec::with_capacity(bindings.len() + 1);
        entries.push(wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &param_buf,
                offset: param_off,
                size: std::num::NonZeroU64::new(param_size),
            }),
        });
        for (i, b) in bindings.iter().enumerate() {
            let r = b.range();
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: r.buffer,
                    offset: r.offset,
                    // Zero-sized bindings are invalid; an empty tensor binds one word.
                    size: std::num::NonZeroU64::new(r.size.max(4)),
                }),
            });
        }
        let scope = Scope::push(dev, wgpu::ErrorFilter::Validation);
        let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.op),
            layout: &pipeline.bind_layout,
            entries: &entries,
        });
        if let Some(e) = scope.pop() {
            return Err(self.classify(Error::from_wgpu(e)));
        }
        let pass = batch.pass(dev);
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        batch.recorded += 1;
        batch.total_dispatches += 1;
        if let Some(profile) = &self.shared.launch_profile
            && !batch.hold
        {
            let start = web_time::Instant::now();
            self.flush_locked(&mut batch)?;
            let index = batch.last_submission.clone();
            drop(batch);
            self.wait_for(index, "profile")?;
            let seconds = start.elapsed().as_secs_f64();
            let shader = kernel.shader.body.path;
            lock(profile).record(kernel.op, shader, kernel.constants, seconds);
            return Ok(());
        }
        if batch.recorded >= self.shared.launches_per_submit && !batch.hold {
            self.flush_locked(&mut batch)?;
        }
        Ok(())
    }

    fn pipeline(&self, kernel: &Kernel<'_>, layout: &[BindingKind]) -> Result<Arc<Pipeline>> {
        lock(&self.shared.pipelines).get_or_create(
            &self.shared.device,
            kernel.shader,
            kernel.entry,
            kernel.constants,
            layout,
        )
    }

    /// Compiles (or finds cached) the pipeline of `kernel` for a launch with
    /// `storage_bindings` bindings whose read/write kinds are given, without
    /// launching it. Used to warm the cache and to test shaders.
    pub fn prepare(&self, kernel: &Kernel<'_>, read_write: &[bool]) -> Result<()> {
        if kernel.shader.uses_native_f16() {
            self.require(kernel.op, Feature::ShaderF16)?;
        }
        let mut layout = vec![BindingKind::Uniform];
        layout.extend(read_write.iter().map(|&rw| {
            if rw {
                BindingKind::ReadWrite
            } else {
                BindingKind::Read
            }
        }));
        self.pipeline(kernel, &layout).map(|_| ())
    }

    /// Compiles a shader module (cached), reporting WGSL errors with file, line
    /// and column. Shaders with `enable f16;` need the shader-f16 feature.
    pub fn compile(&self, shader: &Shader) -> Result<()> {
        if shader.uses_native_f16() {
            self.require(shader.body.path, Feature::ShaderF16)?;
        }
        lock(&self.shared.pipelines).ensure_module(&self.shared.device, shader)
    }

    /// Launches recorded over the device's life.
    pub fn dispatch_count(&self) -> u64 {
        lock(&self.shared.batch).total_dispatches
    }

    /// Submits everything recorded so far. Does not wait for the GPU.
    pub fn flush(&self) -> Result<()> {
        let mut batch = lock(&self.shared.batch);
        self.flush_locked(&mut batch)
    }

    pub(crate) fn flush_locked(&self, batch: &mut Batch) -> Result<()> {
        self.check()?;
        batch.pass = None;
        let Some(encoder) = batch.encoder.take() else {
            // Nothing recorded, but queue writes may wait for a submission:
            // an empty one carries them, so that their staging memory is
            // released (many uploads with no launch between them, as a
            // checkpoint load, would otherwise hold all of it).
            batch.last_submission = Some(self.shared.queue.submit([]));
            return self.check();
        };
        batch.params.write_out(&self.shared.queue);
        batch.recorded = 0;
        let dev = &self.shared.device;
        let scope = Scope::push(dev, wgpu::ErrorFilter::Validation);
        let commands = encoder.finish();
        let index = self.shared.queue.submit([commands]);
        let completed = self.shared.completed.clone();
        self.shared.queue.on_submitted_work_done(move || {
            completed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        batch.last_submission = Some(index);
        if let Some(e) = scope.pop() {
            return Err(self.classify(Error::from_wgpu(e)));
        }
        self.check()
    }

    /// Submits pending work and blocks until the GPU has finished all of it.
    /// Fails when the device is lost, or when the GPU completes none of its
    /// submitted work for `gpu_timeout` (a hung device, not a long queue).
    pub fn sync(&self) -> Result<()> {
        let index = {
            let mut batch = lock(&self.shared.batch);
            self.flush_locked(&mut batch)?;
            batch.last_submission.clone()
        };
        self.wait_for(index, "sync")
    }

    /// Waits for submission `index` (all submitted work when `None`), polling
    /// in slices of a quarter of `gpu_timeout`: an error as soon as the device
    /// is lost, a timeout only when no submission has completed for
    /// `gpu_timeout`. (Slices are long on purpose: wgpu-core 30 can panic when
    /// one thread's timed wait expires just as another thread's poll empties
    /// the queue, so timed-out waits must stay rare.)
    pub(crate) fn wait_for(&self, index: Option<wgpu::SubmissionIndex>, what: &str) -> Result<()> {
        use std::sync::atomic::Ordering;
        use web_time::Instant;
        if cfg!(target_arch = "wasm32") {
            return Err(Error::Blocking {
                what: what.to_string(),
                instead: "Device::sync_async, Device::read_f32_async".into(),
            });
        }
        let timeout = self.shared.gpu_timeout;
        let slice = (timeout / 4).max(std::time::Duration::from_millis(1));
        self.check()?;
        let mut seen = self.shared.completed.load(Ordering::SeqCst);
        let mut last_progress = Instant::now();
        loop {
            let r = self.shared.device.poll(wgpu::PollType::Wait {
                submission_index: index.clone(),
                timeout: Some(slice),
            });
            self.check()?;
            match r {
                Ok(_) => return Ok(()),
                Err(wgpu::PollError::Timeout) => {}
                Err(e) => return Err(Error::Validation(e.to_string())),
            }
            let now = self.shared.completed.load(Ordering::SeqCst);
            if now != seen {
                seen = now;
                last_progress = Instant::now();
            } else if last_progress.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    seconds: timeout.as_secs_f64(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fold_grid;

    #[test]
    fn grids_fold_within_limits() {
        assert_eq!(fold_grid(0, 1024), Some([0, 0, 0]));
        assert_eq!(fold_grid(1024, 1024), Some([1024, 1, 1]));
        assert_eq!(fold_grid(1025, 1024), Some([1024, 2, 1]));
        assert_eq!(fold_grid(1024 * 1024 + 1, 1024), Some([1024, 1024, 2]));
        assert_eq!(fold_grid(1024u64.pow(3) + 1, 1024), None);
        for w in [1u64, 77, 65535, 65536, 10_000_000] {
            let [x, y, z] = fold_grid(w, 65535).unwrap();
            let cover = x as u64 * y as u64 * z as u64;
            assert!(cover >= w && cover < w + x as u64 * y as u64);
        }
    }
}
