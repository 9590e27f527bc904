//! `weft bench`: every variant of every op (the rows of the kernels' tables)
//! over named shape suites, checked against the CPU reference on each shape
//! before it is timed, ranked, and reported as a table, JSON, CSV and one SVG
//! chart per op. `--list` prints the tables themselves.

mod cases;
mod image;
mod networks;
mod report;
mod runners;
mod scaling;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use weft::Device;
use weft::kernels::{Precision, peak};

use crate::Global;
pub use cases::{Case, Work};
pub use stats::Stats;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Ops to run; default all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub op: Vec<BenchOp>,
    /// Shape suites (`networks`: whole-network figures; `image`: the filter
    /// variants, separable blurs and labelling in megapixels/s); default all
    /// but `image` and `square` (GEMMs up to 2048³).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub suite: Vec<Suite>,
    /// Variants to run (names as listed by the op); default all.
    #[arg(long, value_delimiter = ',')]
    pub variant: Vec<String>,
    /// Explicit shapes instead of suites: `M,N,K[,nn|nt|tn|tt]` for gemm
    /// (which operands are transposed); `N,C,H,W,K,R,S,stride,pad[,dilation,groups]`
    /// for convolutions; `N,C,H,W,kernel,stride[,pad]` for pooling and its
    /// gradient; `N,C,H,W` for batch norm; `C,H,W,side` for correlate (a
    /// side × side kernel) and `C,H,W,radius` for rank_filter (medians).
    #[arg(long)]
    pub shape: Vec<String>,
    /// Precisions (f16: native f16 storage). Whole networks run at f32 and,
    /// when any f16 precision is given, with f16 activations as well.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "f32")]
    pub precision: Vec<PrecisionArg>,
    /// Timed runs per variant (at least 10 recommended).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Untimed runs first (the first one compiles the pipeline).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Only measure the device's ceilings (copy bandwidth, FMA throughput).
    #[arg(long)]
    pub peak: bool,
    /// Directory for results.json, results.csv and one SVG chart per op.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write each shape's winner into the tuning cache, so that the automatic
    /// variant choice uses it on this adapter (see `WEFT_TUNE`).
    #[arg(long)]
    pub save_tuning: bool,
    /// Skip the whole-network figures.
    #[arg(long)]
    pub no_networks: bool,
    /// Only the whole-network figures whose name contains one of these, e.g.
    /// `--network "resnet18 training"` (repeatable; default all).
    #[arg(long = "network", value_name = "NAME")]
    pub networks: Vec<String>,
    /// Print every op's variants with their constraints, and exit.
    #[arg(long)]
    pub list: bool,
}

/// One variant measured on one case.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub op: String,
    pub suite: String,
    pub shape: String,
    pub precision: String,
    pub variant: String,
    /// Whether this is the variant the op picks by itself on this device
    /// (the tuner's record, else the table's automatic choice).
    pub chosen: bool,
    /// `None` when correct; the reason otherwise (never ranked).
    pub error: Option<String>,
    /// Worst |gpu − ref| in units of ε·scale on the checked elements.
    pub max_err_eps: f64,
    pub stats: Option<Stats>,
    pub work: Work,
}

impl Measurement {
    pub fn correct(&self) -> bool {
        self.error.is_none() && self.stats.is_some()
    }

    /// Megapixels per second of an image tool.
    pub fn mpx_s(&self) -> Option<f64> {
        let s = self.stats?;
        (self.work.pixels > 0.0).then(|| self.work.pixels / s.median / 1e6)
    }

    /// GFLOP/s for compute-bound ops, GB/s for memory-bound ones.
    pub fn rate(&self) -> Option<f64> {
        let s = self.stats?;
        Some(if self.work.memory_bound {
            self.work.bytes / s.median / 1e9
        } else {
            self.work.flops / s.median / 1e9
        })
    }
}

/// `--op`: the ops `weft bench` compares the variants of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum BenchOp {
    Gemm,
    Conv2d,
    Conv2dBackwardData,
    Conv2dBackwardWeight,
    ConvTranspose2d,
    MaxPool2d,
    AvgPool2d,
    MaxPool2dBackward,
    BatchNorm,
    BatchNormBackward,
    Correlate,
    RankFilter,
    /// The image filters: `correlate` and `rank_filter` on the image
    /// suite's shapes, and its figures (naive, tiled and separable blurs,
    /// Sobel, labelling) in megapixels/s.
    Filter,
}

impl BenchOp {
    pub fn name(self) -> &'static str {
        match self {
            BenchOp::Gemm => "gemm",
            BenchOp::Conv2d => "conv2d",
            BenchOp::Conv2dBackwardData => "conv2d_backward_data",
            BenchOp::Conv2dBackwardWeight => "conv2d_backward_weight",
            BenchOp::ConvTranspose2d => "conv_transpose2d",
            BenchOp::MaxPool2d => "max_pool2d",
            BenchOp::AvgPool2d => "avg_pool2d",
            BenchOp::MaxPool2dBackward => "max_pool2d_backward",
            BenchOp::BatchNorm => "batch_norm",
            BenchOp::BatchNormBackward => "batch_norm_backward",
            BenchOp::Correlate => "correlate",
            BenchOp::RankFilter => "rank_filter",
            BenchOp::Filter => "filter",
        }
    }
}

/// `--suite`: named shape sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    Lenet5,
    Alexnet,
    Vgg16,
    Resnet18,
    Unet,
    Square,
    Targets,
    /// Whole networks: training and inference images/s.
    Networks,
    /// Image tools: filters and connected components, megapixels/s.
    Image,
    /// Data-parallel training with 1, 2 and 4 workers: images/s, the
    /// all-reduce's share of a step, bytes moved.
    Scaling,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Lenet5 => "lenet5",
            Suite::Alexnet => "alexnet",
            Suite::Vgg16 => "vgg16",
            Suite::Resnet18 => "resnet18",
            Suite::Unet => "unet",
            Suite::Square => "square",
            Suite::Targets => "targets",
            Suite::Networks => "networks",
            Suite::Image => "image",
            Suite::Scaling => "scaling",
        }
    }
}

/// `--precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F16,
    #[value(name = "f16-packed", alias = "f16p")]
    F16Packed,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Precision {
        match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::F16Packed => Precision::F16Packed,
        }
    }
}

pub fn run(global: &Global, args: &BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.list {
        return report::list(global);
    }
    if let Some(dir) = &args.out {
        crate::setup::check_output_dir(dir, "--out")?;
    }
    let device = Device::new(global.device_options()?)?;
    let caps = device.caps();
    eprintln!(
        "weft bench on {} ({}, {}), clock: {:?}",
        caps.adapter.name,
        caps.adapter.backend,
        caps.adapter.driver_info,
        device.clock()
    );
    let ceilings = peak::measure(&device)?;
    eprintln!(
        "device ceilings: copy {:.1} GB/s, fp32 FMA {:.1} GFLOP/s",
        ceilings.copy_gb_s, ceilings.fma_gflop_s
    );
    if args.peak {
        return report::emit(global, args, &device, ceilings, &[], &[], &[]);
    }
    if args.suite == [Suite::Scaling] {
        return scaling::run(global, args, &device);
    }
    let precisions: Vec<Precision> = args.precision.iter().map(|&p| p.into()).collect();
    let cases = cases::select(args)?;
    let only_networks = args.op.contains(&BenchOp::Filter)
        || (!args.suite.is_empty()
            && args
                .suite
                .iter()
                .all(|s| matches!(s, Suite::Networks | Suite::Image)));
    if cases.is_empty() && !only_networks {
        return Err("no benchmark case matches the filters".into());
    }
    let mut results = Vec::new();
    for case in &cases {
        for &precision in &precisions {
            let variants = case.variants(&device, precision);
            for variant in variants {
                if !args.variant.is_empty() && !args.variant.iter().any(|v| v == &variant) {
                    continue;
                }
                let m = measure(&device, case, &variant, precision, args);
                report::progress(&m, ceilings);
                results.push(m);
            }
        }
    }
    // A case none of whose variants could even be set up (a shape past the
    // device's buffers) is the caller's error, not a wrong result.
    for case in cases.iter().map(|c| c.shape.clone()) {
        let of_case: Vec<&Measurement> = results.iter().filter(|m| m.shape == case).collect();
        if !of_case.is_empty()
            && of_case.iter().all(|m| {
                m.error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("setup failed"))
            })
        {
            let first = of_case[0].error.as_deref().unwrap_or_default();
            return Err(format!("{} {case}: {first}", of_case[0].op).into());
        }
    }
    if !args.variant.is_empty() && results.is_empty() && !cases.is_empty() {
        return Err(format!(
            "--variant {}: no such variant of the selected ops (weft bench --list names them)",
            args.variant.join(",")
        )
        .into());
    }
    if args.save_tuning {
        save_winners(&device, &cases, &results);
    }
    let wants_networks = args.suite.is_empty() || args.suite.contains(&Suite::Networks);
    let networks =
        if args.shape.is_empty() && wants_networks && !args.no_networks && args.op.is_empty() {
            let measured = networks::measure(&device, args)?;
            if measured.is_empty() && !args.networks.is_empty() {
                return Err(format!(
                    "--network {}: no network of the suite matches",
                    args.networks.join(",")
                )
                .into());
            }
            measured
        } else {
            Vec::new()
        };
    let image = if args.suite.contains(&Suite::Image) || args.op.contains(&BenchOp::Filter) {
        image::measure(&device, args)?
    } else {
        Vec::new()
    };
    report::emit(global, args, &device, ceilings, &results, &networks, &image)
}

/// Records the fastest correct variant of every (case, precision) with the
/// device's tuner (the command line's writes its file).
fn save_winners(device: &Device, cases: &[Case], results: &[Measurement]) {
    for case in cases {
        for precision in Precision::ALL {
            let best = results
                .iter()
                .filter(|m| {
                    m.op == case.op
                        && m.shape == case.shape
                        && m.precision == precision.name()
                        && m.correct()
                })
                .min_by(|a, b| {
                    a.stats
                        .expect("timed")
                        .median
                        .total_cmp(&b.stats.expect("timed").median)
                });
            if let Some(m) = best {
                device
                    .tuner()
                    .record(&case.tune_key(device, precision), &m.variant);
                eprintln!(
                    "tuning: {} {} {} -> {}",
                    case.op,
                    case.shape,
                    precision.name(),
                    m.variant
                );
            }
        }
    }
}

/// Checks one variant on a case, then times it.
fn measure(
    device: &Device,
    case: &Case,
    variant: &str,
    precision: Precision,
    args: &BenchArgs,
) -> Measurement {
    let mut m = Measurement {
        op: case.op.to_string(),
        suite: case.suite.clone(),
        shape: case.shape.clone(),
        precision: precision.name().to_string(),
        variant: variant.to_string(),
        chosen: case.chosen_variant(device, precision) == variant,
        error: None,
        max_err_eps: 0.0,
        stats: None,
        work: case.work,
    };
    let mut runner = match case.prepare(device, variant, precision) {
        Ok(r) => r,
        Err(e) => {
            m.error = Some(format!("setup failed: {e}"));
            return m;
        }
    };
    match runner.check() {
        Ok(err) => m.max_err_eps = err,
        Err(e) => {
            m.error = Some(e);
            return m;
        }
    }
    let mut times = Vec::with_capacity(args.runs);
    for i in 0..args.warmup + args.runs.max(1) {
        match device.time(|| runner.run(i)) {
            Ok(((), t)) => {
                if i >= args.warmup {
                    times.push(t.elapsed);
                }
            }
            Err(e) => {
                m.error = Some(format!("run failed: {e}"));
                return m;
            }
        }
    }
    if crate::setup::profile_launches() {
        // One more run outside the timer, each launch waited for on its own.
        let _ = device.take_launch_profile();
        if runner.run(0).and_then(|()| device.sync()).is_ok() {
            eprintln!("{} {} {variant}:", case.op, case.shape);
            crate::setup::print_launch_profile(device);
        }
    }
    if times.iter().all(|t| *t == Duration::ZERO) {
        m.error = Some("timer reported zero".into());
        return m;
    }
    m.stats = Some(Stats::from(&times));
    m
}
