//! PReLU forward and backward at f32 and native f16, with a shared weight
//! (`[1]` or a scalar) and per-channel weights, inputs of rank 1 to 5, over at
//! least 100 random shapes each (including N = 1, 1×1 images, odd sizes
//! 7/13/33, channel counts not multiples of 4, and channels of several
//! 2048-element chunks). Outputs are poisoned with NaN before every run and
//! every element is compared.
//!
//! Bounds:
//! - y and dx: bit for bit against a CPU doing the same single f32 product
//!   rounded to the storage type (and within c = 1 of the f64 reference).
//! - dweight, f32: c = 32 + chunks: each invocation adds 8 terms in order (7ε),
//!   two 256-wide trees add 8ε each, and the chunk partials are added in runs
//!   of ⌈chunks/256⌉ — at most (31 + chunks)·ε·Σ|x·dy| in all, plus ½ε for
//!   each product. f16: c = 1, the final rounding to f16 (the f32 error is
//!   below 2⁻¹⁰ of an f16 ulp).

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature};
use weft::kernels::prelu;
use weft::kernels::{Precision, reference, testing};
use weft::{DType, Device, Error, Tensor};

fn dtypes(dev: &Device) -> Vec<DType> {
    let mut v = vec![DType::F32];
    if dev.has(Feature::ShaderF16) {
        v.push(DType::F16);
    }
    v
}

/// Input shape and weight length (1 or C); the first cases are the awkward ones.
fn random_case(rng: &mut ChaCha8Rng, i: usize) -> (Vec<usize>, usize) {
    let special: [(&[usize], usize); 10] = [
        (&[1, 1, 1, 1], 1),
        (&[7], 1),
        (&[1, 3, 7, 7], 3),
        (&[2, 5, 13, 13], 5),
        (&[1, 6, 33, 33], 6),
        (&[4, 3, 40, 40], 3),
        (&[3, 7], 7),
        (&[2, 9, 5], 1),
        (&[1, 2, 3, 4, 5], 2),
        (&[1, 1, 70, 70], 1),
    ];
    if i < special.len() {
        return (special[i].0.to_vec(), special[i].1);
    }
    let rank = rng.random_range(1..6);
    let shape: Vec<usize> = (0..rank)
        .map(|_| {
            if rng.random_bool(0.2) {
                [1, 7, 13, 33][rng.random_range(0..4)]
            } else {
                rng.random_range(1..12)
            }
        })
        .collect();
    let per_channel = rank >= 2 && rng.random_bool(0.7);
    (shape.clone(), if per_channel { shape[1] } else { 1 })
}

/// Values in ±[0.01, 2), rounded to `dtype`, with a few exact zeros.
fn values(rng: &mut ChaCha8Rng, n: usize, dtype: DType) -> Vec<f32> {
    let v: Vec<f32> = (0..n)
        .map(|_| {
            if rng.random_bool(0.02) {
                return 0.0;
            }
            let m = rng.random_range(0.01..2.0f32);
            if rng.random_bool(0.5) { m } else { -m }
        })
        .collect();
    testing::round_to(dtype, &v)
}

fn channel(i: usize, shape: &[usize], wlen: usize) -> usize {
    if wlen == 1 {
        0
    } else {
        (i / shape[2..].iter().product::<usize>()) % wlen
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn upload(dev: &Device, shape: &[usize], dtype: DType, v: &[f32]) -> Tensor {
    dev.upload_f32(shape, dtype, v).unwrap()
}

#[test]
fn forward_and_backward_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x7e1a);
    for dtype in dtypes(&dev) {
        let mut worst = 0.0f64;
        for i in 0..110 {
            let (shape, wlen) = random_case(&mut rng, i);
            let n: usize = shape.iter().product();
            let x = values(&mut rng, n, dtype);
            let w = values(&mut rng, wlen, dtype);
            let dy = values(&mut rng, n, dtype);
            // A scalar weight for some shared-weight cases.
            let wshape: Vec<usize> = if wlen == 1 && i % 3 == 0 {
                vec![]
            } else {
                vec![wlen]
            };
            let xt = upload(&dev, &shape, dtype, &x);
            let wt = upload(&dev, &wshape, dtype, &w);
            let dyt = upload(&dev, &shape, dtype, &dy);
            let what = format!("{dtype} case {i} {shape:?} weight {wshape:?}");

            let y = testing::poisoned(&dev, &shape, dtype).unwrap();
            prelu::prelu_into(&xt, &wt, &y).unwrap();
            let got = y.to_f32_vec().unwrap();
            let cpu: Vec<f32> = (0..n)
                .map(|k| {
                    if x[k] > 0.0 {
                        x[k]
                    } else {
                        w[channel(k, &shape, wlen)] * x[k]
                    }
                })
                .collect();
            assert_eq!(bits(&got), bits(&testing::round_to(dtype, &cpu)), "{what}");
            let want = reference::prelu::prelu(&x, &shape, &w);
            testing::compare(&got, &want, dtype, 1.0).unwrap_or_else(|e| panic!("{what}: {e}"));

            let dx = testing::poisoned(&dev, &shape, dtype).unwrap();
            let dw = testing::poisoned(&dev, &wshape, dtype).unwrap();
            prelu::prelu_backward_into(&xt, &wt, &dyt, &dx, &dw).unwrap();
            let cpu: Vec<f32> = (0..n)
                .map(|k| {
                    if x[k] > 0.0 {
                        dy[k]
                    } else {
                        w[channel(k, &shape, wlen)] * dy[k]
                    }
                })
                .collect();
            let got_dx = dx.to_f32_vec().unwrap();
            assert_eq!(
                bits(&got_dx),
                bits(&testing::round_to(dtype, &cpu)),
                "{what} dx"
            );
            let (want_dx, want_dw) = reference::prelu::prelu_backward(&x, &shape, &w, &dy);
            testing::compare(&got_dx, &want_dx, dtype, 1.0)
                .unwrap_or_else(|e| panic!("{what} dx: {e}"));
            let chunks = (n / wlen).div_ceil(2048) as f64;
            let c = if dtype == DType::F16 {
                1.0
            } else {
                32.0 + chunks
            };
            let got_dw = dw.to_f32_vec().unwrap();
            let r = testing::compare(&got_dw, &want_dw, dtype, c)
                .unwrap_or_else(|e| panic!("{what} dweight: {e}"));
            worst = worst.max(r.max_err_eps);
            // Deterministic, and the allocating form agrees.
            let (dx2, dw2) = prelu::prelu_backward(&xt, &wt, &dyt).unwrap();
            assert_eq!(bits(&dx2.to_f32_vec().unwrap()), bits(&got_dx), "{what}");
            assert_eq!(bits(&dw2.to_f32_vec().unwrap()), bits(&got_dw), "{what}");
            assert_eq!(dw2.shape(), &wshape[..]);
        }
        eprintln!("prelu {dtype}: 110 shapes, worst dweight {worst:.3} eps*scale");
    }
}

#[test]
fn nan_propagates() {
    let dev = common::device();
    let x = dev.tensor(&[1, 2, 2], &[f32::NAN, 1.0, -1.0, 2.0]).unwrap();
    let w = dev.tensor(&[2], &[0.25, 0.5]).unwrap();
    let y = prelu::prelu(&x, &w).unwrap().to_f32_vec().unwrap();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..], [1.0, -0.5, 2.0]);
    let dy = dev.tensor(&[1, 2, 2], &[1.0; 4]).unwrap();
    let (dx, dw) = prelu::prelu_backward(&x, &w, &dy).unwrap();
    assert_eq!(dx.to_f32_vec().unwrap(), [0.25, 1.0, 0.5, 1.0]);
    let dw = dw.to_f32_vec().unwrap();
    assert!(dw[0].is_nan() && dw[1] == -1.0, "{dw:?}");
}

#[test]
fn gradient_reference_passes_finite_differences() {
    let mut rng = common::rng(0x7e1b);
    for i in 0..30 {
        let (mut shape, wlen) = random_case(&mut rng, i);
        if shape.iter().product::<usize>() > 2000 {
            shape[0] = 1;
            shape.truncate(3);
        }
        let wlen = if wlen == 1 || shape.len() < 2 {
            1
        } else {
            shape[1]
        };
        let n: usize = shape.iter().product();
        // |x| ≥ 0.1: the kink at 0 stays outside the differences.
        let x: Vec<f64> = (0..n)
            .map(|_| {
                let m = rng.random_range(0.1..1.0);
                if rng.random_bool(0.5) { m } else { -m }
            })
            .collect();
        let w: Vec<f64> = (0..wlen).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dy: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (dx, dw) = reference::prelu::prelu_backward(&x, &shape, &w, &dy);
        let loss = |x: &[f64], w: &[f64]| -> f64 {
            reference::prelu::prelu(x, &shape, w)
                .value
                .iter()
                .zip(&dy)
                .map(|(a, b)| a * b)
                .sum()
        };
        let h = 1e-4;
        let close = |fd: f64, g: f64| (fd - g).abs() <= 1e-8 * (1.0 + g.abs());
        let mut xp = x.clone();
        for k in 0..n {
            xp[k] = x[k] + h;
            let up = loss(&xp, &w);
            xp[k] = x[k] - h;
            let down = loss(&xp, &w);
            xp[k] = x[k];
            let fd = (up - down) / (2.0 * h);
            assert!(
                close(fd, dx.value[k]),
                "case {i} dx[{k}]: {fd} vs {}",
                dx.value[k]
            );
        }
        let mut wp = w.clone();
        for c in 0..wlen {
            wp[c] = w[c] + h;
            let up = loss(&x, &wp);
            wp[c] = w[c] - h;
            let down = loss(&x, &wp);
            wp[c] = w[c];
            let fd = (up - down) / (2.0 * h);
            assert!(
                close(fd, dw.value[c]),
                "case {i} dw[{c}]: {fd} vs {}",
                dw.value[c]
            );
        }
    }
}

#[test]
fn large_grid_folds() {
    // 4,198,400 elements: 65,600 workgroups of 64.
    let dev = common::device();
    let mut rng = common::rng(0x7e1c);
    let shape = [1, 4, 1024, 1025];
    let n: usize = shape.iter().product();
    let x = common::uniform(&mut rng, n, -1.0, 1.0);
    let w = [0.1f32, -0.2, 0.3, 0.25];
    let xt = dev.tensor(&shape, &x).unwrap();
    let wt = dev.tensor(&[4], &w).unwrap();
    let y = testing::poisoned(&dev, &shape, DType::F32).unwrap();
    prelu::prelu_into(&xt, &wt, &y).unwrap();
    let cpu: Vec<f32> = (0..n)
        .map(|k| {
            if x[k] > 0.0 {
                x[k]
            } else {
                w[k / (1024 * 1025)] * x[k]
            }
        })
        .collect();
    assert!(bits(&y.to_f32_vec().unwrap()) == bits(&cpu));
    // The backward's chunked reduction over 1M-element channels.
    let dy = common::uniform(&mut rng, n, -1.0, 1.0);
    let dyt = dev.tensor(&shape, &dy).unwrap();
    let (_, dw) = prelu::prelu_backward(&xt, &wt, &dyt).unwrap();
    let (_, want) = reference::prelu::prelu_backward(&x, &shape, &w, &dy);
    let chunks = (n / 4).div_ceil(2048) as f64;
    testing::compare(&dw.to_f32_vec().unwrap(), &want, DType::F32, 32.0 + chunks).unwrap();
    assert_eq!(
        prelu::prelu_backward_temp_bytes(&shape, 4),
        4 * 4 * (n / 4).div_ceil(2048) as u64
    );
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[2, 3, 4], &[0.5; 24]).unwrap();
    let shape_err = |e: Error, what: &str| {
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    let w2 = dev.tensor(&[2], &[0.25; 2]).unwrap();
    shape_err(prelu::prelu(&x, &w2).unwrap_err(), "2 parameters");
    let w_mat = dev.tensor(&[3, 1], &[0.25; 3]).unwrap();
    shape_err(prelu::prelu(&x, &w_mat).unwrap_err(), "1-D");
    let w16 = dev.upload_f32(&[3], DType::F16, &[0.25; 3]).unwrap();
    shape_err(prelu::prelu(&x, &w16).unwrap_err(), "dtype");
    let v = dev.tensor(&[3], &[0.5; 3]).unwrap();
    let w3 = dev.tensor(&[3], &[0.25; 3]).unwrap();
    shape_err(prelu::prelu(&v, &w3).unwrap_err(), "3 parameters");
    let dy = dev.tensor(&[2, 3, 5], &[0.5; 30]).unwrap();
    shape_err(
        prelu::prelu_backward(&x, &w3, &dy).unwrap_err(),
        "grad_output",
    );
    let ints = dev.tensor_i32(&[2, 3], &[1; 6]).unwrap();
    let e = prelu::prelu(&ints, &w3).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    dev.check().unwrap();

    let dev = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let x = dev.upload_f32(&[2, 2], DType::F16, &[1.0; 4]).unwrap();
    let w = dev.upload_f32(&[1], DType::F16, &[0.5]).unwrap();
    let e = prelu::prelu(&x, &w).unwrap_err();
    assert!(matches!(e, Error::MissingFeature { .. }), "{e}");
    assert!(
        Precision::for_dtype(&dev, DType::F16).unwrap() == Precision::F16Packed,
        "the device lacks shader-f16"
    );
}
