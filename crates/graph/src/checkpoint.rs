//! Checkpoints as safetensors, named like PyTorch's `state_dict`, so weights
//! exported from PyTorch load unchanged and weft's load into PyTorch.
//!
//! Writes are atomic: the file is written beside the target under a temporary
//! name, synced, then renamed over it, so an interrupted save never destroys the
//! previous checkpoint. Loads check every name, shape and dtype before touching
//! the model and report all mismatches at once.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use weft_device::{DType, Error, Result, Tensor};

use crate::model::Model;
use crate::optim::Optimizer;
use crate::patterns::NamePatterns;

/// Prefix of optimizer entries.
const OPT: &str = "optimizer.";

/// Host copies of everything a checkpoint holds, by name.
enum HostTensor {
    F32(Vec<usize>, Vec<f32>),
    I64(Vec<usize>, Vec<i64>),
}

impl HostTensor {
    fn view(&self) -> TensorView<'_> {
        match self {
            HostTensor::F32(shape, v) => {
                TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(v))
                    .expect("consistent tensor")
            }
            HostTensor::I64(shape, v) => {
                TensorView::new(Dtype::I64, shape.clone(), bytemuck::cast_slice(v))
                    .expect("consistent tensor")
            }
        }
    }
}

/// The model's `state_dict` (parameters, buffers, `num_batches_tracked`) read
/// back to the host with `read`, plus the optimizer's state when given.
async fn collect<F, R>(
    model: &Model,
    optimizer: Option<&Optimizer>,
    read: F,
) -> Result<BTreeMap<String, HostTensor>>
where
    F: Fn(Tensor) -> R,
    R: std::future::Future<Output = Result<Vec<f32>>>,
{
    let g = model.graph();
    let mut out = BTreeMap::new();
    for (p, t) in g.params().iter().zip(model.params()) {
        out.insert(
            p.name.clone(),
            HostTensor::F32(t.shape().to_vec(), read(t.clone()).await?),
        );
    }
    for (i, n) in g.nodes().iter().enumerate() {
        if n.layer.as_ref().is_some_and(|l| l.tracks_batches()) {
            let count = model.batches_tracked(crate::graph::NodeId(i));
            out.insert(
                format!("{}.num_batches_tracked", n.name),
                HostTensor::I64(vec![], vec![count]),
            );
        }
    }
    if let Some(opt) = optimizer {
        for (name, t) in opt.state_tensors(g) {
            out.insert(
                format!("{OPT}{name}"),
                HostTensor::F32(t.shape().to_vec(), read(t.clone()).await?),
            );
        }
        out.insert(
            format!("{OPT}step"),
            HostTensor::I64(vec![], vec![opt.steps() as i64]),
        );
    }
    Ok(out)
}

/// Saves the model (and optionally the optimizer) to `path` atomically, with
/// string `metadata` in the safetensors header.
pub fn save(
    path: &Path,
    model: &Model,
    optimizer: Option<&Optimizer>,
    metadata: &[(&str, String)],
) -> Result<()> {
    let read = |t: Tensor| std::future::ready(t.to_f32_vec());
    let tensors = pollster::block_on(collect(model, optimizer, read))?;
    write_atomic(path, &serialize(path, model, tensors, metadata)?)
}

/// The checkpoint [`save`] writes, as bytes, read back without blocking (for
/// a browser page to offer as a download, or an application to send).
pub async fn to_bytes_async(
    model: &Model,
    optimizer: Option<&Optimizer>,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>> {
    let read = |t: Tensor| async move { t.device().read_f32_async(&t).await };
    let tensors = collect(model, optimizer, read).await?;
    serialize(Path::new("checkpoint"), model, tensors, metadata)
}

/// The safetensors form of `tensors` with the metadata (`origin` names it in
/// errors).
fn serialize(
    origin: &Path,
    model: &Model,
    tensors: BTreeMap<String, HostTensor>,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>> {
    let path = origin;
    let mut info: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    info.entry("format".into()).or_insert_with(|| "pt".into());
    let (seed, steps) = model.rng_state();
    info.insert("weft.seed".into(), seed.to_string());
    info.insert("weft.steps".into(), steps.to_string());
    safetensors::serialize(
        tensors.iter().map(|(k, v)| (k.as_str(), v.view())),
        Some(info),
    )
    .map_err(|e| Error::format(path, format!("serialising the checkpoint: {e}")))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a
/// process killed at any instant leaves either the old file or the new one
/// (a killed write leaves only its temporary file, which the next save of
/// the same path removes).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::io(path, "not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, format!("writing: {e}")));
    }
    // The rename itself reaches the disk with the folder's entry (best
    // effort: not every platform can open a folder).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    remove_orphans(dir, &name.to_string_lossy());
    Ok(())
}

/// Removes the temporary files of earlier saves of `name` whose process no
/// longer runs (it was killed mid-write). Linux only, where a process's
/// liveness is a folder in `/proc`; elsewhere they stay (they are never
/// read).
fn remove_orphans(dir: &Path, name: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// How a load matches a file to the model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Refuse a file that lacks a parameter of the model or holds a tensor the
    /// model does not have (PyTorch's `strict=True`, the default). When false
    /// both are listed in [`Loaded`] instead (the missing parameters keep
    /// their values); a tensor of the wrong shape or dtype is an error either
    /// way.
    pub strict: bool,
    /// Parameters to leave as they are, not read from the file even when it
    /// has them (shapes not compared): a replaced classifier head (`fc.*`).
    pub skip: NamePatterns,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            strict: true,
            skip: NamePatterns::default(),
        }
    }
}

/// What a successful load reports.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub metadata: HashMap<String, String>,
    /// Parameters of the model the file lacked (non-strict loads only).
    pub missing: Vec<String>,
    /// Tensors of the file the model has no place for (non-strict loads
    /// only), optimizer entries aside.
    pub unexpected: Vec<String>,
    /// Parameters left alone because they matched [`LoadOptions::skip`].
    pub skipped: Vec<String>,
}

/// Loads `path` into the model (and the optimizer's state, when given and
/// present), strictly. Nothing is changed unless every name, shape and dtype
/// matches.
pub fn load(path: &Path, model: &mut Model, optimizer: Option<&mut Optimizer>) -> Result<Loaded> {
    load_with(path, model, optimizer, &LoadOptions::default())
}

/// [`load`] with options: non-strict matching, parameters to skip.
pub fn load_with(
    path: &Path,
    model: &mut Model,
    optimizer: Option<&mut Optimizer>,
    options: &LoadOptions,
) -> Result<Loaded> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(path, format!("reading checkpoint: {e}")))?;
    load_bytes(&bytes, path, model, optimizer, options)
}

/// Loads a checkpoint held in memory (embedded in a binary, fetched by the
/// application, read from any reader); `origin` names it in errors.
pub fn load_bytes(
    bytes: &[u8],
    origin: &Path,
    model: &mut Model,
    optimizer: Option<&mut Optimizer>,
    options: &LoadOptions,
) -> Result<Loaded> {
    let path = origin;
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();

    let g = model.graph();
    let mut report = Loaded::default();
    let mut problems = Vec::new();
    let mut updates: Vec<(usize, Vec<f32>)> = Vec::new();
    for (i, p) in g.params().iter().enumerate() {
        if options.skip.matches(&p.name) {
            report.skipped.push(p.name.clone());
            continue;
        }
        match st.tensor(&p.name) {
            Err(_) if !options.strict => report.missing.push(p.name.clone()),
            Err(_) => problems.push(format!("missing {} {:?}", p.name, p.decl.shape)),
            Ok(t) => match to_f32(&t) {
                _ if t.shape() != p.decl.shape.as_slice() => problems.push(format!(
                    "{}: expected shape {:?}, file has {:?}",
                    p.name,
                    p.decl.shape,
                    t.shape()
                )),
                Some(v) => updates.push((i, v)),
                None => problems.push(format!(
                    "{}: expected F32 (or F16/BF16), file has {:?}",
                    p.name,
                    t.dtype()
                )),
            },
        }
    }
    let mut counts = Vec::new();
    for (i, n) in g.nodes().iter().enumerate() {
        if n.layer.as_ref().is_some_and(|l| l.tracks_batches()) {
            let name = format!("{}.num_batches_tracked", n.name);
            if options.skip.matches(&name) {
                continue;
            }
            if let Ok(t) = st.tensor(&name) {
                // PyTorch writes int64; some exporters narrow it to int32.
                let count = match (t.dtype(), t.data()) {
                    (Dtype::I64, d) if d.len() == 8 => {
                        Some(i64::from_le_bytes(d.try_into().expect("8 bytes")))
                    }
                    (Dtype::I32, d) if d.len() == 4 => {
                        Some(i32::from_le_bytes(d.try_into().expect("4 bytes")) as i64)
                    }
                    _ => None,
                };
                match count {
                    Some(c) => counts.push((i, c)),
                    None => problems.push(format!(
                        "{name}: expected an I64 or I32 scalar, file has {:?} {:?}",
                        t.dtype(),
                        t.shape()
                    )),
                }
            }
        }
    }
    let known: std::collections::HashSet<String> = g
        .params()
        .iter()
        .map(|p| p.name.clone())
        .chain(
            g.nodes()
                .iter()
                .map(|n| format!("{}.num_batches_tracked", n.name)),
        )
        .collect();
    for name in st.names() {
        if !known.contains(name) && !name.starts_with(OPT) {
            if options.strict {
                problems.push(format!("unexpected {name}"));
            } else {
                report.unexpected.push(name.to_string());
            }
        }
    }
    report.unexpected.sort();
    if !problems.is_empty() {
        problems.sort();
        return Err(Error::format(
            path,
            format!(
                "checkpoint does not match the model:\n  {}",
                problems.join("\n  ")
            ),
        ));
    }

    // Optimizer state, if asked for and present.
    let mut opt_updates: Vec<(Tensor, Vec<f32>)> = Vec::new();
    let mut opt_steps = None;
    if let Some(opt) = &optimizer {
        for (name, t) in opt.state_tensors(g) {
            if let Ok(v) = st.tensor(&format!("{OPT}{name}")) {
                match to_f32(&v).filter(|_| v.shape() == t.shape()) {
                    Some(values) => opt_updates.push((t, values)),
                    None => problems.push(format!("{OPT}{name}: shape or dtype mismatch")),
                }
            }
        }
        if let Ok(v) = st.tensor(&format!("{OPT}step"))
            && v.dtype() == Dtype::I64
            && v.data().len() == 8
        {
            opt_steps = Some(i64::from_le_bytes(v.data().try_into().expect("8 bytes")));
        }
        if !problems.is_empty() {
            return Err(Error::format(path, problems.join("\n  ")));
        }
    }

    for (i, values) in updates {
        let decl_shape = model.graph().params()[i].decl.shape.clone();
        *model.param_slot(crate::graph::ParamId(i)) =
            model
                .device()
                .upload_f32(&decl_shape, DType::F32, &values)?;
    }
    for (i, c) in counts {
        model.set_batches_tracked(crate::graph::NodeId(i), c);
    }
    for (t, values) in opt_updates {
        t.write_f32(&values)?;
    }
    if let (Some(opt), Some(steps)) = (optimizer, opt_steps) {
        opt.set_steps(steps.max(0) as usize);
    }
    // Submit the uploads now rather than at the next launch, so that their
    // staging memory does not pile up over repeated loads.
    model.device().flush()?;
    let parse = |k: &str| metadata.get(k).and_then(|v| v.parse::<u64>().ok());
    if let (Some(seed), Some(steps)) = (parse("weft.seed"), parse("weft.steps")) {
        model.set_rng_state(seed, steps);
    }
    report.metadata = metadata;
    Ok(report)
}

/// Reads a floating-point safetensors tensor as f32.
fn to_f32(t: &TensorView<'_>) -> Option<Vec<f32>> {
    let d = t.data();
    match t.dtype() {
        Dtype::F32 => Some(
            d.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                .collect(),
        ),
        Dtype::F16 => Some(
            d.chunks_exact(2)
                .map(|c| half::f16::from_le_bytes(c.try_into().expect("2")).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            d.chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes(c.try_into().expect("2")).to_f32())
                .collect(),
        ),
        _ => None,
    }
}
