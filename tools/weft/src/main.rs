//! `weft`: the command-line tool.

mod bench;
mod cam;
mod chart;
mod classify;
mod eval;
mod filter;
mod finetune;
mod info;
mod label;
mod memory;
mod models;
mod onnx;
mod parallel;
mod setup;
mod train;
mod tuning;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use weft::device::{Backend, DeviceOptions};

#[derive(Parser)]
#[command(name = "weft", version, about = "weft: a GPU compute engine for CNNs")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes. (The tuner's file and mode come from
/// `WEFT_TUNE_CACHE` and `WEFT_TUNE`; see [`tuning`].)
#[derive(Args, Clone)]
pub struct Global {
    /// Print one JSON object on stdout (progress and logs go to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Backend to use: vulkan, metal, dx12 or gl (default: WEFT_BACKEND, else all).
    #[arg(long, global = true, value_name = "API")]
    pub backend: Option<String>,
    /// Use the adapter whose name contains this (default: WEFT_ADAPTER, else the best).
    #[arg(long, global = true, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Seconds the GPU may complete no work before a wait reports it hung
    /// (default: WEFT_GPU_TIMEOUT, else 60). Long jobs that keep completing
    /// work never time out.
    #[arg(long, global = true, value_name = "SECONDS")]
    pub gpu_timeout: Option<f64>,
    /// Device memory weft may hold at once, e.g. 512MiB or 2GiB (default:
    /// WEFT_MEMORY_BUDGET, else none): a model or step planned past it is
    /// refused before anything is allocated.
    #[arg(long, global = true, value_name = "SIZE")]
    pub memory_budget: Option<String>,
}

impl Global {
    /// Device options from the environment, overridden by the command line.
    pub fn device_options(&self) -> weft::Result<DeviceOptions> {
        let mut options = DeviceOptions::from_env()?;
        options.tuner = std::sync::Arc::new(tuning::FileTuner::from_env());
        options.profile_launches = setup::profile_launches();
        if let Some(b) = &self.backend {
            options.backend = Some(Backend::parse(b)?);
        }
        if let Some(a) = &self.adapter {
            options.adapter_name = Some(a.clone());
        }
        if let Some(b) = &self.memory_budget {
            options.memory_budget = Some(weft::device::parse_bytes(b).ok_or_else(|| {
                weft::Error::invalid(
                    "weft",
                    "--memory-budget",
                    format!("expected a size such as 512MiB, 2GiB or 1000000 (bytes), got \"{b}\""),
                )
            })?);
        }
        let env_timeout = std::env::var("WEFT_GPU_TIMEOUT")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim().parse::<f64>().map_err(|_| {
                    weft::Error::invalid(
                        "weft",
                        "WEFT_GPU_TIMEOUT",
                        format!("expected seconds, got \"{v}\""),
                    )
                })
            })
            .transpose()?;
        if let Some(seconds) = self.gpu_timeout.or(env_timeout) {
            // From a millisecond to a year: beyond, a wait is a hang.
            if !(1e-3..=3.2e7).contains(&seconds) {
                return Err(weft::Error::invalid(
                    "weft",
                    "gpu-timeout",
                    format!("expected seconds from 0.001 to 32000000 (a year), got {seconds}"),
                ));
            }
            options.gpu_timeout = std::time::Duration::from_secs_f64(seconds);
        }
        Ok(options)
    }
}

#[derive(Subcommand)]
enum Command {
    /// List adapters; show the chosen one's features, limits, bandwidth and FMA rate.
    Info(info::InfoArgs),
    /// Train a network on MNIST (LeNet-5 by default).
    Train(train::TrainArgs),
    /// Fine-tune a network of the zoo on an image folder (transfer learning).
    Finetune(finetune::FinetuneArgs),
    /// Test accuracy and confusion matrix of a checkpoint.
    Eval(eval::EvalArgs),
    /// Classify digit images (PNG or JPEG) with a checkpoint.
    Classify(classify::ClassifyArgs),
    /// Planned, measured and keep-everything peak memory of one step.
    Memory(memory::MemoryArgs),
    /// Compare kernel variants over shape suites; measure the device's peak.
    Bench(bench::BenchArgs),
    /// Import an ONNX model: check every node, print the graph, optionally
    /// write its weights as a safetensors checkpoint.
    Import(onnx::ImportArgs),
    /// Run an ONNX model on an image or a tensor file, with the memory report.
    Run(onnx::RunArgs),
    /// Connected components of a binary image on the GPU: a colourised PNG
    /// and each component's area, bounding box and centroid.
    Label(label::LabelArgs),
    /// Where a classifier looks: Grad-CAM (CAM for pooled networks) over the
    /// image, with a colour bar, as PNG.
    Cam(cam::CamArgs),
    /// Image filters on the GPU: blurs, gradients, sharpening, median and
    /// morphology, thresholds, any kernel.
    Filter(filter::FilterArgs),
}

/// A closed pipe on stdout (`weft bench --list | head`) ends the process
/// quietly, as it does for other command-line tools, instead of a panic in
/// `println!`: Rust ignores SIGPIPE by default, which turns the write into an
/// error that `println!` does not return.
fn exit_quietly_on_closed_pipes() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; restoring
    // a signal's default disposition has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not
/// set in the environment." several times when it is unset (containers, CI,
/// `sudo`), which makes a working command look broken. When it is unset or
/// not a folder, point it at a private one (mode 0700, as the variable's
/// specification asks) under the temporary folder.
fn quiet_missing_runtime_dir() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let set = std::env::var_os("XDG_RUNTIME_DIR");
        if set.is_some_and(|d| std::path::Path::new(&d).is_dir()) {
            return;
        }
        // SAFETY: getuid cannot fail and has no side effects.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("weft-runtime-{uid}"));
        let made = std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            });
        let private = std::fs::metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o077 == 0);
        if made.is_ok() && private {
            // SAFETY: called first thing in main, before any thread exists
            // to read the environment concurrently.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}

fn main() -> ExitCode {
    exit_quietly_on_closed_pipes();
    quiet_missing_runtime_dir();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Info(args) => info::run(&cli.global, args),
        Command::Train(args) => train::run(&cli.global, args),
        Command::Finetune(args) => finetune::run(&cli.global, args),
        Command::Eval(args) => eval::run(&cli.global, args),
        Command::Classify(args) => classify::run(&cli.global, args),
        Command::Memory(args) => memory::run(&cli.global, args),
        Command::Bench(args) => bench::run(&cli.global, args),
        Command::Import(args) => onnx::run_import(&cli.global, args),
        Command::Run(args) => onnx::run_model(&cli.global, args),
        Command::Label(args) => label::run(&cli.global, args),
        Command::Cam(args) => cam::run(&cli.global, args),
        Command::Filter(args) => filter::run(&cli.global, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(weft::Error::BindingTooLarge { .. }) = e.downcast_ref::<weft::Error>() {
                eprintln!(
                    "hint: one launch's data is larger than this device binds at once: \
                     lower --batch (or the image size)"
                );
            }
            ExitCode::FAILURE
        }
    }
}
