//! softmax / log_softmax along any axis, forward and backward, against the f64
//! references: ≥ 100 random shapes per op × direction × precision (f32, native
//! f16), random axes, rows from 1 to 3000 elements (one invocation per row up
//! to 64, a workgroup per row beyond), logits up to ±1e4 (f32) and ±6e4 (f16).
//! Outputs poisoned with NaN; every element compared.
//!
//! Bounds: |gpu − ref| ≤ c·ε·scale with c = 2 for f32, where the reference
//! scale models the kernel's f32 arithmetic (exp within (3 + 2|z|) ulp as the
//! Vulkan spec allows, sums of `len` terms within log2(len) ulp; see
//! `reference::softmax`), so c = 2 leaves a factor two. f16 results are that
//! f32 result rounded once: c = 1 on a scale of |ref| + 2·(ε₃₂/ε₁₆)·scale.
//! The f64 backward references pass a central finite-difference check.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature};
use weft::kernels::reference::softmax as ref_sm;
use weft::kernels::{softmax, testing};
use weft::{DType, Device, Error};

fn dtypes(dev: &Device) -> Vec<DType> {
    let mut v = vec![DType::F32];
    if dev.has(Feature::ShaderF16) {
        v.push(DType::F16);
    }
    v
}

fn dim(rng: &mut ChaCha8Rng) -> usize {
    const AWKWARD: [usize; 10] = [1, 2, 3, 4, 7, 8, 13, 16, 33, 64];
    if rng.random_bool(0.6) {
        AWKWARD[rng.random_range(0..AWKWARD.len())]
    } else {
        rng.random_range(1..30)
    }
}

/// A random shape and axis; every 4th case has a long axis (65..3000).
fn random_case(rng: &mut ChaCha8Rng, i: usize) -> (Vec<usize>, usize) {
    loop {
        let rank = rng.random_range(1..=4);
        let mut shape: Vec<usize> = (0..rank).map(|_| dim(rng)).collect();
        let axis = rng.random_range(0..rank);
        if i % 4 == 1 {
            shape[axis] = rng.random_range(65..3000);
        }
        if shape.iter().product::<usize>() <= 60_000 {
            return (shape, axis);
        }
    }
}

/// Logits: mostly ±5, every 5th case at the extremes (±1e4 in f32, ±6e4 in f16).
fn logits(rng: &mut ChaCha8Rng, n: usize, dtype: DType, i: usize) -> Vec<f32> {
    let span = match (i % 5, dtype) {
        (4, DType::F16) => 60_000.0,
        (4, _) => 10_000.0,
        _ => 5.0,
    };
    testing::round_to(dtype, &common::uniform(rng, n, -span, span))
}

fn run_forward(log: bool) {
    let dev = common::device();
    let mut rng = common::rng(0x50f7 + log as u64);
    let cases: Vec<_> = (0..100).map(|i| random_case(&mut rng, i)).collect();
    let name = if log { "log_softmax" } else { "softmax" };
    for dtype in dtypes(&dev) {
        let mut worst = 0.0f64;
        for (i, (shape, axis)) in cases.iter().enumerate() {
            let n: usize = shape.iter().product();
            let x = logits(&mut rng, n, dtype, i);
            let xt = dev.upload_f32(shape, dtype, &x).unwrap();
            let y = testing::poisoned(&dev, shape, dtype).unwrap();
            if log {
                softmax::log_softmax_into(&xt, *axis, &y).unwrap();
            } else {
                softmax::softmax_into(&xt, *axis, &y).unwrap();
            }
            let got = y.to_f32_vec().unwrap();
            let want = ref_sm::softmax(&x, shape, *axis, log);
            let (bound, c) = testing::storage_bound(&want, dtype, 2.0);
            testing::compare(&got, &bound, dtype, c)
                .unwrap_or_else(|e| panic!("{name} {dtype} {shape:?} axis {axis}:\n{e}"));
            worst = worst.max(common::bound_used(&got, &bound, dtype, c));
        }
        eprintln!("{name} {dtype}: 100 shapes, worst error {worst:.3} of the bound");
    }
}

fn run_backward(log: bool) {
    let dev = common::device();
    let mut rng = common::rng(0x50f9 + log as u64);
    let cases: Vec<_> = (0..100).map(|i| random_case(&mut rng, i)).collect();
    let name = if log {
        "log_softmax_backward"
    } else {
        "softmax_backward"
    };
    for dtype in dtypes(&dev) {
        let mut worst = 0.0f64;
        for (i, (shape, axis)) in cases.iter().enumerate() {
            let n: usize = shape.iter().product();
            let x = logits(&mut rng, n, dtype, i);
            // y as a forward kernel would have stored it.
            let y: Vec<f32> = ref_sm::softmax(&x, shape, *axis, log)
                .value
                .iter()
                .map(|&v| v as f32)
                .collect();
            let y = testing::round_to(dtype, &y);
            let dy = testing::round_to(dtype, &common::uniform(&mut rng, n, -1.0, 1.0));
            let yt = dev.upload_f32(shape, dtype, &y).unwrap();
            let dyt = dev.upload_f32(shape, dtype, &dy).unwrap();
            let dx = testing::poisoned(&dev, shape, dtype).unwrap();
            if log {
                softmax::log_softmax_backward_into(&yt, &dyt, *axis, &dx).unwrap();
            } else {
                softmax::softmax_backward_into(&yt, &dyt, *axis, &dx).unwrap();
            }
            let got = dx.to_f32_vec().unwrap();
            let want = ref_sm::softmax_backward(&y, &dy, shape, *axis, log);
            let (bound, c) = testing::storage_bound(&want, dtype, 2.0);
            testing::compare(&got, &bound, dtype, c)
                .unwrap_or_else(|e| panic!("{name} {dtype} {shape:?} axis {axis}:\n{e}"));
            worst = worst.max(common::bound_used(&got, &bound, dtype, c));
        }
        eprintln!("{name} {dtype}: 100 shapes, worst error {worst:.3} of the bound");
    }
}

#[test]
fn softmax_forward() {
    run_forward(false);
}

#[test]
fn log_softmax_forward() {
    run_forward(true);
}

#[test]
fn softmax_backward() {
    run_backward(false);
}

#[test]
fn log_softmax_backward() {
    run_backward(true);
}

/// Central differences of L(x) = Σ w·f(x) against the f64 backward references.
#[test]
fn backward_references_match_finite_differences() {
    let mut rng = common::rng(0x50fa);
    for (shape, axis) in [
        (vec![3usize, 5], 1usize),
        (vec![2, 4, 3], 1),
        (vec![7], 0),
        (vec![2, 3, 2, 2], 3),
        (vec![4, 1, 3], 0),
    ] {
        let n: usize = shape.iter().product();
        let x: Vec<f64> = common::uniform(&mut rng, n, -3.0, 3.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let w: Vec<f64> = common::uniform(&mut rng, n, -1.0, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        for log in [false, true] {
            let loss = |x: &[f64]| -> f64 {
                ref_sm::softmax_f64(x, &shape, axis, log)
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| a * b)
                    .sum()
            };
            let y = ref_sm::softmax_f64(&x, &shape, axis, log);
            let g = ref_sm::softmax_backward_f64(&y, &w, &shape, axis, log);
            let h = 1e-6;
            for j in 0..n {
                let mut xp = x.clone();
                xp[j] += h;
                let mut xm = x.clone();
                xm[j] -= h;
                let fd = (loss(&xp) - loss(&xm)) / (2.0 * h);
                assert!(
                    (fd - g[j]).abs() <= 1e-7 * (1.0 + g[j].abs()),
                    "log={log} {shape:?} axis {axis} at {j}: fd {fd} vs {}",
                    g[j]
                );
            }
        }
    }
}

#[test]
fn extremes_nan_and_large_grid() {
    let dev = common::device();
    let mut rng = common::rng(0x50fb);
    // ±1e4 logits: finite, rows sum to 1.
    let x = common::uniform(&mut rng, 8 * 100, -1e4, 1e4);
    let xt = dev.tensor(&[8, 100], &x).unwrap();
    let y = softmax::softmax(&xt, 1).unwrap().to_f32_vec().unwrap();
    for row in y.chunks(100) {
        assert!(row.iter().all(|v| v.is_finite()));
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let ly = softmax::log_softmax(&xt, 1).unwrap().to_f32_vec().unwrap();
    assert!(ly.iter().all(|v| v.is_finite()));
    // f16 logits up to ±30,000 (differences up to 60,000, beyond what an f16
    // exp or sum could hold): finite and correct, rows sum to 1.
    if dev.has(Feature::ShaderF16) {
        let x = testing::round_to(DType::F16, &common::uniform(&mut rng, 8 * 100, -3e4, 3e4));
        let xt = dev.upload_f32(&[8, 100], DType::F16, &x).unwrap();
        let y = softmax::softmax(&xt, 1).unwrap().to_f32_vec().unwrap();
        for row in y.chunks(100) {
            assert!(row.iter().all(|v| v.is_finite()));
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-2);
        }
        let want = ref_sm::softmax(&x, &[8, 100], 1, false);
        let (bound, c) = testing::storage_bound(&want, DType::F16, 2.0);
        testing::compare(&y, &bound, DType::F16, c).unwrap();
        let ly = softmax::log_softmax(&xt, 1).unwrap().to_f32_vec().unwrap();
        assert!(ly.iter().all(|v| v.is_finite()));
        let want = ref_sm::softmax(&x, &[8, 100], 1, true);
        let (bound, c) = testing::storage_bound(&want, DType::F16, 2.0);
        testing::compare(&ly, &bound, DType::F16, c).unwrap();
    }
    // A NaN poisons its row only.
    let mut x = common::uniform(&mut rng, 2 * 70, -1.0, 1.0);
    x[3] = f32::NAN;
    let xt = dev.tensor(&[2, 70], &x).unwrap();
    for log in [false, true] {
        let y = if log {
            softmax::log_softmax(&xt, 1)
        } else {
            softmax::softmax(&xt, 1)
        }
        .unwrap()
        .to_f32_vec()
        .unwrap();
        assert!(y[..70].iter().all(|v| v.is_nan()), "log={log}");
        assert!(y[70..].iter().all(|v| v.is_finite()), "log={log}");
    }
    // [70000, 65] along axis 1: a workgroup per row, 70,000 workgroups.
    let shape = [70_000usize, 65];
    let x = common::uniform(&mut rng, shape[0] * shape[1], -4.0, 4.0);
    let xt = dev.tensor(&shape, &x).unwrap();
    let y = testing::poisoned(&dev, &shape, DType::F32).unwrap();
    softmax::softmax_into(&xt, 1, &y).unwrap();
    testing::compare(
        &y.to_f32_vec().unwrap(),
        &ref_sm::softmax(&x, &shape, 1, false),
        DType::F32,
        2.0,
    )
    .unwrap();
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[2, 3], &[0.5; 6]).unwrap();
    let err = softmax::softmax(&x, 2).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("axis 2"), "{err}");
    let dy = dev.tensor(&[3, 2], &[0.5; 6]).unwrap();
    let err = softmax::softmax_backward(&x, &dy, 1).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let i = dev.tensor_i32(&[2], &[1, 2]).unwrap();
    let err = softmax::log_softmax(&i, 0).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let no_f16 = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let h = no_f16.upload_f32(&[2, 2], DType::F16, &[1.0; 4]).unwrap();
    let err = softmax::softmax(&h, 1).unwrap_err();
    assert!(matches!(err, Error::MissingFeature { .. }), "{err}");
    dev.check().unwrap();
}
