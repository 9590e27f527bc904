//! weft-burn-compare: burn 0.22.1's wgpu backend on the workloads weft benchmarks.
//!
//! A dev-only tool, outside weft's workspace, so that weft's figures can be set
//! beside burn's from the same run on the same machine. Everything runs on
//! burn's wgpu backend in f32, with fusion and autotune enabled (see
//! Cargo.toml), on `Device::wgpu(DeviceKind::DefaultDevice)`: cubecl's
//! automatic graphics-API choice (Vulkan wherever Vulkan exists) and its WGSL
//! shader compiler, as weft uses (burn's `vulkan` feature, which adds a
//! SPIR-V compiler, is deliberately left off).
//!
//! Each workload first runs `--warmup` times (autotune picks its kernels on
//! first use), then `--runs` timed times; every timed run ends with
//! `Device::sync`, so a run is wall-clock time from issuing the work to the
//! device having finished it. The figures are the median and minimum run.
//!
//! Workloads and their rates:
//! - GEMM 1024x1024x1024: GFLOP/s = 2*M*N*K / s.
//! - conv2d (3x3 s1 p1 N8 C64 56x56 -> 64; 3x3 s1 p1 N8 C256 14x14 -> 256;
//!   7x7 s2 p3 N8 C3 224x224 -> 64): GFLOP/s = 2*N*Cout*OH*OW*Cin*KH*KW / s.
//! - conv_transpose2d 2x2 s2 N8 C64 28x28 -> 32: GFLOP/s = 2*N*Cin*H*W*Cout*KH*KW / s.
//! - max_pool2d 2x2 s2 N8 C64 112x112: GB/s counting input plus output bytes.
//! - LeNet-5 training step at batch 64 (forward, cross-entropy, backward,
//!   Adam lr 1e-3 with weft's betas 0.9/0.999 and eps 1e-8): images/s.
//! - LeNet-5 inference (forward only, no autodiff) at batch 256: images/s.
//!
//! Run it (from the repository root):
//!
//! ```text
//! cd tools/burn-compare && cargo run --release -- --runs 10
//! ```
//!
//! Flags: `--runs N` (timed runs, default 10), `--warmup N` (default 3),
//! `--json` (one JSON object on stdout instead of the table).

use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::module::{conv_transpose2d, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use burn::tensor::{Device, DeviceKind, Distribution, Int, Tensor, TensorData};
use serde_json::json;

/// Command-line options.
struct Options {
    runs: usize,
    warmup: usize,
    json: bool,
}

fn parse_args() -> Options {
    let mut options = Options {
        runs: 10,
        warmup: 3,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut count = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| usage(&format!("{name} needs a positive integer")))
        };
        match arg.as_str() {
            "--runs" => options.runs = count("--runs"),
            "--warmup" => options.warmup = count("--warmup"),
            "--json" => options.json = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    options
}

fn usage(error: &str) -> ! {
    if !error.is_empty() {
        eprintln!("error: {error}");
    }
    eprintln!("usage: weft-burn-compare [--runs N] [--warmup N] [--json]");
    std::process::exit(if error.is_empty() { 0 } else { 2 });
}

/// Median and minimum of the timed runs, in milliseconds.
struct Timing {
    median_ms: f64,
    min_ms: f64,
}

/// Runs `work` `warmup` times untimed, then `runs` times timed. Each run ends
/// with a device sync; whatever `work` returns is kept alive until after the
/// sync so that the lazy (fusion) backend cannot skip computing it.
fn measure<T>(device: &Device, options: &Options, mut work: impl FnMut() -> T) -> Timing {
    for _ in 0..options.warmup {
        let out = work();
        device.sync().expect("device sync failed");
        drop(out);
    }
    let mut times_ms = Vec::with_capacity(options.runs);
    for _ in 0..options.runs {
        let start = Instant::now();
        let out = work();
        device.sync().expect("device sync failed");
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        drop(out);
    }
    times_ms.sort_by(f64::total_cmp);
    let n = times_ms.len();
    let median_ms = if n % 2 == 1 {
        times_ms[n / 2]
    } else {
        (times_ms[n / 2 - 1] + times_ms[n / 2]) / 2.0
    };
    Timing {
        median_ms,
        min_ms: times_ms[0],
    }
}

/// One measured workload: its timing and its rate at the median.
struct Row {
    name: String,
    timing: Timing,
    /// Work per run, in the unit's numerator (FLOP, bytes or images).
    work: f64,
    /// The rate's unit; the scale below turns work/s into it.
    unit: &'static str,
    scale: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.work / (self.timing.median_ms / 1e3) / self.scale
    }
}

const GIGA: f64 = 1e9;

fn random4(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

fn bench_gemm(device: &Device, options: &Options, m: usize, n: usize, k: usize) -> Row {
    let a = Tensor::<2>::random([m, k], Distribution::Uniform(-1.0, 1.0), device);
    let b = Tensor::<2>::random([k, n], Distribution::Uniform(-1.0, 1.0), device);
    let timing = measure(device, options, || a.clone().matmul(b.clone()));
    Row {
        name: format!("gemm {m}x{n}x{k}"),
        timing,
        work: 2.0 * (m * n * k) as f64,
        unit: "GFLOP/s",
        scale: GIGA,
    }
}

/// conv2d with a square kernel, symmetric padding and no bias.
struct ConvCase {
    n: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
}

fn bench_conv2d(device: &Device, options: &Options, case: ConvCase) -> Row {
    let ConvCase {
        n,
        c_in,
        h,
        w,
        c_out,
        kernel: k,
        stride,
        pad,
    } = case;
    let x = random4([n, c_in, h, w], device);
    let weight = random4([c_out, c_in, k, k], device);
    let conv_options = ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1);
    let timing = measure(device, options, || {
        conv2d(x.clone(), weight.clone(), None, conv_options.clone())
    });
    let oh = (h + 2 * pad - k) / stride + 1;
    let ow = (w + 2 * pad - k) / stride + 1;
    Row {
        name: format!("conv2d {k}x{k} s{stride} p{pad} N{n} C{c_in} {h}x{w} -> {c_out}"),
        timing,
        work: 2.0 * (n * c_out * oh * ow * c_in * k * k) as f64,
        unit: "GFLOP/s",
        scale: GIGA,
    }
}

fn bench_conv_transpose2d(device: &Device, options: &Options) -> Row {
    let (n, c_in, h, w, c_out, k, stride) = (8, 64, 28, 28, 32, 2, 2);
    let x = random4([n, c_in, h, w], device);
    // Transposed-convolution weights are [C_in, C_out, KH, KW].
    let weight = random4([c_in, c_out, k, k], device);
    let conv_options = ConvTransposeOptions::new([stride, stride], [0, 0], [0, 0], [1, 1], 1);
    let timing = measure(device, options, || {
        conv_transpose2d(x.clone(), weight.clone(), None, conv_options.clone())
    });
    Row {
        name: format!("conv_transpose2d {k}x{k} s{stride} N{n} C{c_in} {h}x{w} -> {c_out}"),
        timing,
        work: 2.0 * (n * c_in * h * w * c_out * k * k) as f64,
        unit: "GFLOP/s",
        scale: GIGA,
    }
}

fn bench_max_pool2d(device: &Device, options: &Options) -> Row {
    let (n, c, h, w) = (8, 64, 112, 112);
    let x = random4([n, c, h, w], device);
    let pool_options = MaxPoolOptions::new([2, 2]).with_stride([2, 2]);
    let timing = measure(device, options, || {
        max_pool2d(x.clone(), pool_options.clone())
    });
    let bytes = 4 * (n * c * h * w + n * c * (h / 2) * (w / 2));
    Row {
        name: format!("max_pool2d 2x2 s2 N{n} C{c} {h}x{w}"),
        timing,
        work: bytes as f64,
        unit: "GB/s",
        scale: GIGA,
    }
}

/// LeNet-5 for 28x28 single-channel images.
#[derive(Module, Debug)]
struct LeNet5 {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl LeNet5 {
    fn new(device: &Device) -> Self {
        Self {
            conv1: Conv2dConfig::new([1, 6], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                .init(device),
            conv2: Conv2dConfig::new([6, 16], [5, 5]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(400, 120).init(device),
            fc2: LinearConfig::new(120, 84).init(device),
            fc3: LinearConfig::new(84, 10).init(device),
        }
    }

    /// `[N, 1, 28, 28]` images to `[N, 10]` logits.
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(images))); // [N, 6, 14, 14]
        let x = self.pool.forward(relu(self.conv2.forward(x))); // [N, 16, 5, 5]
        let x: Tensor<2> = x.flatten(1, 3); // [N, 400]
        let x = relu(self.fc1.forward(x));
        let x = relu(self.fc2.forward(x));
        self.fc3.forward(x)
    }
}

/// Class labels in 0..10 from a fixed-seed generator, as an Int tensor.
fn random_labels(batch: usize, device: &Device) -> Tensor<1, Int> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let labels: Vec<i64> = (0..batch)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % 10) as i64
        })
        .collect();
    Tensor::from_data(TensorData::new(labels, [batch]), device)
}

fn bench_lenet_train(device: &Device, options: &Options, batch: usize) -> Row {
    let device = device.clone().autodiff();
    let images = Tensor::<4>::random([batch, 1, 28, 28], Distribution::Default, &device);
    let labels = random_labels(batch, &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    // burn's default epsilon is 1e-5; weft (like PyTorch) uses 1e-8.
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let mut model = Some(LeNet5::new(&device));

    let timing = measure(&device, options, || {
        let net = model.take().expect("model is put back after every step");
        let logits = net.forward(images.clone());
        let loss = loss_fn.forward(logits, labels.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        model = Some(optimizer.step(1e-3, net, grads));
    });
    Row {
        name: format!("lenet5 train step (Adam) batch {batch}"),
        timing,
        work: batch as f64,
        unit: "img/s",
        scale: 1.0,
    }
}

fn bench_lenet_inference(device: &Device, options: &Options, batch: usize) -> Row {
    let model = LeNet5::new(device);
    let images = Tensor::<4>::random([batch, 1, 28, 28], Distribution::Default, device);
    let timing = measure(device, options, || model.forward(images.clone()));
    Row {
        name: format!("lenet5 inference batch {batch}"),
        timing,
        work: batch as f64,
        unit: "img/s",
        scale: 1.0,
    }
}

fn main() {
    let options = parse_args();
    let device = Device::wgpu(DeviceKind::DefaultDevice);
    device.seed(0);

    // The adapter's own name. (burn's identity also carries a "fingerprint",
    // but it reads "spirv_<vendor>_<device>" even in this WGSL-only build, so
    // it says nothing about the shader path and is not printed.)
    let adapter = device
        .identity()
        .map_or_else(|| "unknown".to_string(), |id| id.name);
    let backend = "burn 0.22.1 wgpu backend (WGSL kernels, fusion, autotune), f32";
    if !options.json {
        println!("{backend}");
        println!("adapter: {adapter}");
        println!(
            "{} warm-up runs, {} timed runs per workload, each ending in a device sync",
            options.warmup, options.runs
        );
        println!();
    }

    let conv_cases = [
        ConvCase {
            n: 8,
            c_in: 64,
            h: 56,
            w: 56,
            c_out: 64,
            kernel: 3,
            stride: 1,
            pad: 1,
        },
        ConvCase {
            n: 8,
            c_in: 256,
            h: 14,
            w: 14,
            c_out: 256,
            kernel: 3,
            stride: 1,
            pad: 1,
        },
        ConvCase {
            n: 8,
            c_in: 3,
            h: 224,
            w: 224,
            c_out: 64,
            kernel: 7,
            stride: 2,
            pad: 3,
        },
    ];

    let mut rows = Vec::new();
    let mut record = |row: Row| {
        if !options.json {
            println!(
                "{:<44} median {:>10.3} ms   min {:>10.3} ms   {:>10.2} {}",
                row.name,
                row.timing.median_ms,
                row.timing.min_ms,
                row.rate(),
                row.unit
            );
        }
        rows.push(row);
    };

    record(bench_gemm(&device, &options, 1024, 1024, 1024));
    for case in conv_cases {
        record(bench_conv2d(&device, &options, case));
    }
    record(bench_conv_transpose2d(&device, &options));
    record(bench_max_pool2d(&device, &options));
    record(bench_lenet_train(&device, &options, 64));
    record(bench_lenet_inference(&device, &options, 256));

    if options.json {
        let workloads: Vec<_> = rows
            .iter()
            .map(|row| {
                json!({
                    "name": row.name,
                    "median_ms": row.timing.median_ms,
                    "min_ms": row.timing.min_ms,
                    "rate": row.rate(),
                    "unit": row.unit,
                })
            })
            .collect();
        let report = json!({
            "backend": backend,
            "adapter": adapter,
            "warmup": options.warmup,
            "runs": options.runs,
            "workloads": workloads,
        });
        println!("{report}");
    }
}
