//! Criterion benchmarks of weft's main kernels: each sample is the GPU time of
//! the launches (timestamp queries where the adapter has them, otherwise wall
//! clock around a queue sync), not the host's recording time.
//!
//! `cargo bench --bench kernels` (add `-- gemm` to filter). For comparisons of
//! every variant over whole shape suites, use `weft bench`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use weft::kernels::conv::params::{Conv2dParams, Padding};
use weft::kernels::conv::{self, Conv2dSpec};
use weft::kernels::gemm::{self, GemmSpec};
use weft::kernels::pool::{self, Pool2dParams, PoolKind};
use weft::kernels::{Activation, elementwise};
use weft::{Device, Tensor};

fn device() -> Device {
    Device::from_env().expect("benchmarks need a GPU adapter (lavapipe works)")
}

fn filled(dev: &Device, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 2_654_435_761usize) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    dev.tensor(shape, &v).unwrap()
}

/// Times `iters` runs of `f` on the device.
fn gpu_time(dev: &Device, iters: u64, mut f: impl FnMut()) -> Duration {
    let ((), t) = dev
        .time(|| {
            for _ in 0..iters {
                f();
            }
            Ok(())
        })
        .unwrap();
    t.elapsed
}

fn gemm_bench(c: &mut Criterion) {
    let dev = device();
    let mut g = c.benchmark_group("gemm");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for s in [256usize, 1024] {
        let (a, b, out) = (
            filled(&dev, &[s, s]),
            filled(&dev, &[s, s]),
            dev.empty(&[s, s], weft::DType::F32).unwrap(),
        );
        for v in ["register_8x8", "vec4_8x8", "vec4_16x16"] {
            let v = gemm::TABLE.by_name(v).unwrap();
            let spec = GemmSpec {
                variant: Some(v),
                ..Default::default()
            };
            g.bench_function(format!("{s}^3 {}", v.name), |bch| {
                bch.iter_custom(|iters| {
                    gpu_time(&dev, iters, || {
                        gemm::gemm_into(&a, &b, None, &spec, &out).unwrap()
                    })
                })
            });
        }
    }
    g.finish();
}

fn conv_bench(c: &mut Criterion) {
    let dev = device();
    let mut g = c.benchmark_group("conv2d");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let cases = [
        (
            "lenet conv2 N64 6->16 5x5",
            [64, 6, 14, 14],
            [16, 6, 5, 5],
            0,
        ),
        (
            "resnet 3x3 N8 64->64 56x56",
            [8, 64, 56, 56],
            [64, 64, 3, 3],
            1,
        ),
    ];
    for (name, xs, ws, pad) in cases {
        let (x, w) = (filled(&dev, &xs), filled(&dev, &ws));
        let spec = Conv2dSpec {
            params: Conv2dParams {
                padding: Padding::Explicit([pad, pad]),
                ..Default::default()
            },
            activation: Activation::Relu,
            ..Default::default()
        };
        g.bench_function(name, |bch| {
            bch.iter_custom(|iters| {
                gpu_time(&dev, iters, || {
                    drop(conv::conv2d(&x, &w, None, &spec).unwrap())
                })
            })
        });
    }
    g.finish();
}

fn pool_and_elementwise_bench(c: &mut Criterion) {
    let dev = device();
    let mut g = c.benchmark_group("memory-bound");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    let x = filled(&dev, &[8, 64, 112, 112]);
    let params = Pool2dParams::new([2, 2]);
    g.bench_function("max_pool2d 2x2 N8 C64 112x112", |b| {
        b.iter_custom(|iters| {
            gpu_time(&dev, iters, || {
                drop(pool::pool2d(&x, PoolKind::Max, &params, None).unwrap())
            })
        })
    });
    g.bench_function("relu N8 C64 112x112", |b| {
        b.iter_custom(|iters| {
            gpu_time(&dev, iters, || {
                drop(elementwise::activation(&x, Activation::Relu).unwrap())
            })
        })
    });
    g.finish();
}

criterion_group!(benches, gemm_bench, conv_bench, pool_and_elementwise_bench);
criterion_main!(benches);
