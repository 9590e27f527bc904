//! Elementwise kernels: activations forward and backward at every precision,
//! binary arithmetic with broadcasting, scale, fill, casts, and binding windows.
//!
//! Arithmetic ops (relu, leaky_relu, add, sub, mul, div, max, min, scale) must
//! match a CPU f32 doing the same operations in the same order bit for bit.
//! Transcendental activations are compared with the f64 reference within
//! c·ε·scale, scale = |y| + 1 + |x| (WGSL's exp/tanh accuracy is absolute near
//! zero), c = 8, and must be finite for every input in ±100.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature, LimitOverrides};
use weft::kernels::elementwise::{self, BinaryOp};
use weft::kernels::reference::{RefOut, activation as ref_act};
use weft::kernels::{Activation, Precision, testing};
use weft::{DType, Device, Error};

/// 100 lengths: awkward small ones, then random up to 5,000.
fn lengths(rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut v = vec![1, 2, 3, 7, 13, 33, 255, 256, 257, 1023];
    while v.len() < 100 {
        v.push(rng.random_range(1..5000));
    }
    v
}

/// Inputs spanning ±100, with a third of them near zero.
fn inputs(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            if rng.random_bool(0.33) {
                rng.random_range(-1.0..1.0)
            } else {
                rng.random_range(-100.0..100.0)
            }
        })
        .collect()
}

fn is_arithmetic(act: Activation) -> bool {
    matches!(
        act,
        Activation::None | Activation::Relu | Activation::LeakyRelu(_)
    )
}

#[test]
fn activations_forward_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(21);
    let lens = lengths(&mut rng);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        for act in Activation::ALL {
            let mut worst = 0.0f64;
            for &n in &lens {
                let x = testing::round_to(dtype, &inputs(&mut rng, n));
                let xt = dev.upload_f32(&[n], dtype, &x).unwrap();
                let y = testing::poisoned(&dev, &[n], dtype).unwrap();
                elementwise::activation_into(&xt, act, &y, Some(precision)).unwrap();
                let got = y.to_f32_vec().unwrap();
                if is_arithmetic(act) && dtype == DType::F32 {
                    for (i, (&g, &xi)) in got.iter().zip(&x).enumerate() {
                        let want = match act {
                            Activation::Relu => {
                                if xi < 0.0 {
                                    0.0
                                } else {
                                    xi
                                }
                            }
                            Activation::LeakyRelu(a) => {
                                if xi > 0.0 {
                                    xi
                                } else {
                                    xi * a
                                }
                            }
                            _ => xi,
                        };
                        assert_eq!(g.to_bits(), want.to_bits(), "{} x={xi} at {i}", act.name());
                    }
                }
                let mut want = RefOut::with_capacity(n);
                for &xi in &x {
                    let yv = ref_act::forward(act, xi as f64);
                    want.push(yv, ref_act::error_scale(act, xi as f64, yv));
                }
                let report = testing::compare(&got, &want, dtype, 8.0)
                    .unwrap_or_else(|e| panic!("{} {} n={n}:\n{e}", act.name(), precision.name()));
                worst = worst.max(report.max_err_eps);
            }
            eprintln!("{} {}: worst {worst:.2} eps", act.name(), precision.name());
        }
    }
}

#[test]
fn activations_backward_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(22);
    let lens = lengths(&mut rng);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        for act in Activation::ALL {
            for &n in lens.iter().step_by(3) {
                let x = testing::round_to(dtype, &inputs(&mut rng, n));
                let dy = testing::round_to(dtype, &common::uniform(&mut rng, n, -2.0, 2.0));
                // relu, sigmoid and tanh take their output; the reference output is
                // rounded to storage exactly as a forward kernel would store it.
                let saved: Vec<f32> = if act.grad_uses_output() {
                    testing::round_to(
                        dtype,
                        &x.iter()
                            .map(|&v| ref_act::forward(act, v as f64) as f32)
                            .collect::<Vec<_>>(),
                    )
                } else {
                    x.clone()
                };
                let st = dev.upload_f32(&[n], dtype, &saved).unwrap();
                let dyt = dev.upload_f32(&[n], dtype, &dy).unwrap();
                let dx = testing::poisoned(&dev, &[n], dtype).unwrap();
                elementwise::activation_backward_into(&st, &dyt, act, &dx, Some(precision))
                    .unwrap();
                let got = dx.to_f32_vec().unwrap();
                let mut want = RefOut::with_capacity(n);
                for i in 0..n {
                    let d = if act.grad_uses_output() {
                        let y = saved[i] as f64;
                        match act {
                            Activation::Relu => {
                                if y > 0.0 {
                                    1.0
                                } else {
                                    0.0
                                }
                            }
                            Activation::Sigmoid => y * (1.0 - y),
                            _ => 1.0 - y * y,
                        }
                    } else {
                        ref_act::derivative(act, x[i] as f64)
                    };
                    let g = dy[i] as f64 * d;
                    want.push(
                        g,
                        g.abs() + dy[i].abs() as f64 * (1.0 + (x[i] as f64).abs()),
                    );
                }
                testing::compare(&got, &want, dtype, 8.0).unwrap_or_else(|e| {
                    panic!("{} backward {} n={n}:\n{e}", act.name(), precision.name())
                });
            }
        }
    }
}

/// Hardtanh (ONNX `Clip`) at its edges: an infinite bound leaves that side
/// open (infinities pass), NaN passes, finite bounds clamp exactly; the
/// gradient is 0 on and beyond the bounds and passes elsewhere (NaN
/// included), as PyTorch's.
#[test]
fn hardtanh_bounds_open_closed_and_nan() {
    let dev = common::device();
    let x = [
        f32::NEG_INFINITY,
        -1e30,
        -7.0,
        -6.0,
        0.5,
        6.0,
        7.0,
        f32::INFINITY,
        f32::NAN,
    ];
    let xt = dev.upload_f32(&[x.len()], DType::F32, &x).unwrap();
    let cases: [(Activation, [f32; 9]); 3] = [
        (
            Activation::Hardtanh(f32::NEG_INFINITY, 6.0),
            [
                f32::NEG_INFINITY,
                -1e30,
                -7.0,
                -6.0,
                0.5,
                6.0,
                6.0,
                6.0,
                f32::NAN,
            ],
        ),
        (
            Activation::Hardtanh(-6.0, f32::INFINITY),
            [
                -6.0,
                -6.0,
                -6.0,
                -6.0,
                0.5,
                6.0,
                7.0,
                f32::INFINITY,
                f32::NAN,
            ],
        ),
        (
            Activation::Hardtanh(0.0, 6.0),
            [0.0, 0.0, 0.0, 0.0, 0.5, 6.0, 6.0, 6.0, f32::NAN],
        ),
    ];
    for (act, want) in cases {
        let y = testing::poisoned(&dev, &[x.len()], DType::F32).unwrap();
        elementwise::activation_into(&xt, act, &y, None).unwrap();
        let got = y.to_f32_vec().unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{act:?} x={}: got {g}, want {w} (element {i})",
                x[i]
            );
        }
    }
    let dy = dev.upload_f32(&[x.len()], DType::F32, &[1.0; 9]).unwrap();
    let g = elementwise::activation_backward(&xt, &dy, Activation::Hardtanh(-6.0, 6.0))
        .unwrap()
        .to_f32_vec()
        .unwrap();
    assert_eq!(g, [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn binary_ops_are_bitwise_exact_with_broadcasting() {
    let dev = common::device();
    let mut rng = common::rng(23);
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
    ];
    for case in 0..100 {
        let n = rng.random_range(1..6);
        let c = rng.random_range(1..9);
        let h = rng.random_range(1..12);
        let w = rng.random_range(1..12);
        let x_shape = vec![n, c, h, w];
        let y_shape = match case % 4 {
            0 => x_shape.clone(),
            1 => vec![c],
            2 => vec![1, c, 1, 1],
            _ => vec![h, w],
        };
        let op = ops[case % ops.len()];
        for precision in common::precisions(&dev) {
            let dtype = precision.dtype();
            let nx: usize = x_shape.iter().product();
            let ny: usize = y_shape.iter().product();
            let x = testing::round_to(dtype, &common::uniform(&mut rng, nx, -10.0, 10.0));
            let y = testing::round_to(dtype, &common::uniform(&mut rng, ny, 0.5, 4.0));
            let xt = dev.upload_f32(&x_shape, dtype, &x).unwrap();
            let yt = dev.upload_f32(&y_shape, dtype, &y).unwrap();
            let z = testing::poisoned(&dev, &x_shape, dtype).unwrap();
            elementwise::binary_into(&xt, &yt, op, &z, Some(precision)).unwrap();
            let got = z.to_f32_vec().unwrap();
            let hw = h * w;
            for i in 0..nx {
                let j = match case % 4 {
                    0 => i,
                    1 | 2 => (i / hw) % c,
                    _ => i % hw,
                };
                let want = testing::round_to(dtype, &[op.apply(x[i], y[j])])[0];
                assert_eq!(
                    got[i].to_bits(),
                    want.to_bits(),
                    "{} {} {x_shape:?} by {y_shape:?} at {i}",
                    op.name(),
                    precision.name()
                );
            }
        }
    }
    // NaN propagates through max and min from either side.
    let x = dev.tensor(&[2], &[f32::NAN, 1.0]).unwrap();
    let y = dev.tensor(&[2], &[1.0, f32::NAN]).unwrap();
    for op in [BinaryOp::Max, BinaryOp::Min] {
        let z = elementwise::binary(&x, &y, op)
            .unwrap()
            .to_f32_vec()
            .unwrap();
        assert!(z.iter().all(|v| v.is_nan()), "{} {z:?}", op.name());
    }
    let bad = dev.tensor(&[3], &[1.0; 3]).unwrap();
    let err = elementwise::add(&dev.tensor(&[2, 4], &[0.0; 8]).unwrap(), &bad).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

/// Any NumPy broadcast of y against x (`[N, 1, H, W]` gates, `[C, 1, W]`,
/// `[N, C, 1, 1]` per sample, a lower rank), ranks 1 to 6: bit for bit with
/// a CPU f32 doing the same operation, the index of y worked out here from
/// x's coordinates; and a shape that does not broadcast is a shape error.
#[test]
fn binary_broadcast_any_pattern_is_bitwise_exact() {
    let dev = common::device();
    let mut rng = common::rng(24);
    let ops = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];
    for case in 0..120 {
        let rank = 1 + case % 6;
        let x_shape: Vec<usize> = (0..rank).map(|_| rng.random_range(1..6)).collect();
        // y: a suffix of x's dims, each kept or set to 1.
        let y_rank = rng.random_range(1..=rank);
        let y_shape: Vec<usize> = x_shape[rank - y_rank..]
            .iter()
            .map(|&d| if rng.random_bool(0.5) { d } else { 1 })
            .collect();
        let op = ops[case % ops.len()];
        for precision in common::precisions(&dev) {
            if precision == Precision::F16Packed {
                continue;
            }
            let dtype = precision.dtype();
            let nx: usize = x_shape.iter().product();
            let ny: usize = y_shape.iter().product();
            let x = testing::round_to(dtype, &common::uniform(&mut rng, nx, -10.0, 10.0));
            let y = testing::round_to(dtype, &common::uniform(&mut rng, ny, 0.5, 4.0));
            let xt = dev.upload_f32(&x_shape, dtype, &x).unwrap();
            let yt = dev.upload_f32(&y_shape, dtype, &y).unwrap();
            let z = testing::poisoned(&dev, &x_shape, dtype).unwrap();
            elementwise::binary_broadcast_into(&xt, &yt, op, &z).unwrap();
            let got = z.to_f32_vec().unwrap();
            for i in 0..nx {
                // x's coordinates, then y's flat index with its size-1 dims at 0.
                let mut rest = i;
                let mut coords = vec![0; rank];
                for k in (0..rank).rev() {
                    coords[k] = rest % x_shape[k];
                    rest /= x_shape[k];
                }
                let j = y_shape.iter().enumerate().fold(0, |j, (k, &d)| {
                    j * d + if d == 1 { 0 } else { coords[rank - y_rank + k] }
                });
                let want = testing::round_to(dtype, &[op.apply(x[i], y[j])])[0];
                assert_eq!(
                    got[i].to_bits(),
                    want.to_bits(),
                    "{} {} {x_shape:?} by {y_shape:?} at {i}",
                    op.name(),
                    precision.name()
                );
            }
        }
    }
    assert_eq!(
        elementwise::broadcast_shape("t", &[2, 1, 4], &[3, 1]).unwrap(),
        [2, 3, 4]
    );
    let x = dev.tensor(&[2, 3], &[0.0; 6]).unwrap();
    let y = dev.tensor(&[2, 1], &[1.0; 2]).unwrap();
    let err = elementwise::binary_broadcast(&y, &x, BinaryOp::Add).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let bad = dev.tensor(&[4], &[1.0; 4]).unwrap();
    let err = elementwise::binary_broadcast(&x, &bad, BinaryOp::Mul).unwrap_err();
    assert!(err.to_string().contains("broadcast"), "{err}");
}

#[test]
fn scale_fill_and_cast() {
    let dev = common::device();
    let mut rng = common::rng(24);
    for &n in &lengths(&mut rng)[..40] {
        for precision in common::precisions(&dev) {
            let dtype = precision.dtype();
            let x = testing::round_to(dtype, &common::uniform(&mut rng, n, -50.0, 50.0));
            let (a, b) = (
                rng.random_range(-3.0..3.0f32),
                rng.random_range(-3.0..3.0f32),
            );
            let xt = dev.upload_f32(&[n], dtype, &x).unwrap();
            let y = testing::poisoned(&dev, &[n], dtype).unwrap();
            elementwise::scale_into(&xt, a, b, &y, Some(precision)).unwrap();
            let got = y.to_f32_vec().unwrap();
            for i in 0..n {
                let want = testing::round_to(dtype, &[x[i] * a + b])[0];
                assert_eq!(
                    got[i].to_bits(),
                    want.to_bits(),
                    "scale {} at {i}",
                    precision.name()
                );
            }
        }
        let t = dev.empty(&[n], DType::F16).unwrap();
        elementwise::fill(&t, -1.5).unwrap();
        assert!(t.to_f32_vec().unwrap().iter().all(|&v| v == -1.5));
        let x = common::uniform(&mut rng, n, -70000.0, 70000.0);
        let xt = dev.tensor(&[n], &x).unwrap();
        let h = elementwise::cast(&xt, DType::F16).unwrap();
        assert_eq!(h.dtype(), DType::F16);
        let back = elementwise::cast(&h, DType::F32)
            .unwrap()
            .to_f32_vec()
            .unwrap();
        for i in 0..n {
            let want = half::f16::from_f32(x[i]).to_f32();
            if want.is_finite() {
                assert_eq!(back[i], want, "cast at {i}: {}", x[i]);
            }
        }
    }
    let z = elementwise::zeros(&dev, &[5, 3], DType::I32).unwrap();
    assert_eq!(z.to_i32_vec().unwrap(), vec![0; 15]);
}

#[test]
fn windows_split_large_tensors_bitwise() {
    let small = Device::new(DeviceOptions {
        limits: LimitOverrides {
            max_storage_buffer_binding_size: Some(1 << 20),
            ..Default::default()
        },
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let big = common::device();
    let mut rng = common::rng(25);
    let n = 700_001; // 2.8 MB of f32: three windows
    let x = inputs(&mut rng, n);
    let y = common::uniform(&mut rng, 7, 0.5, 2.0);
    for dtype in [DType::F32, DType::F16] {
        let run = |dev: &Device| {
            let xt = dev
                .upload_f32(&[1, 7, n / 7], dtype, &x[..n / 7 * 7])
                .unwrap();
            let yt = dev.upload_f32(&[7], dtype, &y).unwrap();
            let a = elementwise::activation(&xt, Activation::Gelu).unwrap();
            let m = elementwise::mul(&a, &yt).unwrap();
            let s = elementwise::scale(&m, 0.5, 1.0).unwrap();
            let g = elementwise::activation_backward(&xt, &s, Activation::Silu).unwrap();
            let c = elementwise::cast(&g, DType::F32).unwrap();
            c.to_f32_vec().unwrap()
        };
        let (want, got) = (run(&big), run(&small));
        assert!(
            want.iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{dtype}"
        );
    }
}

#[test]
fn native_f16_needs_the_feature() {
    let dev = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let x = dev
        .upload_f32(&[4], DType::F16, &[-1.0, 0.0, 1.0, 2.0])
        .unwrap();
    let y = dev.empty(&[4], DType::F16).unwrap();
    let err =
        elementwise::activation_into(&x, Activation::Relu, &y, Some(Precision::F16)).unwrap_err();
    assert!(matches!(err, Error::MissingFeature { .. }), "{err}");
    // The automatic choice falls back to packed storage and works.
    let y = elementwise::activation(&x, Activation::Relu).unwrap();
    assert_eq!(y.to_f32_vec().unwrap(), [0.0, 0.0, 1.0, 2.0]);
}
