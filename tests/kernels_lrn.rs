//! Local response normalisation forward and backward at f32 and native f16,
//! against the f64 reference, over random shapes of rank 3 to 5 (including
//! one channel, windows wider than the channels, even windows with PyTorch's
//! and ONNX's centring) and random alpha, beta, k. Outputs are poisoned with
//! NaN before every run and every element is compared.
//!
//! Bounds (c·ε·scale, f16 through `storage_bound`):
//! - y: scale |y|, c = 2·size + 16: the sum of squares is of positive terms
//!   (relative error ≤ size·ε in s), `pow` adds a few ε, the division one.
//! - dx: scale |dy|/s^β + 2αβ/size·|x|·Σ|dy·x|/s^(β+1) (the two terms may
//!   cancel), c = 4·size + 32: each term carries the error of its scale.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::kernels::lrn::{self, LrnParams};
use weft::kernels::reference::RefOut;
use weft::kernels::{reference, testing};
use weft::{DType, Error};

fn random_case(rng: &mut ChaCha8Rng, i: usize) -> (Vec<usize>, LrnParams) {
    let special: [(&[usize], usize); 6] = [
        (&[1, 1, 1, 1], 5),
        (&[2, 3, 5, 5], 5),
        (&[1, 16, 7, 7], 4),
        (&[3, 6, 1, 1], 2),
        (&[1, 5, 9], 3),
        (&[2, 4, 3, 2, 2], 1),
    ];
    let alpha = rng.random_range(1e-4..2.0f32);
    let beta = rng.random_range(0.5..1.0f32);
    let k = rng.random_range(0.5..2.0f32);
    let (shape, size) = if i < special.len() {
        (special[i].0.to_vec(), special[i].1)
    } else {
        let rank = rng.random_range(3..6);
        let shape: Vec<usize> = (0..rank).map(|_| rng.random_range(1..10)).collect();
        (shape, rng.random_range(1..8))
    };
    let p = if i.is_multiple_of(2) {
        LrnParams::torch(size, alpha, beta, k)
    } else {
        LrnParams::onnx(size, alpha, beta, k)
    };
    (shape, p)
}

#[test]
fn lrn_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(61);
    let mut dtypes = vec![DType::F32];
    if dev.has(weft::device::Feature::ShaderF16) {
        dtypes.push(DType::F16);
    }
    let mut cases = 0;
    for &dtype in &dtypes {
        let (mut worst_y, mut worst_dx) = (0.0f64, 0.0f64);
        for i in 0..60 {
            let (shape, p) = random_case(&mut rng, i);
            let n: usize = shape.iter().product();
            let (channels, inner) = (shape[1], shape[2..].iter().product::<usize>());
            let x = common::values(&mut rng, n, dtype);
            let dy = common::values(&mut rng, n, dtype);
            let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let dy64: Vec<f64> = dy.iter().map(|&v| v as f64).collect();
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let dyt = dev.upload_f32(&shape, dtype, &dy).unwrap();
            let what = format!("{dtype} {shape:?} {p:?}");

            let y = testing::poisoned(&dev, &shape, dtype).unwrap();
            lrn::lrn_into(&xt, &p, &y).unwrap();
            let want = reference::lrn::lrn(&x64, channels, inner, &p);
            let mut r = RefOut::with_capacity(n);
            want.iter().for_each(|&v| r.push(v, v.abs()));
            let (r, c) = testing::storage_bound(&r, dtype, (2 * p.size + 16) as f64);
            worst_y = worst_y.max(common::check(&y.to_f32_vec().unwrap(), &r, dtype, c, &what));

            let dx = testing::poisoned(&dev, &shape, dtype).unwrap();
            lrn::lrn_backward_into(&xt, &dyt, &p, &dx).unwrap();
            let want = reference::lrn::lrn_backward(&x64, &dy64, channels, inner, &p);
            // The scale: the same formula with every term made positive.
            let ones: Vec<f64> = dy64.iter().map(|v| v.abs()).collect();
            let own: Vec<f64> = x64
                .iter()
                .zip(reference::lrn::lrn(&x64, channels, inner, &p))
                .zip(&ones)
                .map(|((&xv, yv), d)| if xv == 0.0 { *d } else { d * (yv / xv).abs() })
                .collect();
            let abs_x: Vec<f64> = x64.iter().map(|v| v.abs()).collect();
            let cross = reference::lrn::lrn_backward(&abs_x, &ones, channels, inner, &p);
            let mut r = RefOut::with_capacity(n);
            for k in 0..n {
                // own − cross is the reference's dx for |x|, |dy|: cross = own − that.
                let cross_term = (own[k] - cross[k]).abs();
                r.push(want[k], own[k] + cross_term);
            }
            let (r, c) = testing::storage_bound(&r, dtype, (4 * p.size + 32) as f64);
            worst_dx = worst_dx.max(common::check(
                &dx.to_f32_vec().unwrap(),
                &r,
                dtype,
                c,
                &what,
            ));
            cases += 1;
        }
        eprintln!("lrn {dtype}: worst y {worst_y:.2} eps, dx {worst_dx:.2} eps");
    }
    assert!(cases >= 60);
}

#[test]
fn lrn_rejects_bad_parameters_and_shapes() {
    let dev = common::device();
    let x = dev
        .upload_f32(&[1, 3, 2, 2], DType::F32, &[0.5; 12])
        .unwrap();
    let zero = LrnParams::torch(0, 1e-4, 0.75, 1.0);
    let e = lrn::lrn(&x, &zero).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert!(e.to_string().contains("size"), "{e}");
    let nan = LrnParams::torch(3, f32::NAN, 0.75, 1.0);
    assert!(
        lrn::lrn(&x, &nan)
            .unwrap_err()
            .to_string()
            .contains("alpha")
    );
    let flat = dev.upload_f32(&[4, 3], DType::F32, &[0.5; 12]).unwrap();
    let e = lrn::lrn(&flat, &LrnParams::torch(3, 1e-4, 0.75, 1.0)).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let dy = dev.upload_f32(&[1, 3, 4], DType::F32, &[0.5; 12]).unwrap();
    let e = lrn::lrn_backward(&x, &dy, &LrnParams::torch(3, 1e-4, 0.75, 1.0)).unwrap_err();
    assert!(e.to_string().contains("dy"), "{e}");
}
