//! Compute pipelines, compiled once per (shader, entry point, override constants,
//! binding layout) and cached for the life of the device.

use std::collections::HashMap;
use std::sync::Arc;

use crate::scope::{Scope, compilation_info};
use crate::shader::{Shader, parse_location};
use crate::{Error, Result};

/// How a kernel sees one of its bindings. Binding `i` of group 0 is the `i`-th
/// entry of a kernel's binding list; the WGSL declaration must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingKind {
    /// `var<uniform>`: the kernel's parameter block.
    Uniform,
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: String,
    entry: &'static str,
    constants: Vec<(&'static str, u64)>,
    layout: Vec<BindingKind>,
}

/// A compiled pipeline and the bind group layout its bindings follow.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub bind_layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: HashMap<String, wgpu::ShaderModule>,
    layouts: HashMap<Vec<BindingKind>, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    pipelines: HashMap<PipelineKey, Arc<Pipeline>>,
    compiled: u64,
    /// Replacement file texts ([`DeviceOptions::shader_overrides`](crate::DeviceOptions::shader_overrides)).
    overrides: Vec<(String, String)>,
}

impl PipelineCache {
    pub fn with_overrides(overrides: Vec<(String, String)>) -> PipelineCache {
        PipelineCache {
            overrides,
            ..PipelineCache::default()
        }
    }

    /// Number of pipelines compiled so far (cache misses).
    pub fn compiled(&self) -> u64 {
        self.compiled
    }

    /// Compiles `shader`'s module if it is not cached yet.
    pub fn ensure_module(&mut self, device: &wgpu::Device, shader: &Shader) -> Result<()> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.modules.entry(shader.key()) {
            slot.insert(compile_module(device, shader, &self.overrides)?);
        }
        Ok(())
    }

    pub fn get_or_create(
        &mut self,
        device: &wgpu::Device,
        shader: &Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        layout: &[BindingKind],
    ) -> Result<Arc<Pipeline>> {
        let key = PipelineKey {
            shader: shader.key(),
            entry,
            constants: constants.iter().map(|&(k, v)| (k, v.to_bits())).collect(),
            layout: layout.to_vec(),
        };
        if let Some(p) = self.pipelines.get(&key) {
            return Ok(p.clone());
        }

        if !self.modules.contains_key(&key.shader) {
            let module = compile_module(device, shader, &self.overrides)?;
            self.modules.insert(key.shader.clone(), module);
        }
        if !self.layouts.contains_key(layout) {
            let l = create_layout(device, layout);
            self.layouts.insert(layout.to_vec(), l);
        }
        let module = &self.modules[&key.shader];
        let (bind_layout, pipeline_layout) = &self.layouts[layout];

        let scope = Scope::push(device, wgpu::ErrorFilter::Validation);
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(shader.body.path),
            layout: Some(pipeline_layout),
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(err) = scope.pop() {
            let message = match err {
                wgpu::Error::Validation { description, .. } => description,
                other => other.to_string(),
            };
            return Err(Error::Shader(shader.error_at(
                None,
                None,
                format!("creating pipeline for entry point `{entry}`: {message}"),
            )));
        }
        let p = Arc::new(Pipeline {
            pipeline,
            bind_layout: bind_layout.clone(),
        });
        self.compiled += 1;
        self.pipelines.insert(key, p.clone());
        Ok(p)
    }
}

fn compile_module(
    device: &wgpu::Device,
    shader: &Shader,
    overrides: &[(String, String)],
) -> Result<wgpu::ShaderModule> {
    let mut source = shader.compose_with(overrides);
    // Browsers want subgroup builtins declared (`enable subgroups;`), which
    // naga does not accept; the directive goes on the first line so that
    // line numbers still map to files.
    if cfg!(target_arch = "wasm32") && shader.uses_subgroups() {
        source.insert_str(0, "enable subgroups; ");
    }
    let scope = Scope::push(device, wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(shader.body.path),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let info = compilation_info(&module);
    let scoped = scope.pop();

    if let Some(msg) = info
        .messages
        .iter()
        .find(|m| m.message_type == wgpu::CompilationMessageType::Error)
    {
        let (line, col) = match msg.location {
            Some(loc) => (Some(loc.line_number), Some(loc.line_position)),
            None => match parse_location(&msg.message) {
                Some((l, c)) => (Some(l), Some(c)),
                None => (None, None),
            },
        };
        return Err(Error::Shader(shader.error_at(
            line,
            col,
            msg.message.clone(),
        )));
    }
    if let Some(err) = scoped {
        let message = err.to_string();
        let loc = parse_location(&message);
        return Err(Error::Shader(shader.error_at(
            loc.map(|l| l.0),
            loc.map(|l| l.1),
            message,
        )));
    }
    Ok(module)
}

fn create_layout(
    device: &wgpu::Device,
    layout: &[BindingKind],
) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let entries: Vec<_> = layout
        .iter()
        .enumerate()
        .map(|(i, kind)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match kind {
                    BindingKind::Uniform => wgpu::BufferBindingType::Uniform,
                    BindingKind::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    BindingKind::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("weft-bind-layout"),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("weft-pipeline-layout"),
        bind_group_layouts: &[Some(&bind_layout)],
        immediate_size: 0,
    });
    (bind_layout, pipeline_layout)
}
