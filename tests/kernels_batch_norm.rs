//! BatchNorm2d: training forward (with the running-statistics update), eval
//! forward, training backward and folding into a convolution, each over ≥ 100
//! random NCHW shapes at f32, native f16 and packed f16 (N = 1, C = 1, 1×1
//! images, odd sizes, channel counts not multiples of 4, multi-chunk channels
//! of up to 20,000 elements), fused activations (none, relu, silu), outputs
//! poisoned with NaN, every element compared.
//!
//! Bounds, |gpu − ref| ≤ c·ε·scale with c = 2 for f32 results: the reference
//! scale (`reference::batch_norm`) models the f32 kernels, statistics as sums of
//! n terms growing like `sum_growth(n)` ulps of Σ|terms| (16 serial terms per
//! invocation, then trees) and a few roundings per element, so c = 2 leaves a
//! factor two. Statistics, running statistics, dgamma and dbeta are f32 for
//! every precision. f16 tensors are the f32 result rounded once: c = 1 on a
//! scale of |ref| + 2·(ε₃₂/ε₁₆)·scale (half an f16 ulp plus the f32 error, so
//! f16 accumulation would fail). The f64 backward reference passes a central
//! finite-difference check.

mod common;

use common::sweep::Counts;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::Feature;
use weft::kernels::batch_norm::{
    self, BatchNormArgs, BatchNormBackwardArgs, BatchNormBackwardProblem, BatchNormGrads,
    BatchNormOutput, BatchNormProblem, BatchNormSpec, batch_norm_scratch_bytes,
};
use weft::kernels::reference::{RefOut, batch_norm as ref_bn};
use weft::kernels::{Activation, Precision, testing};
use weft::{DType, Device, Error};

/// Compares with the f32 bound c = 2 (f16 storage: [`testing::storage_bound`])
/// and returns the worst |gpu − ref| in units of ε·scale.
fn check(what: &str, got: &[f32], want: &RefOut, dtype: DType) -> f64 {
    let (bound, c) = testing::storage_bound(want, dtype, 2.0);
    testing::compare(got, &bound, dtype, c)
        .unwrap_or_else(|e| panic!("{what}:\n{e}"))
        .max_err_eps
}

fn dim(rng: &mut ChaCha8Rng) -> usize {
    const AWKWARD: [usize; 10] = [1, 1, 2, 3, 5, 7, 8, 13, 16, 33];
    if rng.random_bool(0.6) {
        AWKWARD[rng.random_range(0..AWKWARD.len())]
    } else {
        rng.random_range(1..20)
    }
}

/// A random NCHW shape with at least two values per channel; every 8th has
/// channels of 5,000..20,000 elements (several statistics chunks).
fn random_shape(rng: &mut ChaCha8Rng, i: usize) -> [usize; 4] {
    loop {
        let mut s = [dim(rng), dim(rng), dim(rng), dim(rng)];
        s[0] = s[0].min(8);
        if i % 8 == 5 {
            s[1] = rng.random_range(1..4);
            s[2] = rng.random_range(50..140);
            s[3] = rng.random_range(100..144);
        }
        let n: usize = s.iter().product();
        if s[0] * s[2] * s[3] >= 2 && n <= 80_000 {
            return s;
        }
    }
}

fn activation(i: usize) -> Activation {
    [Activation::None, Activation::Relu, Activation::Silu][i % 3]
}

/// x with a random offset per case (so that the mean does not vanish).
fn inputs(rng: &mut ChaCha8Rng, n: usize, dtype: DType) -> Vec<f32> {
    let shift = rng.random_range(-3.0..3.0f32);
    let spread = rng.random_range(0.1..4.0f32);
    testing::round_to(
        dtype,
        &common::uniform(rng, n, shift - spread, shift + spread),
    )
}

struct Params {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rm: Vec<f32>,
    rv: Vec<f32>,
}

fn params(rng: &mut ChaCha8Rng, c: usize) -> Params {
    Params {
        gamma: common::uniform(rng, c, -2.0, 2.0),
        beta: common::uniform(rng, c, -1.0, 1.0),
        rm: common::uniform(rng, c, -1.0, 1.0),
        rv: common::uniform(rng, c, 0.2, 3.0),
    }
}

/// Every row of the training table over 100 random shapes (statistics,
/// output, running statistics all compared).
fn train_sweep(precision: Precision) {
    let dev = common::device();
    let dtype = precision.dtype();
    let mut rng = common::rng(0xb7a1);
    let cases: Vec<(usize, [usize; 4])> =
        (0..100).map(|i| (i, random_shape(&mut rng, i))).collect();
    let spec_of = |i: usize| BatchNormSpec {
        eps: [1e-5, 1e-3][i % 2],
        momentum: [0.1, 0.3, 1.0][i % 3],
        activation: activation(i),
        precision: Some(precision),
    };
    common::sweep::sweep(
        &batch_norm::TABLE,
        precision,
        &cases,
        Counts::at_least_100(100),
        |&(i, shape)| {
            let spec = spec_of(i);
            BatchNormProblem {
                shape,
                eps: spec.eps,
                momentum: spec.momentum,
                activation: spec.activation,
                precision,
            }
        },
        |variant, _, &(i, shape)| {
            let c = shape[1];
            let n: usize = shape.iter().product();
            let x = inputs(&mut rng, n, dtype);
            let p = params(&mut rng, c);
            let spec = spec_of(i);
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let gt = dev.tensor(&[c], &p.gamma).unwrap();
            let bt = dev.tensor(&[c], &p.beta).unwrap();
            let rmt = dev.tensor(&[c], &p.rm).unwrap();
            let rvt = dev.tensor(&[c], &p.rv).unwrap();
            let out = BatchNormOutput {
                y: testing::poisoned(&dev, &shape, dtype).unwrap(),
                save_mean: testing::poisoned(&dev, &[c], DType::F32).unwrap(),
                save_invstd: testing::poisoned(&dev, &[c], DType::F32).unwrap(),
            };
            let problem = BatchNormProblem {
                shape,
                eps: spec.eps,
                momentum: spec.momentum,
                activation: spec.activation,
                precision,
            };
            let args = BatchNormArgs {
                x: &xt,
                gamma: &gt,
                beta: &bt,
                running_mean: &rmt,
                running_var: &rvt,
                out: &out,
            };
            variant.launch(&problem, &args).map_err(|e| e.to_string())?;
            let (y, stats) = ref_bn::train(&x, shape, &p.gamma, &p.beta, spec.eps, spec.activation);
            let (rm, rv) = ref_bn::running_update(&p.rm, &p.rv, &stats, spec.momentum);
            let ctx = |w: &str| format!("{w} {shape:?} {spec:?}");
            let results = [
                (out.y.to_f32_vec().unwrap(), &y, dtype, "y"),
                (
                    out.save_mean.to_f32_vec().unwrap(),
                    &stats.mean,
                    DType::F32,
                    "save_mean",
                ),
                (
                    out.save_invstd.to_f32_vec().unwrap(),
                    &stats.invstd,
                    DType::F32,
                    "save_invstd",
                ),
                (rmt.to_f32_vec().unwrap(), &rm, DType::F32, "running_mean"),
                (rvt.to_f32_vec().unwrap(), &rv, DType::F32, "running_var"),
            ];
            let mut worst = 0.0f64;
            for (got, want, dt, what) in &results {
                worst = worst.max(check(&ctx(what), got, want, *dt));
            }
            Ok(worst)
        },
    );
}

#[test]
fn train_f32() {
    train_sweep(Precision::F32);
}

#[test]
fn train_f16() {
    train_sweep(Precision::F16);
}

#[test]
fn train_f16_packed() {
    train_sweep(Precision::F16Packed);
}

#[test]
fn eval_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0xb7a2);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        let mut worst = 0.0f64;
        for i in 0..100 {
            let shape = random_shape(&mut rng, i);
            let c = shape[1];
            let n: usize = shape.iter().product();
            let x = inputs(&mut rng, n, dtype);
            let p = params(&mut rng, c);
            let spec = BatchNormSpec {
                activation: activation(i),
                precision: Some(precision),
                ..Default::default()
            };
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let t = |v: &[f32]| dev.tensor(&[c], v).unwrap();
            let y = testing::poisoned(&dev, &shape, dtype).unwrap();
            let (rmt, rvt) = (t(&p.rm), t(&p.rv));
            batch_norm::batch_norm_eval_into(&xt, &t(&p.gamma), &t(&p.beta), &rmt, &rvt, &spec, &y)
                .unwrap();
            let want = ref_bn::eval(
                &x,
                shape,
                &p.gamma,
                &p.beta,
                &p.rm,
                &p.rv,
                spec.eps,
                spec.activation,
            );
            let what = format!("eval {} case {i} {shape:?} {spec:?}", precision.name());
            worst = worst.max(check(&what, &y.to_f32_vec().unwrap(), &want, dtype));
            // Evaluation leaves the running statistics alone.
            assert_eq!(rmt.to_f32_vec().unwrap(), p.rm);
            assert_eq!(rvt.to_f32_vec().unwrap(), p.rv);
        }
        eprintln!(
            "eval {}: 100 shapes, worst error {worst:.3} eps*scale",
            precision.name()
        );
    }
}

/// Every row of the gradient table over 100 random shapes (dx, dgamma,
/// dbeta compared).
fn backward_sweep(precision: Precision) {
    let dev = common::device();
    let dtype = precision.dtype();
    let mut rng = common::rng(0xb7a3);
    let cases: Vec<[usize; 4]> = (0..100).map(|i| random_shape(&mut rng, i)).collect();
    common::sweep::sweep(
        &batch_norm::BACKWARD_TABLE,
        precision,
        &cases,
        Counts::at_least_100(100),
        |&shape| BatchNormBackwardProblem { shape, precision },
        |variant, _, &shape| {
            let c = shape[1];
            let n: usize = shape.iter().product();
            let x = inputs(&mut rng, n, dtype);
            let dy = testing::round_to(dtype, &common::uniform(&mut rng, n, -1.0, 1.0));
            let gamma = common::uniform(&mut rng, c, -2.0, 2.0);
            // The saved statistics of x, as the forward would have stored them.
            let (_, stats) = ref_bn::train(&x, shape, &gamma, &gamma, 1e-5, Activation::None);
            let mean: Vec<f32> = stats.mean.value.iter().map(|&v| v as f32).collect();
            let invstd: Vec<f32> = stats.invstd.value.iter().map(|&v| v as f32).collect();
            let t = |v: &[f32]| dev.tensor(&[c], v).unwrap();
            let grads = BatchNormGrads {
                dx: testing::poisoned(&dev, &shape, dtype).unwrap(),
                dgamma: testing::poisoned(&dev, &[c], DType::F32).unwrap(),
                dbeta: testing::poisoned(&dev, &[c], DType::F32).unwrap(),
            };
            let (dyt, xt) = (
                dev.upload_f32(&shape, dtype, &dy).unwrap(),
                dev.upload_f32(&shape, dtype, &x).unwrap(),
            );
            let (gt, mt, it) = (t(&gamma), t(&mean), t(&invstd));
            let args = BatchNormBackwardArgs {
                dy: &dyt,
                x: &xt,
                gamma: &gt,
                save_mean: &mt,
                save_invstd: &it,
                grads: &grads,
            };
            let problem = BatchNormBackwardProblem { shape, precision };
            variant.launch(&problem, &args).map_err(|e| e.to_string())?;
            let (dx, dg, db) = ref_bn::backward(&dy, &x, shape, &gamma, &mean, &invstd);
            let ctx = |w: &str| format!("{w} {shape:?}");
            Ok(
                check(&ctx("dx"), &grads.dx.to_f32_vec().unwrap(), &dx, dtype)
                    .max(check(
                        &ctx("dgamma"),
                        &grads.dgamma.to_f32_vec().unwrap(),
                        &dg,
                        DType::F32,
                    ))
                    .max(check(
                        &ctx("dbeta"),
                        &grads.dbeta.to_f32_vec().unwrap(),
                        &db,
                        DType::F32,
                    )),
            )
        },
    );
}

#[test]
fn backward_f32() {
    backward_sweep(Precision::F32);
}

#[test]
fn backward_f16() {
    backward_sweep(Precision::F16);
}

#[test]
fn backward_f16_packed() {
    backward_sweep(Precision::F16Packed);
}

/// Central differences of L = Σ w·y(x, gamma, beta) (batch statistics inside)
/// against the f64 backward reference.
#[test]
fn backward_reference_matches_finite_differences() {
    let mut rng = common::rng(0xb7a4);
    for shape in [[2usize, 3, 2, 2], [1, 2, 3, 1], [3, 1, 1, 1], [2, 2, 1, 3]] {
        let [_, c, _, _] = shape;
        let n: usize = shape.iter().product();
        let wide = |v: Vec<f32>| -> Vec<f64> { v.iter().map(|&a| a as f64).collect() };
        let x = wide(common::uniform(&mut rng, n, -2.0, 2.0));
        let w = wide(common::uniform(&mut rng, n, -1.0, 1.0));
        let gamma = wide(common::uniform(&mut rng, c, -2.0, 2.0));
        let beta = wide(common::uniform(&mut rng, c, -1.0, 1.0));
        let eps = 1e-3;
        let loss = |x: &[f64], g: &[f64], b: &[f64]| -> f64 {
            let (y, _, _) = ref_bn::forward_f64(x, shape, g, b, eps);
            y.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        let (_, mean, var) = ref_bn::forward_f64(&x, shape, &gamma, &beta, eps);
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let (dx, dg, db) = ref_bn::backward_f64(&w, &x, shape, &gamma, &mean, &invstd);
        let h = 1e-6;
        let close = |fd: f64, g: f64, what: &str| {
            assert!(
                (fd - g).abs() <= 1e-6 * (1.0 + g.abs()),
                "{shape:?} {what}: fd {fd} vs {g}"
            );
        };
        let bump = |v: &[f64], j: usize, d: f64| {
            let mut v = v.to_vec();
            v[j] += d;
            v
        };
        for (j, &g) in dx.iter().enumerate() {
            let fd = (loss(&bump(&x, j, h), &gamma, &beta) - loss(&bump(&x, j, -h), &gamma, &beta))
                / (2.0 * h);
            close(fd, g, &format!("dx[{j}]"));
        }
        for j in 0..c {
            let fd = (loss(&x, &bump(&gamma, j, h), &beta) - loss(&x, &bump(&gamma, j, -h), &beta))
                / (2.0 * h);
            close(fd, dg[j], &format!("dgamma[{j}]"));
            let fd = (loss(&x, &gamma, &bump(&beta, j, h)) - loss(&x, &gamma, &bump(&beta, j, -h)))
                / (2.0 * h);
            close(fd, db[j], &format!("dbeta[{j}]"));
        }
    }
}

#[test]
fn fold_into_conv_matches_reference() {
    let mut rng = common::rng(0xb7a5);
    let dev = common::device();
    let mut devices = vec![("f32", dev.clone(), DType::F32)];
    if dev.has(Feature::ShaderF16) {
        devices.push(("f16", dev.clone(), DType::F16));
    }
    devices.push(("f16-packed", common::packed_device(), DType::F16));
    for (name, dev, dtype) in devices {
        let mut worst = 0.0f64;
        for i in 0..100 {
            let o = dim(&mut rng);
            let wshape = [
                o,
                dim(&mut rng),
                [1, 3, 5, 7][i % 4],
                [1, 3, 2, 7][(i / 4) % 4],
            ];
            let n: usize = wshape.iter().product();
            let w = testing::round_to(dtype, &common::uniform(&mut rng, n, -1.0, 1.0));
            let b = testing::round_to(dtype, &common::uniform(&mut rng, o, -1.0, 1.0));
            let p = params(&mut rng, o);
            let t = |v: &[f32]| dev.tensor(&[o], v).unwrap();
            let wt = dev.upload_f32(&wshape, dtype, &w).unwrap();
            let bt = dev.upload_f32(&[o], dtype, &b).unwrap();
            let with_bias = i % 2 == 0;
            let (wf, bf) = batch_norm::fold_into_conv(
                &wt,
                with_bias.then_some(&bt),
                &t(&p.gamma),
                &t(&p.beta),
                &t(&p.rm),
                &t(&p.rv),
                1e-5,
            )
            .unwrap();
            assert_eq!(
                (wf.shape(), wf.dtype(), bf.shape(), bf.dtype()),
                (&wshape[..], dtype, &[o][..], dtype)
            );
            let (ww, bw) = ref_bn::fold_into_conv(
                &w,
                with_bias.then_some(&b[..]),
                &p.gamma,
                &p.beta,
                &p.rm,
                &p.rv,
                1e-5,
            );
            let what = format!("fold {name} case {i} {wshape:?} bias {with_bias}");
            worst = worst.max(check(&what, &wf.to_f32_vec().unwrap(), &ww, dtype));
            worst = worst.max(check(&what, &bf.to_f32_vec().unwrap(), &bw, dtype));
        }
        eprintln!("fold_into_conv {name}: 100 shapes, worst error {worst:.3} of the bound");
    }
}

#[test]
fn large_grid_and_determinism() {
    // [1, 70000, 1, 2]: 70,000 channels, so the statistics, finalize and
    // backward kernels launch 70,000 workgroups each.
    let dev = common::device();
    let mut rng = common::rng(0xb7a6);
    let shape = [1usize, 70_000, 1, 2];
    let c = shape[1];
    let n: usize = shape.iter().product();
    let x = inputs(&mut rng, n, DType::F32);
    let p = params(&mut rng, c);
    let t = |v: &[f32]| dev.tensor(&[c], v).unwrap();
    let (gt, bt) = (t(&p.gamma), t(&p.beta));
    let run = || {
        let (rmt, rvt) = (t(&p.rm), t(&p.rv));
        let xt = dev.tensor(&shape, &x).unwrap();
        let out =
            batch_norm::batch_norm_train(&xt, &gt, &bt, &rmt, &rvt, &BatchNormSpec::default())
                .unwrap();
        let dy = dev.tensor(&shape, &x).unwrap();
        let (dx, dg, db) =
            batch_norm::batch_norm_backward(&dy, &xt, &gt, &out.save_mean, &out.save_invstd)
                .unwrap();
        [out.y, out.save_mean, out.save_invstd, rmt, rvt, dx, dg, db]
            .map(|t| t.to_f32_vec().unwrap())
    };
    let a = run();
    let (y, stats) = ref_bn::train(&x, shape, &p.gamma, &p.beta, 1e-5, Activation::None);
    check("large y", &a[0], &y, DType::F32);
    check("large mean", &a[1], &stats.mean, DType::F32);
    let b = run();
    for (u, v) in a.iter().zip(&b) {
        assert!(
            u.iter().zip(v).all(|(p, q)| p.to_bits() == q.to_bits()),
            "not deterministic"
        );
    }
}

#[test]
fn scratch_bytes_are_exact() {
    // A device of its own, so that no other test's tensors move the peak.
    let dev = Device::from_env().unwrap();
    let mut rng = common::rng(0xb7a7);
    for shape in [[2usize, 3, 5, 7], [4, 5, 70, 70], [1, 1, 1, 2]] {
        let c = shape[1];
        let n: usize = shape.iter().product();
        let x = dev
            .tensor(&shape, &inputs(&mut rng, n, DType::F32))
            .unwrap();
        let p = params(&mut rng, c);
        let t = |v: &[f32]| dev.tensor(&[c], v).unwrap();
        let (gt, bt, rmt, rvt) = (t(&p.gamma), t(&p.beta), t(&p.rm), t(&p.rv));
        let out = BatchNormOutput {
            y: dev.empty(&shape, DType::F32).unwrap(),
            save_mean: dev.empty(&[c], DType::F32).unwrap(),
            save_invstd: dev.empty(&[c], DType::F32).unwrap(),
        };
        let grads = BatchNormGrads {
            dx: dev.empty(&shape, DType::F32).unwrap(),
            dgamma: dev.empty(&[c], DType::F32).unwrap(),
            dbeta: dev.empty(&[c], DType::F32).unwrap(),
        };
        let scratch = batch_norm_scratch_bytes(&dev, shape, Precision::F32);
        let before = dev.pool_stats().live_bytes;
        dev.reset_peak();
        batch_norm::batch_norm_train_into(
            &x,
            &gt,
            &bt,
            &rmt,
            &rvt,
            &BatchNormSpec::default(),
            &out,
        )
        .unwrap();
        let train_peak = dev.pool_stats().peak_live_bytes - before;
        dev.reset_peak();
        batch_norm::batch_norm_backward_into(
            &x,
            &x,
            &gt,
            &out.save_mean,
            &out.save_invstd,
            None,
            &grads,
        )
        .unwrap();
        let backward_peak = dev.pool_stats().peak_live_bytes - before;
        dev.sync().unwrap();
        assert_eq!(backward_peak, scratch, "{shape:?}");
        assert_eq!(train_peak, scratch - 16 * c as u64, "{shape:?}");
        assert_eq!(
            dev.pool_stats().live_bytes,
            before,
            "{shape:?}: temporaries leaked"
        );
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[2, 3, 2, 2], &[0.5; 24]).unwrap();
    let c3 = || dev.tensor(&[3], &[1.0; 3]).unwrap();
    let spec = BatchNormSpec::default();
    let g4 = dev.tensor(&[4], &[1.0; 4]).unwrap();
    let err = batch_norm::batch_norm_train(&x, &g4, &c3(), &c3(), &c3(), &spec).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(
        err.to_string().contains("gamma") && err.to_string().contains("[3]"),
        "{err}"
    );
    let g16 = dev.upload_f32(&[3], DType::F16, &[1.0; 3]).unwrap();
    let err = batch_norm::batch_norm_eval(&x, &g16, &c3(), &c3(), &c3(), &spec).unwrap_err();
    assert!(err.to_string().contains("f32"), "{err}");
    let x3 = dev.tensor(&[2, 3, 4], &[0.5; 24]).unwrap();
    let err = batch_norm::batch_norm_train(&x3, &c3(), &c3(), &c3(), &c3(), &spec).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let x1 = dev.tensor(&[1, 3, 1, 1], &[0.5; 3]).unwrap();
    let err = batch_norm::batch_norm_train(&x1, &c3(), &c3(), &c3(), &c3(), &spec).unwrap_err();
    assert!(
        err.to_string().contains("more than 1 value per channel"),
        "{err}"
    );
    let bad = BatchNormSpec {
        momentum: 1.5,
        ..spec
    };
    let err = batch_norm::batch_norm_train(&x, &c3(), &c3(), &c3(), &c3(), &bad).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let shared = c3();
    let err = batch_norm::batch_norm_train(&x, &c3(), &c3(), &shared, &shared, &spec).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let dy = dev.tensor(&[2, 3, 4, 1], &[0.5; 24]).unwrap();
    let err = batch_norm::batch_norm_backward(&dy, &x, &c3(), &c3(), &c3()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let spec16 = BatchNormSpec {
        precision: Some(Precision::F16),
        ..spec
    };
    let err = batch_norm::batch_norm_train(&x, &c3(), &c3(), &c3(), &c3(), &spec16).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let w = dev.tensor(&[4, 3, 1, 1], &[0.5; 12]).unwrap();
    let err = batch_norm::fold_into_conv(&w, None, &c3(), &c3(), &c3(), &c3(), 1e-5).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    dev.check().unwrap();
}

/// The evaluation-mode backward (frozen statistics, fine-tuning) over 60
/// random shapes at every precision: dx elementwise (scale |dy·γ·s|, bound as
/// the eval forward), dgamma and dbeta as per-channel sums (scale Σ|terms|,
/// bound `common::sum_bound` at f32), against f64; outputs not asked for stay
/// `None`. With f16 storage `x̂` and `dy·x̂` are f16 tensors, so each term of
/// dgamma carries two f16 roundings: c = 2 in f16 ε on Σ|terms| (dbeta sums
/// the f16 `dy` exactly in f32, so its f32 bound holds).
#[test]
fn eval_backward_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0xe7a1);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        let mut worst = [0.0f64; 3];
        for i in 0..60 {
            let shape = random_shape(&mut rng, i);
            let [n, c, h, w] = shape;
            let numel = n * c * h * w;
            let x = inputs(&mut rng, numel, dtype);
            let dy = common::values(&mut rng, numel, dtype);
            let p = params(&mut rng, c);
            let eps = 1e-5f32;
            let s: Vec<f64> =
                p.rv.iter()
                    .map(|&v| 1.0 / (v as f64 + eps as f64).sqrt())
                    .collect();
            let ch = |k: usize| k / (h * w) % c;
            let mut dx = RefOut::with_capacity(numel);
            for k in 0..numel {
                let v = dy[k] as f64 * p.gamma[ch(k)] as f64 * s[ch(k)];
                dx.value.push(v);
                dx.scale.push(v.abs());
            }
            let mut dg = RefOut {
                value: vec![0.0; c],
                scale: vec![0.0; c],
            };
            let mut db = RefOut {
                value: vec![0.0; c],
                scale: vec![0.0; c],
            };
            for k in 0..numel {
                let t = dy[k] as f64 * (x[k] as f64 - p.rm[ch(k)] as f64) * s[ch(k)];
                dg.value[ch(k)] += t;
                dg.scale[ch(k)] += t.abs();
                db.value[ch(k)] += dy[k] as f64;
                db.scale[ch(k)] += (dy[k] as f64).abs();
            }
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let dyt = dev.upload_f32(&shape, dtype, &dy).unwrap();
            let t = |v: &[f32]| dev.tensor(&[c], v).unwrap();
            let need = [i % 4 != 1, i % 4 != 2, i % 4 != 3];
            let x_arg = need[1].then_some(&xt);
            let got = batch_norm::batch_norm_eval_backward(
                &dyt,
                x_arg,
                &t(&p.gamma),
                &t(&p.rm),
                &t(&p.rv),
                eps,
                need,
            )
            .unwrap();
            let what = format!("eval backward {} case {i} {shape:?}", precision.name());
            let terms = n * h * w;
            for (k, (g, want)) in got.iter().zip([&dx, &dg, &db]).enumerate() {
                assert_eq!(g.is_some(), need[k], "{what}: output {k} only when asked");
                let Some(g) = g else { continue };
                let got = g.to_f32_vec().unwrap();
                worst[k] = worst[k].max(if k == 0 {
                    check(&what, &got, want, dtype)
                } else {
                    assert_eq!(g.dtype(), DType::F32);
                    let (bound_dtype, c) = if k == 1 && dtype == DType::F16 {
                        (DType::F16, 2.0)
                    } else {
                        (DType::F32, common::sum_bound(DType::F32, terms))
                    };
                    common::check(&got, want, bound_dtype, c, &what)
                });
            }
        }
        eprintln!(
            "eval backward {}: 60 shapes, worst dx {:.3}, dgamma {:.3}, dbeta {:.3} eps*scale",
            precision.name(),
            worst[0],
            worst[1],
            worst[2]
        );
    }
}
