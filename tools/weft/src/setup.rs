//! What the command line takes from the environment (the library takes
//! nothing from it but the adapter choice): execution reports and where MNIST
//! lives.
//!
//! | variable | meaning |
//! |---|---|
//! | `WEFT_PROFILE=1` | per-layer device time of every launch, on stderr |
//! | `WEFT_PROFILE=launches` | `weft memory`, `weft bench`: device time per kernel (each launch waited for on its own), on stderr |
//! | `WEFT_TRACE_MEMORY=1` | live and peak device bytes after every step of the schedule (the memory plan's too), on stderr |
//! | `WEFT_DATA` | a directory holding MNIST, when `--data` is not given |

use std::path::{Path, PathBuf};

use weft::DType;
use weft::data::Mnist;
use weft::graph::{EventSink, ExecEvent, ExecOptions, Phase};

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

/// Execution options for `dtype`, with `WEFT_PROFILE` and `WEFT_TRACE_MEMORY`
/// reporting on stderr.
/// `--fp16` on `device`: f16 activations need the `shader-f16` feature
/// (the loaders write them natively).
pub fn check_fp16(device: &weft::Device, fp16: bool) -> weft::Result<()> {
    if fp16 && !device.has(weft::device::Feature::ShaderF16) {
        return Err(weft::Error::invalid(
            "weft",
            "--fp16",
            format!(
                "needs the shader-f16 feature, which {} does not offer",
                device.caps().adapter.name
            ),
        ));
    }
    Ok(())
}

pub fn exec_options(dtype: DType) -> ExecOptions {
    let (profile, trace_memory) = (flag("WEFT_PROFILE"), flag("WEFT_TRACE_MEMORY"));
    ExecOptions {
        dtype,
        profile,
        trace_memory,
        sink: (profile || trace_memory).then(|| EventSink::new(print_event)),
        ..ExecOptions::default()
    }
}

/// Whether `WEFT_PROFILE=launches` asks for per-kernel device times.
pub fn profile_launches() -> bool {
    std::env::var_os("WEFT_PROFILE").is_some_and(|v| v == "launches")
}

/// Prints the device's per-kernel times (see [`profile_launches`]) on stderr.
pub fn print_launch_profile(device: &weft::Device) {
    let times = device.take_launch_profile();
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    eprintln!("launches: {:.1} ms in all", 1e3 * total);
    for t in &times {
        eprintln!(
            "launch {:>9.3} ms {:>5.1}% {:>5}x  {} {} {}",
            1e3 * t.seconds,
            100.0 * t.seconds / total.max(1e-12),
            t.launches,
            t.op,
            t.shader,
            t.constants
        );
    }
}

fn print_event(event: &ExecEvent<'_>) {
    match *event {
        ExecEvent::Profile {
            phase,
            node,
            seconds,
        } => {
            let phase = match phase {
                Phase::Forward => "forward ",
                Phase::Backward => "backward",
                Phase::Loss => "loss    ",
                Phase::Update => "update  ",
            };
            eprintln!("profile {:>9.3} ms  {phase} {node}", 1e3 * seconds);
        }
        ExecEvent::Memory {
            step,
            what,
            node,
            live,
            peak,
            planned,
        } => {
            let kind = if planned { "planned" } else { "memory " };
            eprintln!("{kind} {step:>3} {what} {node}: live {live} peak {peak}");
        }
    }
}

/// MNIST from `--data`, else `WEFT_DATA`, else the user's cache (downloading
/// into it unless `download` is off), else the embedded subset; what had to
/// be worked around is said on stderr.
pub fn mnist(data: Option<&Path>, download: bool) -> weft::Result<Mnist> {
    let env = std::env::var_os("WEFT_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let cache = dirs::cache_dir().map(|d| d.join("weft").join("mnist"));
    let mnist =
        Mnist::locate(data.or(env.as_deref()), cache.as_deref(), download).map_err(|e| {
            let named = match (data, &env) {
                (Some(_), _) => "--data",
                (None, Some(_)) => "WEFT_DATA",
                (None, None) => return e,
            };
            let (path, message) = match &e {
                weft::Error::Io { path, message } => (path.clone(), message.clone()),
                _ => return e,
            };
            weft::Error::io(
                path,
                format!(
                    "{message}; {named} must name a folder holding the four MNIST files \
                 (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
                 t10k-labels-idx1-ubyte, each optionally .gz); without --data and WEFT_DATA \
                 weft uses its cache, a download or the embedded subset"
                ),
            )
        })?;
    for note in &mnist.notes {
        eprintln!("note: {note}");
    }
    Ok(mnist)
}

/// Elements of a tensor of `shape` (batch included), refused before any
/// host memory is allocated for it when they overflow or need more bytes
/// than the device's largest buffer: `what` names the flag or input at
/// fault.
pub fn device_elements(device: &weft::Device, what: &str, shape: &[usize]) -> weft::Result<usize> {
    let limit = device.limits().max_buffer_size;
    let n = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    match n {
        Some(n) if (n as u64).saturating_mul(4) <= limit => Ok(n),
        _ => Err(weft::Error::invalid(
            "weft",
            what,
            format!(
                "a tensor of shape {shape:?} needs more than the device's largest buffer \
                 ({limit} bytes)"
            ),
        )),
    }
}

/// Checks, before any work, that a file can be written at `path` (`flag`
/// names the argument): not a folder, and its folder exists.
pub fn check_output_file(path: &Path, flag: &str) -> weft::Result<()> {
    if path.is_dir() {
        return Err(weft::Error::invalid(
            "weft",
            flag,
            format!("{} is a folder; give a file path", path.display()),
        ));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent
        && !dir.is_dir()
    {
        return Err(weft::Error::invalid(
            "weft",
            flag,
            format!("the folder {} does not exist", dir.display()),
        ));
    }
    Ok(())
}

/// Checks, before any work, that `path` is a folder or can become one.
pub fn check_output_dir(path: &Path, flag: &str) -> weft::Result<()> {
    if path.exists() && !path.is_dir() {
        return Err(weft::Error::invalid(
            "weft",
            flag,
            format!("{} exists and is not a folder", path.display()),
        ));
    }
    Ok(())
}
