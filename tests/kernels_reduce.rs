//! Reductions: `reduce` (sum, mean, max, min over contiguous axes and the NCHW
//! per-channel case), `sum_all` and `channel_sum`, each over ≥ 100 random
//! shapes at every precision (f32; native f16; packed f16 through a device
//! without shader-f16), outputs poisoned with NaN, every element compared.
//!
//! Bounds: max and min must be exact (bitwise). A sum or mean of R terms in
//! f32 satisfies |gpu − ref| ≤ c·ε·Σ|x| with c = min(R, 64) + ⌈log2 R⌉ + 4:
//! runs of up to 64 (short reductions) or 16 (long ones) serial additions per
//! invocation, then log2 R levels of trees and partial passes. f16 results are
//! the f32 result rounded once: |gpu − ref| ≤ 1·ε₁₆·(|ref| + c·(ε₃₂/ε₁₆)·Σ|x|),
//! half an f16 ulp plus the f32 error, so an f16 accumulator would fail.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::Feature;
use weft::kernels::reduce::{self, ReduceOp, ReducePlan};
use weft::kernels::reference::reduce as ref_reduce;
use weft::kernels::testing;
use weft::{DType, Device, Error};

/// (name, device, dtype) for f32, native f16 and packed f16.
fn precisions() -> Vec<(&'static str, Device, DType)> {
    let dev = common::device();
    let mut v = vec![("f32", dev.clone(), DType::F32)];
    if dev.has(Feature::ShaderF16) {
        v.push(("f16", dev.clone(), DType::F16));
    }
    v.push(("f16-packed", common::packed_device(), DType::F16));
    v
}

fn growth(r: usize) -> f64 {
    (r.min(64) as f64) + (r.max(1) as f64).log2().ceil() + 4.0
}

fn dim(rng: &mut ChaCha8Rng) -> usize {
    const AWKWARD: [usize; 12] = [1, 1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 33];
    if rng.random_bool(0.6) {
        AWKWARD[rng.random_range(0..AWKWARD.len())]
    } else {
        rng.random_range(1..40)
    }
}

/// A random shape and a supported axis set; every 10th case has a long
/// reduced dimension (multi-chunk, partial passes).
fn random_case(rng: &mut ChaCha8Rng, i: usize) -> (Vec<usize>, Vec<usize>) {
    loop {
        let rank = rng.random_range(1..=4);
        let mut shape: Vec<usize> = (0..rank).map(|_| dim(rng)).collect();
        let axes: Vec<usize> = if rank == 4 && rng.random_bool(0.25) {
            vec![0, 2, 3]
        } else {
            let a = rng.random_range(0..rank);
            let b = rng.random_range(a..rank);
            (a..=b).collect()
        };
        if i % 10 == 3 {
            let a = axes[rng.random_range(0..axes.len())];
            shape[a] = rng.random_range(4000..20000);
        }
        let n: usize = shape.iter().product();
        if n > 300_000 {
            continue;
        }
        let reduced: Vec<bool> = (0..rank).map(|d| axes.contains(&d)).collect();
        if ReducePlan::new("test", &shape, &reduced).is_ok() {
            return (shape, axes);
        }
    }
}

fn inputs(rng: &mut ChaCha8Rng, n: usize, dtype: DType) -> Vec<f32> {
    let shift = rng.random_range(-2.0..2.0f32);
    testing::round_to(dtype, &common::uniform(rng, n, -3.0 + shift, 3.0 + shift))
}

fn out_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(d, &s)| match (axes.contains(&d), keepdim) {
            (false, _) => Some(s),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

fn check_op(op: ReduceOp) {
    let mut rng = common::rng(0x5ed0 + op as u64);
    let cases: Vec<_> = (0..100).map(|i| random_case(&mut rng, i)).collect();
    for (name, dev, dtype) in precisions() {
        let mut worst = 0.0f64;
        for (i, (shape, axes)) in cases.iter().enumerate() {
            let n: usize = shape.iter().product();
            let x = inputs(&mut rng, n, dtype);
            let xt = dev.upload_f32(shape, dtype, &x).unwrap();
            let keepdim = i % 2 == 0;
            let want = ref_reduce::reduce(&x, shape, axes, op);
            let r: usize = axes.iter().map(|&a| shape[a]).product();
            // Result in x's dtype, and (f16 inputs) in f32.
            let mut outs = vec![dtype];
            if dtype == DType::F16 {
                outs.push(DType::F32);
            }
            for out_dtype in outs {
                let out =
                    testing::poisoned(&dev, &out_shape(shape, axes, keepdim), out_dtype).unwrap();
                reduce::reduce_into(&xt, axes, op, keepdim, &out).unwrap();
                let got = out.to_f32_vec().unwrap();
                let ctx = || {
                    format!(
                        "{} {name} -> {out_dtype} {shape:?} axes {axes:?}",
                        op.name()
                    )
                };
                if matches!(op, ReduceOp::Max | ReduceOp::Min) {
                    for (j, (&g, &w)) in got.iter().zip(&want.value).enumerate() {
                        assert_eq!(g as f64, w, "{} at {j}", ctx());
                    }
                    continue;
                }
                let (bound, c) = testing::storage_bound(&want, out_dtype, growth(r));
                testing::compare(&got, &bound, out_dtype, c)
                    .unwrap_or_else(|e| panic!("{}:\n{e}", ctx()));
                worst = worst.max(common::bound_used(&got, &bound, out_dtype, c));
            }
        }
        eprintln!(
            "{} {name}: 100 shapes, worst error {worst:.3} of the bound",
            op.name()
        );
    }
}

#[test]
fn sum_matches_reference() {
    check_op(ReduceOp::Sum);
}

#[test]
fn mean_matches_reference() {
    check_op(ReduceOp::Mean);
}

#[test]
fn max_is_exact() {
    check_op(ReduceOp::Max);
}

#[test]
fn min_is_exact() {
    check_op(ReduceOp::Min);
}

#[test]
fn sum_all_and_channel_sum_match_reference() {
    let mut rng = common::rng(0x5e11);
    for (name, dev, dtype) in precisions() {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..100 {
            let mut shape = [dim(&mut rng), dim(&mut rng), dim(&mut rng), dim(&mut rng)];
            if i % 10 == 0 {
                shape[0] = rng.random_range(1..4);
                shape[2] = rng.random_range(60..200);
                shape[3] = rng.random_range(60..200);
            }
            let n: usize = shape.iter().product();
            let x = inputs(&mut rng, n, dtype);
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();

            let got = reduce::sum_all(&xt).unwrap();
            assert_eq!((got.shape(), got.dtype()), (&[1usize][..], DType::F32));
            let want = ref_reduce::reduce(&x, &shape, &[], ReduceOp::Sum);
            let got = got.to_f32_vec().unwrap();
            testing::compare(&got, &want, DType::F32, growth(n))
                .unwrap_or_else(|e| panic!("sum_all {name} {shape:?}:\n{e}"));
            worst.0 = worst
                .0
                .max(common::bound_used(&got, &want, DType::F32, growth(n)));

            let got = reduce::channel_sum(&xt).unwrap();
            assert_eq!((got.shape(), got.dtype()), (&[shape[1]][..], DType::F32));
            let want = ref_reduce::channel_sum(&x, shape);
            let per = shape[0] * shape[2] * shape[3];
            let got = got.to_f32_vec().unwrap();
            testing::compare(&got, &want, DType::F32, growth(per))
                .unwrap_or_else(|e| panic!("channel_sum {name} {shape:?}:\n{e}"));
            worst.1 = worst
                .1
                .max(common::bound_used(&got, &want, DType::F32, growth(per)));
        }
        eprintln!(
            "{name}: 100 shapes, worst error sum_all {:.3}, channel_sum {:.3} of the bound",
            worst.0, worst.1
        );
    }
}

#[test]
fn f16_sums_beyond_65504_stay_finite() {
    let mut rng = common::rng(0x5e12);
    for (name, dev, dtype) in precisions() {
        if dtype != DType::F16 {
            continue;
        }
        // 4 x 3 x 40 x 40 values near 50,000: channel totals ~ 3e8.
        let shape = [4usize, 3, 40, 40];
        let n: usize = shape.iter().product();
        let x = testing::round_to(dtype, &common::uniform(&mut rng, n, 40_000.0, 60_000.0));
        let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
        let got = reduce::sum_all(&xt).unwrap().to_f32_vec().unwrap();
        let want = ref_reduce::reduce(&x, &shape, &[], ReduceOp::Sum);
        testing::compare(&got, &want, DType::F32, growth(n)).unwrap();
        let got = reduce::channel_sum(&xt).unwrap().to_f32_vec().unwrap();
        testing::compare(
            &got,
            &ref_reduce::channel_sum(&x, shape),
            DType::F32,
            growth(n),
        )
        .unwrap();
        // A mean whose intermediate sums overflow f16 but whose result fits.
        for axes in [vec![0usize, 2, 3], vec![2, 3], vec![1, 2, 3]] {
            let out = testing::poisoned(&dev, &out_shape(&shape, &axes, false), dtype).unwrap();
            reduce::reduce_into(&xt, &axes, ReduceOp::Mean, false, &out).unwrap();
            let got = out.to_f32_vec().unwrap();
            assert!(
                got.iter().all(|v| v.is_finite()),
                "{name} {axes:?}: {got:?}"
            );
            let want = ref_reduce::reduce(&x, &shape, &axes, ReduceOp::Mean);
            let r: usize = axes.iter().map(|&a| shape[a]).product();
            let (bound, c) = testing::storage_bound(&want, dtype, growth(r));
            testing::compare(&got, &bound, dtype, c)
                .unwrap_or_else(|e| panic!("mean {name} {axes:?}:\n{e}"));
        }
        // In f16 storage, a sum beyond the range is inf, as in PyTorch.
        let s = reduce::reduce(&xt, &[], ReduceOp::Sum, false).unwrap();
        assert_eq!(s.shape(), &[] as &[usize]);
        assert_eq!(s.to_f32_vec().unwrap(), [f32::INFINITY]);
    }
}

#[test]
fn nan_and_empty_follow_pytorch() {
    let dev = common::device();
    let x = dev
        .tensor(&[2, 3], &[1.0, f32::NAN, 3.0, -1.0, -2.0, -3.0])
        .unwrap();
    for op in [ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum] {
        let got = reduce::reduce(&x, &[1], op, false)
            .unwrap()
            .to_f32_vec()
            .unwrap();
        assert!(got[0].is_nan(), "{} {got:?}", op.name());
        assert!(!got[1].is_nan(), "{} {got:?}", op.name());
    }
    let e = dev.empty(&[3, 0, 2], DType::F32).unwrap();
    let s = reduce::reduce(&e, &[1], ReduceOp::Sum, true).unwrap();
    assert_eq!(s.shape(), &[3, 1, 2]);
    assert_eq!(s.to_f32_vec().unwrap(), [0.0; 6]);
    let m = reduce::reduce(&e, &[1], ReduceOp::Mean, false).unwrap();
    assert!(m.to_f32_vec().unwrap().iter().all(|v| v.is_nan()));
    let err = reduce::reduce(&e, &[1], ReduceOp::Max, false).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}

#[test]
fn deterministic_and_large_grid() {
    // [70000, 65] over axis 1: 65 > 64 elements per output takes the
    // workgroup-per-output kernel, 70,000 workgroups (past 65,535).
    let dev = common::device();
    let mut rng = common::rng(0x5e13);
    let shape = [70_000usize, 65];
    let x = common::uniform(&mut rng, shape[0] * shape[1], -1.0, 1.0);
    let xt = dev.tensor(&shape, &x).unwrap();
    let out = testing::poisoned(&dev, &[70_000], DType::F32).unwrap();
    reduce::reduce_into(&xt, &[1], ReduceOp::Sum, false, &out).unwrap();
    let a = out.to_f32_vec().unwrap();
    let want = ref_reduce::reduce(&x, &shape, &[1], ReduceOp::Sum);
    testing::compare(&a, &want, DType::F32, growth(65)).unwrap();
    reduce::reduce_into(&xt, &[1], ReduceOp::Sum, false, &out).unwrap();
    let b = out.to_f32_vec().unwrap();
    assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    // A long reduction through three passes is deterministic too.
    let n = 3_000_001;
    let x = common::uniform(&mut rng, n, -1.0, 1.0);
    let xt = dev.tensor(&[n], &x).unwrap();
    let s1 = reduce::sum_all(&xt).unwrap().to_f32_vec().unwrap();
    let s2 = reduce::sum_all(&xt).unwrap().to_f32_vec().unwrap();
    assert_eq!(s1[0].to_bits(), s2[0].to_bits());
    testing::compare(
        &s1,
        &ref_reduce::reduce(&x, &[n], &[], ReduceOp::Sum),
        DType::F32,
        growth(n),
    )
    .unwrap();
}

#[test]
fn scratch_bytes_are_exact() {
    // A device of its own, so that no other test's tensors move the peak.
    let dev = Device::from_env().unwrap();
    for n in [10usize, 4096, 4097, 3_000_001, 20_000_000] {
        let x = dev.empty(&[n], DType::F32).unwrap();
        weft::kernels::elementwise::fill(&x, 0.25).unwrap();
        let before = dev.pool_stats().live_bytes;
        dev.reset_peak();
        let s = reduce::sum_all(&x).unwrap();
        let peak = dev.pool_stats().peak_live_bytes - before;
        // The [1] f32 result plus the partials.
        assert_eq!(
            peak,
            4 + reduce::scratch_bytes(&ReducePlan::all(n)),
            "n = {n}"
        );
        assert_eq!(s.to_f32_vec().unwrap(), [n as f32 * 0.25], "n = {n}");
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[2, 3, 4, 5], &[0.5; 120]).unwrap();
    let err = reduce::reduce(&x, &[4], ReduceOp::Sum, false).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("axis 4"), "{err}");
    let err = reduce::reduce(&x, &[1, 1], ReduceOp::Sum, false).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
    // Reduced runs {0}, {2}; kept {1}, {3}: fine. Three reduced runs are not.
    reduce::reduce(&x, &[0, 2], ReduceOp::Sum, false).unwrap();
    let y = dev.tensor(&[2, 3, 4, 5, 6], &[0.5; 720]).unwrap();
    let err = reduce::reduce(&y, &[0, 2, 4], ReduceOp::Sum, false).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let i = dev.tensor_i32(&[4], &[1, 2, 3, 4]).unwrap();
    let err = reduce::reduce(&i, &[0], ReduceOp::Sum, false).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let out = dev.empty(&[3], DType::F32).unwrap();
    let err = reduce::reduce_into(&x, &[0, 2, 3], ReduceOp::Sum, true, &out).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = reduce::channel_sum(&dev.tensor(&[4, 5], &[0.5; 20]).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    dev.check().unwrap();
}
