//! Losses: fused softmax cross-entropy with label smoothing, NLL, BCE with
//! logits (with and without pos_weight) and count_correct, each over ≥ 100
//! random shapes per precision (f32, native f16), every reduction, I32 and U32
//! targets (with ignored -100 rows), 1 to 1000 classes (one invocation per row
//! up to 64 classes, a workgroup per row beyond), logits up to ±1e4.
//! Gradient outputs are checked elementwise against the f64 references.
//!
//! Bounds: |gpu − ref| ≤ c·ε·scale, c = 2, with the reference scales of
//! `reference::loss` modelling the f32 kernels (exp within (3 + 2|z|) ulp,
//! log within 4 ulp absolute near 1, sums of n terms growing like
//! min(n, 16) + log2 n ulps); losses are f32 for every precision. f16
//! gradients are the f32 result rounded once: c = 1 on |ref| + 2·(ε₃₂/ε₁₆)·scale.
//! count_correct must be exact. The f64 gradient cores pass central
//! finite-difference checks.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::Feature;
use weft::kernels::loss::{self, Reduction};
use weft::kernels::reference::{RefOut, loss as ref_loss};
use weft::kernels::testing;
use weft::{DType, Device, Error, Tensor};

fn dtypes(dev: &Device) -> Vec<DType> {
    let mut v = vec![DType::F32];
    if dev.has(Feature::ShaderF16) {
        v.push(DType::F16);
    }
    v
}

fn check(what: &str, got: &Tensor, want: &RefOut, dtype: DType) -> f64 {
    let got = got.to_f32_vec().unwrap();
    let (bound, c) = testing::storage_bound(want, dtype, 2.0);
    testing::compare(&got, &bound, dtype, c).unwrap_or_else(|e| panic!("{what}:\n{e}"));
    common::bound_used(&got, &bound, dtype, c)
}

const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];

fn classes(rng: &mut ChaCha8Rng, i: usize) -> usize {
    const C: [usize; 10] = [1, 2, 3, 7, 10, 13, 33, 64, 65, 100];
    if i % 10 == 9 {
        rng.random_range(200..1000)
    } else {
        C[rng.random_range(0..C.len())]
    }
}

fn rows(rng: &mut ChaCha8Rng) -> usize {
    const N: [usize; 6] = [1, 2, 3, 7, 13, 33];
    if rng.random_bool(0.5) {
        N[rng.random_range(0..N.len())]
    } else {
        rng.random_range(1..300)
    }
}

/// Targets with ~10% ignored (-100 as I32, 2^32 - 100 as U32) and both dtypes.
fn targets(rng: &mut ChaCha8Rng, dev: &Device, n: usize, c: usize, i: usize) -> (Vec<i64>, Tensor) {
    let t: Vec<i64> = (0..n)
        .map(|_| {
            if rng.random_bool(0.1) {
                -100
            } else {
                rng.random_range(0..c) as i64
            }
        })
        .collect();
    let tensor = if i.is_multiple_of(2) {
        let v: Vec<i32> = t.iter().map(|&x| x as i32).collect();
        dev.tensor_i32(&[n], &v).unwrap()
    } else {
        let v: Vec<u32> = t.iter().map(|&x| x as i32 as u32).collect();
        dev.tensor_u32(&[n], &v).unwrap()
    };
    (t, tensor)
}

fn logits(rng: &mut ChaCha8Rng, n: usize, dtype: DType, i: usize) -> Vec<f32> {
    let span = if i % 7 == 6 { 1e4 } else { 6.0 };
    testing::round_to(dtype, &common::uniform(rng, n, -span, span))
}

#[test]
fn cross_entropy_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x1055);
    for dtype in dtypes(&dev) {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..120 {
            let (n, c) = (rows(&mut rng), classes(&mut rng, i));
            let x = logits(&mut rng, n * c, dtype, i);
            let (t, tt) = targets(&mut rng, &dev, n, c, i);
            let smoothing = [0.0, 0.1, rng.random_range(0.0..1.0f32), 1.0][i % 4];
            let reduction = REDUCTIONS[i % 3];
            let xt = dev.upload_f32(&[n, c], dtype, &x).unwrap();
            let out = loss::softmax_cross_entropy(&xt, &tt, smoothing, reduction).unwrap();
            let (wl, wg) = ref_loss::softmax_cross_entropy(&x, c, &t, smoothing, reduction);
            let what =
                format!("cross_entropy {dtype} case {i} [{n}, {c}] ε={smoothing} {reduction:?}");
            assert_eq!(out.loss.dtype(), DType::F32);
            worst.0 = worst.0.max(check(&what, &out.loss, &wl, DType::F32));
            assert_eq!((out.grad.shape(), out.grad.dtype()), (&[n, c][..], dtype));
            worst.1 = worst.1.max(check(&what, &out.grad, &wg, dtype));
        }
        eprintln!(
            "cross_entropy {dtype}: 120 shapes, worst error of the bound: loss {:.3}, grad {:.3}",
            worst.0, worst.1
        );
    }
}

#[test]
fn nll_loss_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x1056);
    for dtype in dtypes(&dev) {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..100 {
            let (n, c) = (rows(&mut rng), classes(&mut rng, i));
            let lp = testing::round_to(dtype, &common::uniform(&mut rng, n * c, -20.0, 0.0));
            let (t, tt) = targets(&mut rng, &dev, n, c, i);
            let reduction = REDUCTIONS[i % 3];
            let lpt = dev.upload_f32(&[n, c], dtype, &lp).unwrap();
            let out = loss::nll_loss(&lpt, &tt, reduction).unwrap();
            let (wl, wg) = ref_loss::nll_loss(&lp, c, &t, reduction);
            let what = format!("nll {dtype} case {i} [{n}, {c}] {reduction:?}");
            worst.0 = worst.0.max(check(&what, &out.loss, &wl, DType::F32));
            worst.1 = worst.1.max(check(&what, &out.grad, &wg, dtype));
        }
        eprintln!(
            "nll_loss {dtype}: 100 shapes, worst error of the bound: loss {:.3}, grad {:.3}",
            worst.0, worst.1
        );
    }
}

#[test]
fn bce_with_logits_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x1057);
    for dtype in dtypes(&dev) {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..100 {
            let rank = rng.random_range(1..=3);
            let shape: Vec<usize> = (0..rank).map(|_| rows(&mut rng).min(40)).collect();
            let n: usize = shape.iter().product();
            let c = shape[rank - 1];
            let span = [4.0, 12.0, 30.0][i % 3];
            let x = testing::round_to(dtype, &common::uniform(&mut rng, n, -span, span));
            // Hard labels half of the time, soft ones otherwise.
            let y: Vec<f32> = (0..n)
                .map(|_| {
                    if i % 2 == 0 {
                        rng.random_range(0..2) as f32
                    } else {
                        rng.random_range(0.0..1.0)
                    }
                })
                .collect();
            let y = testing::round_to(dtype, &y);
            let pw = (i % 3 != 0).then(|| common::uniform(&mut rng, c, 0.2, 5.0));
            let reduction = REDUCTIONS[i % 3];
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let yt = dev.upload_f32(&shape, dtype, &y).unwrap();
            let pwt = pw.as_ref().map(|p| dev.tensor(&[c], p).unwrap());
            let out = loss::bce_with_logits(&xt, &yt, pwt.as_ref(), reduction).unwrap();
            let (wl, wg) = ref_loss::bce_with_logits(&x, &y, pw.as_deref(), reduction);
            let what = format!(
                "bce {dtype} case {i} {shape:?} pos_weight {} {reduction:?}",
                pw.is_some()
            );
            if reduction == Reduction::None {
                assert_eq!(out.loss.shape(), &shape[..]);
            }
            worst.0 = worst.0.max(check(&what, &out.loss, &wl, DType::F32));
            worst.1 = worst.1.max(check(&what, &out.grad, &wg, dtype));
        }
        eprintln!(
            "bce_with_logits {dtype}: 100 shapes, worst error of the bound: loss {:.3}, grad {:.3}",
            worst.0, worst.1
        );
    }
}

/// MSE and L1 over 100 random shapes per precision and kind, every
/// reduction, with a tenth of the targets equal to the output (L1's gradient
/// is 0 there, as PyTorch's).
#[test]
fn regression_losses_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x4e55);
    for dtype in dtypes(&dev) {
        for kind in [loss::Regression::Mse, loss::Regression::L1] {
            let mut worst = (0.0f64, 0.0f64);
            for i in 0..100 {
                let rank = rng.random_range(1..=4);
                let shape: Vec<usize> = (0..rank).map(|_| rows(&mut rng).min(20)).collect();
                let n: usize = shape.iter().product();
                let span = [1.0, 10.0, 300.0][i % 3];
                let x = testing::round_to(dtype, &common::uniform(&mut rng, n, -span, span));
                let y: Vec<f32> = x
                    .iter()
                    .map(|&v| {
                        if rng.random_bool(0.1) {
                            v
                        } else {
                            rng.random_range(-span..span)
                        }
                    })
                    .collect();
                let y = testing::round_to(dtype, &y);
                let reduction = REDUCTIONS[i % 3];
                let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
                let yt = dev.upload_f32(&shape, dtype, &y).unwrap();
                let out = loss::regression_loss(&xt, &yt, kind, reduction).unwrap();
                let l1 = kind == loss::Regression::L1;
                let (wl, wg) = ref_loss::regression(&x, &y, l1, reduction);
                let what = format!("{kind:?} {dtype} case {i} {shape:?} {reduction:?}");
                if reduction == Reduction::None {
                    assert_eq!(out.loss.shape(), &shape[..]);
                }
                worst.0 = worst.0.max(check(&what, &out.loss, &wl, DType::F32));
                worst.1 = worst.1.max(check(&what, &out.grad, &wg, dtype));
            }
            eprintln!(
                "{kind:?} {dtype}: 100 shapes, worst error of the bound: loss {:.3}, grad {:.3}",
                worst.0, worst.1
            );
        }
    }
    let a = dev.tensor(&[2, 3], &[0.0; 6]).unwrap();
    let b = dev.tensor(&[3, 2], &[0.0; 6]).unwrap();
    let err = loss::regression_loss(&a, &b, loss::Regression::Mse, Reduction::Mean)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mse_loss") && err.contains("[2, 3]"), "{err}");
}

#[test]
fn count_correct_is_exact() {
    let dev = common::device();
    let mut rng = common::rng(0x1058);
    for dtype in dtypes(&dev) {
        for i in 0..100 {
            let n = if i % 10 == 0 {
                rng.random_range(300..3000)
            } else {
                rows(&mut rng)
            };
            let c = classes(&mut rng, i);
            // Few distinct values, so ties are common; now and then a NaN.
            let mut x: Vec<f32> = (0..n * c)
                .map(|_| rng.random_range(0..4) as f32 - 1.5)
                .collect();
            if i % 5 == 0 {
                let j = rng.random_range(0..n * c);
                x[j] = f32::NAN;
            }
            let (t, tt) = targets(&mut rng, &dev, n, c, i);
            let xt = dev.upload_f32(&[n, c], dtype, &x).unwrap();
            let got = loss::count_correct(&xt, &tt).unwrap();
            assert_eq!((got.shape(), got.dtype()), (&[1usize][..], DType::U32));
            let want = ref_loss::count_correct(&x, c, &t);
            assert_eq!(
                got.to_u32_vec().unwrap(),
                [want],
                "{dtype} case {i} [{n}, {c}]"
            );
        }
    }
}

/// Central differences of each loss's f64 core against its gradient.
#[test]
fn gradients_match_finite_differences() {
    let mut rng = common::rng(0x1059);
    let h = 1e-6;
    let close = |fd: f64, g: f64, what: &str| {
        assert!(
            (fd - g).abs() <= 1e-7 * (1.0 + g.abs()),
            "{what}: fd {fd} vs {g}"
        );
    };
    let wide = |v: Vec<f32>| -> Vec<f64> { v.iter().map(|&a| a as f64).collect() };
    for (n, c) in [(3usize, 4usize), (5, 2), (2, 7), (1, 1)] {
        let x = wide(common::uniform(&mut rng, n * c, -3.0, 3.0));
        let t: Vec<i64> = (0..n)
            .map(|r| if r == 1 { -100 } else { (r % c) as i64 })
            .collect();
        let valid = t.iter().filter(|&&v| v >= 0).count();
        for smoothing in [0.0, 0.2] {
            for reduction in [Reduction::Mean, Reduction::Sum] {
                let f = |x: &[f64]| {
                    let (l, _) = ref_loss::cross_entropy_f64(x, c, &t, smoothing, reduction);
                    ref_loss::reduce_losses(&l, valid, reduction)
                };
                let (_, g) = ref_loss::cross_entropy_f64(&x, c, &t, smoothing, reduction);
                for j in 0..n * c {
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[j] += h;
                    xm[j] -= h;
                    close(
                        (f(&xp) - f(&xm)) / (2.0 * h),
                        g[j],
                        &format!("ce [{n},{c}] ε={smoothing} {reduction:?} [{j}]"),
                    );
                }
            }
        }
        // NLL is linear in the log-probabilities: the gradient is exact.
        let lp: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (_, g) = ref_loss::nll_loss(&lp, c, &t, Reduction::Mean);
        for j in 0..n * c {
            let f = |d: f64| {
                let mut v = lp.clone();
                v[j] += d as f32;
                ref_loss::nll_loss(&v, c, &t, Reduction::Mean).0.value[0]
            };
            let fd = (f(0.5) - f(-0.5)) / 1.0;
            assert!(
                (fd - g.value[j]).abs() < 1e-6,
                "nll [{j}]: fd {fd} vs {}",
                g.value[j]
            );
        }
    }
    for shape_c in [1usize, 3, 5] {
        let n = 4 * shape_c;
        let x = wide(common::uniform(&mut rng, n, -4.0, 4.0));
        let y = wide(common::uniform(&mut rng, n, 0.0, 1.0));
        let pw = wide(common::uniform(&mut rng, shape_c, 0.5, 3.0));
        for weights in [None, Some(&pw[..])] {
            let f = |x: &[f64]| ref_loss::bce_f64(x, &y, weights).0.iter().sum::<f64>();
            let (_, g) = ref_loss::bce_f64(&x, &y, weights);
            for j in 0..n {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[j] += h;
                xm[j] -= h;
                close((f(&xp) - f(&xm)) / (2.0 * h), g[j], &format!("bce [{j}]"));
            }
        }
    }
}

#[test]
fn ignored_targets_and_large_grid() {
    let dev = common::device();
    let mut rng = common::rng(0x105a);
    // Every target ignored: Mean is NaN (0/0), gradients are zero, as PyTorch.
    let x = dev
        .tensor(&[2, 3], &common::uniform(&mut rng, 6, -1.0, 1.0))
        .unwrap();
    let t = dev.tensor_i32(&[2], &[-100, -100]).unwrap();
    let out = loss::softmax_cross_entropy(&x, &t, 0.1, Reduction::Mean).unwrap();
    assert!(out.loss.to_f32_vec().unwrap()[0].is_nan());
    assert_eq!(out.grad.to_f32_vec().unwrap(), [0.0; 6]);
    let out = loss::nll_loss(&x, &t, Reduction::Sum).unwrap();
    assert_eq!(out.loss.to_f32_vec().unwrap(), [0.0]);
    // 70,000 rows of 65 classes: a workgroup per row, past 65,535 workgroups.
    let (n, c) = (70_000usize, 65usize);
    let xv = common::uniform(&mut rng, n * c, -5.0, 5.0);
    let tv: Vec<i64> = (0..n).map(|_| rng.random_range(0..c) as i64).collect();
    let ti: Vec<i32> = tv.iter().map(|&v| v as i32).collect();
    let xt = dev.tensor(&[n, c], &xv).unwrap();
    let tt = loss::upload_targets(&dev, &ti, c).unwrap();
    let out = loss::softmax_cross_entropy(&xt, &tt, 0.1, Reduction::Mean).unwrap();
    let (wl, wg) = ref_loss::softmax_cross_entropy(&xv, c, &tv, 0.1, Reduction::Mean);
    check("large cross_entropy", &out.loss, &wl, DType::F32);
    check("large cross_entropy", &out.grad, &wg, DType::F32);
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[2, 3], &[0.5; 6]).unwrap();
    let t = dev.tensor_i32(&[2], &[0, 2]).unwrap();
    for eps in [-0.1, 1.5, f32::NAN] {
        let err = loss::softmax_cross_entropy(&x, &t, eps, Reduction::Mean).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
        assert!(err.to_string().contains("label_smoothing"), "{err}");
    }
    let t3 = dev.tensor_i32(&[3], &[0, 1, 2]).unwrap();
    let err = loss::softmax_cross_entropy(&x, &t3, 0.0, Reduction::Mean).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let tf = dev.tensor(&[2], &[0.0, 1.0]).unwrap();
    let err = loss::nll_loss(&x, &tf, Reduction::Mean).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let x1 = dev.tensor(&[6], &[0.5; 6]).unwrap();
    let err = loss::count_correct(&x1, &t).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = loss::softmax_cross_entropy_checked(&x, &[0, 3], 0.0, Reduction::Mean).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("target 3 at index 1"), "{err}");
    loss::softmax_cross_entropy_checked(&x, &[0, -100], 0.0, Reduction::Mean).unwrap();
    let err = loss::nll_loss_checked(&x, &[-1, 0], Reduction::Sum).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let y = dev.tensor(&[3, 2], &[0.5; 6]).unwrap();
    let err = loss::bce_with_logits(&x, &y, None, Reduction::Mean).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let y = dev.tensor(&[2, 3], &[0.5; 6]).unwrap();
    let pw = dev.tensor(&[2], &[1.0; 2]).unwrap();
    let err = loss::bce_with_logits(&x, &y, Some(&pw), Reduction::Mean).unwrap_err();
    assert!(err.to_string().contains("pos_weight"), "{err}");
    dev.check().unwrap();
}
