//! Helpers shared by weft's integration tests.
#![allow(dead_code)]

pub mod sweep;

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature, LimitOverrides};
use weft::kernels::reference::RefOut;
use weft::kernels::{Precision, testing};
use weft::{DType, Device, Tensor};

/// One device per test binary, chosen like every weft program (`WEFT_BACKEND`,
/// `WEFT_ADAPTER`). With no adapter the tests fail loudly: CI always has lavapipe,
/// and a silent skip would hide every kernel bug.
pub fn device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| Device::from_env().expect("weft tests need a GPU adapter (lavapipe in CI)"))
        .clone()
}

/// A device of the caller's own (pool statistics are per device, and the
/// shared one serves tests running in parallel), with storage bindings of at
/// most `binding_limit` bytes if given, so that large tensors split into
/// windows and chunks.
pub fn own_device(binding_limit: Option<u64>) -> Device {
    Device::new(DeviceOptions {
        limits: LimitOverrides {
            max_storage_buffer_binding_size: binding_limit,
            ..Default::default()
        },
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap()
}

/// A device without shader-f16, where f16 tensors take the packed kernels
/// (one per test binary).
pub fn packed_device() -> Device {
    static DEV: OnceLock<Device> = OnceLock::new();
    DEV.get_or_init(|| {
        Device::new(DeviceOptions {
            disabled_features: vec![Feature::ShaderF16],
            ..DeviceOptions::from_env().unwrap()
        })
        .unwrap()
    })
    .clone()
}

/// A seeded RNG. The seed is printed so that a failure can be replayed with
/// `WEFT_TEST_SEED=<seed>`.
pub fn rng(default_seed: u64) -> ChaCha8Rng {
    let seed = std::env::var("WEFT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seed);
    eprintln!("seed = {seed}");
    ChaCha8Rng::seed_from_u64(seed)
}

/// Uniform values in [lo, hi).
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    use rand::Rng;
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Uniform values in [-1, 1) rounded to `dtype` (what its storage holds), and
/// the tensor of `shape` holding them.
pub fn upload(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    dtype: DType,
) -> (Vec<f32>, Tensor) {
    let v = testing::round_to(dtype, &uniform(rng, shape.iter().product(), -1.0, 1.0));
    let t = dev.upload_f32(shape, dtype, &v).unwrap();
    (v, t)
}

/// The precisions this adapter runs: f32, native f16 where the adapter has
/// shader-f16, packed f16.
pub fn precisions(dev: &Device) -> Vec<Precision> {
    Precision::ALL
        .into_iter()
        .filter(|&p| p != Precision::F16 || dev.has(Feature::ShaderF16))
        .collect()
}

/// The bound c of a sum of `terms` products accumulated in f32 and stored as
/// `dtype`: f32, c = 2·√K + 4 (errors growing like √K, plus the epilogue);
/// f16, c = 2 (inputs are the f16 values the kernel reads and sums are f32, so
/// what remains is one rounding to f16, ½ ulp, plus the f32 sum).
pub fn sum_bound(dtype: DType, terms: usize) -> f64 {
    match dtype {
        DType::F16 => 2.0,
        _ => 2.0 * (terms as f64).sqrt() + 4.0,
    }
}

/// Random values of either sign with magnitudes in [0.01, 2), rounded to
/// `dtype` (no subnormals, which drivers may flush; no exact zeros).
pub fn values(rng: &mut ChaCha8Rng, n: usize, dtype: DType) -> Vec<f32> {
    use rand::Rng;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let m = rng.random_range(0.01..2.0f32);
            if rng.random_bool(0.5) { m } else { -m }
        })
        .collect();
    testing::round_to(dtype, &v)
}

/// The largest fraction of its bound c·ε·scale + floor that any finite
/// element's error uses (what a test reports as its margin).
pub fn bound_used(got: &[f32], want: &RefOut, dtype: DType, c: f64) -> f64 {
    let e = testing::eps(dtype);
    got.iter()
        .zip(want.value.iter().zip(&want.scale))
        .filter(|(_, (w, _))| w.is_finite())
        .map(|(&g, (&w, &s))| (g as f64 - w).abs() / (c * e * s + testing::abs_floor(dtype)))
        .fold(0.0, f64::max)
}

/// Compares with `testing::compare` (bound c·ε·scale), panicking with `what`
/// and the first mismatches; returns the worst error in units of ε·scale.
pub fn check(got: &[f32], want: &RefOut, dtype: DType, c: f64, what: &str) -> f64 {
    testing::compare(got, want, dtype, c)
        .unwrap_or_else(|e| panic!("{what}:\n{e}"))
        .max_err_eps
}

/// LeNet-5 initialised from `seed` with a fresh Adam (lr 1e-3, constant).
pub fn lenet5_adam(dev: &Device, seed: u64) -> (weft::graph::Model, weft::graph::Optimizer) {
    use weft::graph::{LrSchedule, Model, Optimizer, OptimizerKind, models};
    let model = Model::new(dev, models::lenet5().unwrap(), seed).unwrap();
    let opt = Optimizer::new(
        dev,
        model.graph(),
        OptimizerKind::adam(1e-3),
        LrSchedule::Constant,
    )
    .unwrap();
    (model, opt)
}

/// conv-bn-relu, a residual block, pooling and a linear head: the layers
/// LeNet-5 lacks (batch norm with running statistics, an add, global
/// average pooling).
pub fn small_residual() -> weft::graph::Graph {
    use weft::graph::Graph;
    use weft::graph::layers::{
        Add, BatchNorm2d, Boxed, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2d, Relu,
    };
    let mut g = Graph::new();
    let x = g.input("image", &[1, 28, 28]).unwrap();
    let stem = g
        .chain(
            x,
            [
                ("conv1", Conv2d::new(1, 8, 3).padding(1).boxed()),
                ("bn1", BatchNorm2d::new(8).boxed()),
                ("relu1", Relu.boxed()),
                ("pool1", MaxPool2d::new(2).boxed()),
            ],
        )
        .unwrap();
    let branch = g
        .chain(
            stem,
            [
                ("conv2", Conv2d::new(8, 8, 3).padding(1).boxed()),
                ("bn2", BatchNorm2d::new(8).boxed()),
            ],
        )
        .unwrap();
    let sum = g.add("add", Add.boxed(), &[stem, branch]).unwrap();
    let y = g
        .chain(
            sum,
            [
                ("relu2", Relu.boxed()),
                ("gap", GlobalAvgPool.boxed()),
                ("flatten", Flatten.boxed()),
                ("fc", Linear::new(8, 10).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    g
}
