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
//! - ResNet-18 (torchvision's layout, 1000 classes, 224x224; burn's own
//!   layers) inference at batch 1 and 8 and its training step at batch 8
//!   (cross-entropy, Adam as above): images/s and GFLOP/s counting
//!   1.814 GMAC per image forward, 3x that for a training step, as
//!   `weft bench --suite networks` counts.
//!
//! Run it (from the repository root):
//!
//! ```text
//! cd tools/burn-compare && cargo run --release -- --runs 10
//! ```
//!
//! Flags: `--runs N` (timed runs, default 10), `--warmup N` (default 3),
//! `--only kernels|lenet5|resnet18` (one group of workloads; the default runs
//! all three), `--json` (one JSON object on stdout instead of the table).
//! ResNet-18 takes `min(runs, 3)` timed runs and one warm-up: a training
//! step is many seconds on a CPU rasteriser.

use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
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
    /// One group of workloads, or every group.
    only: Option<String>,
}

impl Options {
    /// The run counts of the slow (ResNet-18) workloads.
    fn slow(&self) -> Options {
        Options {
            runs: self.runs.min(3),
            warmup: 1,
            json: self.json,
            only: None,
        }
    }

    fn wants(&self, group: &str) -> bool {
        self.only.as_deref().is_none_or(|g| g == group)
    }
}

fn parse_args() -> Options {
    let mut options = Options {
        runs: 10,
        warmup: 3,
        json: false,
        only: None,
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
            "--only" => match args.next().as_deref() {
                Some(g @ ("kernels" | "lenet5" | "resnet18")) => options.only = Some(g.into()),
                _ => usage("--only needs kernels, lenet5 or resnet18"),
            },
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
    eprintln!(
        "usage: weft-burn-compare [--runs N] [--warmup N] [--only kernels|lenet5|resnet18] [--json]"
    );
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
    /// Floating-point operations per run, where the rate is not already GFLOP/s.
    flop: Option<f64>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.work / (self.timing.median_ms / 1e3) / self.scale
    }

    fn gflop_s(&self) -> Option<f64> {
        self.flop.map(|f| f / (self.timing.median_ms / 1e3) / GIGA)
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
        flop: None,
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
        flop: None,
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
        flop: None,
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
        flop: None,
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

impl Classifier for LeNet5 {
    const NAME: &'static str = "lenet5";
    const IMAGE: [usize; 3] = [1, 28, 28];
    const FLOP: Option<f64> = None;

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

/// A network from images to class logits, built on a given device.
trait Classifier: Module + Sized {
    /// Its name in the table.
    const NAME: &'static str;
    /// One image's `[C, H, W]`.
    const IMAGE: [usize; 3];
    /// Forward FLOPs per image, where the table reports GFLOP/s.
    const FLOP: Option<f64>;
    fn new(device: &Device) -> Self;
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;
}

fn images(batch: usize, [c, h, w]: [usize; 3], device: &Device) -> Tensor<4> {
    Tensor::random([batch, c, h, w], Distribution::Default, device)
}

/// A training step: forward, cross-entropy, backward and Adam (lr 1e-3,
/// weft's betas 0.9/0.999 and eps 1e-8).
fn bench_train<M: Classifier>(device: &Device, options: &Options, batch: usize) -> Row {
    let device = device.clone().autodiff();
    let images = images(batch, M::IMAGE, &device);
    let labels = random_labels(batch, &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    // burn's default epsilon is 1e-5; weft (like PyTorch) uses 1e-8.
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let mut model = Some(M::new(&device));
    let timing = measure(&device, options, || {
        let net = model.take().expect("model is put back after every step");
        let logits = net.forward(images.clone());
        let loss = loss_fn.forward(logits, labels.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        model = Some(optimizer.step(1e-3, net, grads));
    });
    Row {
        name: format!("{} train step (Adam) batch {batch}", M::NAME),
        timing,
        work: batch as f64,
        unit: "img/s",
        scale: 1.0,
        flop: M::FLOP.map(|f| 3.0 * f * batch as f64),
    }
}

/// Inference: forward only, no autodiff.
fn bench_inference<M: Classifier>(device: &Device, options: &Options, batch: usize) -> Row {
    let model = M::new(device);
    let images = images(batch, M::IMAGE, device);
    let timing = measure(device, options, || model.forward(images.clone()));
    Row {
        name: format!("{} inference batch {batch}", M::NAME),
        timing,
        work: batch as f64,
        unit: "img/s",
        scale: 1.0,
        flop: M::FLOP.map(|f| f * batch as f64),
    }
}

/// A 3x3 or 1x1 convolution without bias, padded to keep the size at stride 1.
fn resnet_conv(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

/// ResNet's basic block: two 3x3 convolutions with batch norm, and a 1x1
/// projection (with batch norm) on the shortcut where the shape changes.
#[derive(Module, Debug)]
struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    down: Option<(Conv2d, BatchNorm)>,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        let down = (stride != 1 || c_in != c_out).then(|| {
            (
                resnet_conv(c_in, c_out, 1, stride, device),
                BatchNormConfig::new(c_out).init(device),
            )
        });
        Self {
            conv1: resnet_conv(c_in, c_out, 3, stride, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: resnet_conv(c_out, c_out, 3, 1, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            down,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let y = self.bn2.forward(self.conv2.forward(y));
        let shortcut = match &self.down {
            Some((conv, bn)) => bn.forward(conv.forward(x)),
            None => x,
        };
        relu(y + shortcut)
    }
}

/// ResNet-18 as torchvision lays it out (and weft's `models::resnet18`).
#[derive(Module, Debug)]
struct ResNet18 {
    conv1: Conv2d,
    bn1: BatchNorm,
    pool: MaxPool2d,
    blocks: Vec<BasicBlock>,
    avgpool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl Classifier for ResNet18 {
    const NAME: &'static str = "resnet18";
    const IMAGE: [usize; 3] = [3, 224, 224];
    /// 1,814,073,344 multiply-adds per 224x224 image.
    const FLOP: Option<f64> = Some(2.0 * 1_814_073_344.0);

    fn new(device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut c = 64;
        for (stage, c_out) in [64, 128, 256, 512].into_iter().enumerate() {
            let stride = if stage == 0 { 1 } else { 2 };
            blocks.push(BasicBlock::new(c, c_out, stride, device));
            blocks.push(BasicBlock::new(c_out, c_out, 1, device));
            c = c_out;
        }
        Self {
            conv1: Conv2dConfig::new([3, 64], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .with_bias(false)
                .init(device),
            bn1: BatchNormConfig::new(64).init(device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(512, 1000).init(device),
        }
    }

    /// `[N, 3, 224, 224]` images to `[N, 1000]` logits.
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self
            .pool
            .forward(relu(self.bn1.forward(self.conv1.forward(images))));
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.fc.forward(self.avgpool.forward(x).flatten(1, 3))
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
            "{} warm-up runs, {} timed runs per workload (ResNet-18: 1 and {}), each ending in a \
             device sync",
            options.warmup,
            options.runs,
            options.slow().runs
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
            if let Some(g) = row.gflop_s() {
                println!("{:<44} {g:.2} GFLOP/s", "");
            }
        }
        rows.push(row);
    };

    if options.wants("kernels") {
        record(bench_gemm(&device, &options, 1024, 1024, 1024));
        for case in conv_cases {
            record(bench_conv2d(&device, &options, case));
        }
        record(bench_conv_transpose2d(&device, &options));
        record(bench_max_pool2d(&device, &options));
    }
    if options.wants("lenet5") {
        record(bench_train::<LeNet5>(&device, &options, 64));
        record(bench_inference::<LeNet5>(&device, &options, 256));
    }
    if options.wants("resnet18") {
        let slow = options.slow();
        for batch in [1, 8] {
            record(bench_inference::<ResNet18>(&device, &slow, batch));
        }
        record(bench_train::<ResNet18>(&device, &slow, 8));
    }

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
                    "gflop_s": row.gflop_s(),
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
