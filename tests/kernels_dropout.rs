//! Dropout with a counter-based RNG (Philox-4x32-10): the GPU mask equals the
//! CPU reference's bit for bit; the same seed gives the same mask and another
//! seed another; keep fractions lie within 6σ of 1 − p for several p; and
//! `y == x · (mask / (1 − p))` bit for bit (one f32 product, rounded once to
//! the storage type: c = 0), forward and backward, at f32, native f16 and
//! packed f16, over at least 100 random shapes each. Outputs are poisoned with
//! NaN before every run and every element is compared.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::kernels::dropout::{self, keep_scale};
use weft::kernels::{Precision, reference, testing};
use weft::{DType, Error};

/// 100+ shapes: tiny and odd lengths (1, 2, 3, 5, 7, 13, 33, one past a
/// Philox block or a workgroup), then random ranks and sizes.
fn shapes(rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut v: Vec<Vec<usize>> = [1, 2, 3, 4, 5, 7, 13, 33, 255, 256, 257, 1023]
        .iter()
        .map(|&n| vec![n])
        .collect();
    v.push(vec![1, 3, 7, 7]);
    v.push(vec![2, 5, 13, 13]);
    while v.len() < 105 {
        let rank = rng.random_range(1..5);
        v.push((0..rank).map(|_| rng.random_range(1..20)).collect());
    }
    v
}

const PS: [f32; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

/// x · (mask / (1 − p)) in f32, rounded to `dtype`: what the kernels must give.
fn expected(x: &[f32], mask: &[f32], p: f32, dtype: DType) -> Vec<f32> {
    let s = keep_scale(p);
    let y: Vec<f32> = x
        .iter()
        .zip(mask)
        .map(|(&v, &m)| v * if m == 1.0 { s } else { 0.0 })
        .collect();
    testing::round_to(dtype, &y)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn mask_matches_reference_and_is_deterministic() {
    let dev = common::device();
    let mut rng = common::rng(0xd0d0);
    for (i, shape) in shapes(&mut rng).iter().enumerate() {
        let n: usize = shape.iter().product();
        let p = PS[i % PS.len()];
        let seed = rng.random::<u64>();
        let mask = dropout::dropout_mask(&dev, shape, p, seed).unwrap();
        let got = mask.to_f32_vec().unwrap();
        let want: Vec<f32> = reference::dropout::keep_mask(n, p, seed)
            .iter()
            .map(|&k| if k { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(got, want, "case {i} {shape:?} p = {p} seed = {seed}");
        let again = dropout::dropout_mask(&dev, shape, p, seed).unwrap();
        assert_eq!(again.to_f32_vec().unwrap(), got, "same seed, same mask");
    }
    // Another seed gives another mask: about 2p(1-p) of the decisions differ.
    let n = 100_000;
    for &p in &PS {
        let a = dropout::dropout_mask(&dev, &[n], p, 1).unwrap();
        let b = dropout::dropout_mask(&dev, &[n], p, 1 << 32).unwrap();
        let (a, b) = (a.to_f32_vec().unwrap(), b.to_f32_vec().unwrap());
        let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count() as f64 / n as f64;
        let expect = 2.0 * p as f64 * (1.0 - p as f64);
        assert!(
            (differ - expect).abs() < 0.01,
            "p = {p}: {differ} of decisions differ between seeds, expected {expect}"
        );
    }
}

#[test]
fn keep_fraction_within_statistical_bounds() {
    let dev = common::device();
    let n = 1_000_003;
    for (k, &p) in [0.01f32, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
        .iter()
        .enumerate()
    {
        for seed in [k as u64, 0xdead_beef_0000_0000 + k as u64] {
            let mask = dropout::dropout_mask(&dev, &[n], p, seed).unwrap();
            let kept = mask.to_f32_vec().unwrap().iter().sum::<f32>() as f64;
            let q = 1.0 - p as f64;
            let sigma = (q * (1.0 - q) / n as f64).sqrt();
            let frac = kept / n as f64;
            assert!(
                (frac - q).abs() < 6.0 * sigma,
                "p = {p} seed = {seed}: kept {frac}, expected {q} ± {}",
                6.0 * sigma
            );
            // Neighbouring elements are independent: the fraction of kept pairs
            // (i, i+1) is q² (a correlation across the four words of one Philox
            // block, or across blocks, would show here).
            let m = mask.to_f32_vec().unwrap();
            let pairs = m.windows(2).filter(|w| w[0] == 1.0 && w[1] == 1.0).count() as f64;
            let pf = pairs / (n - 1) as f64;
            let ps = (q * q * (1.0 - q * q) / n as f64).sqrt();
            assert!((pf - q * q).abs() < 6.0 * ps, "p = {p}: kept pairs {pf}");
        }
    }
}

#[test]
fn dropout_forward_and_backward_are_exact() {
    let dev = common::device();
    let mut rng = common::rng(0xd0d1);
    let all = shapes(&mut rng);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        for (i, shape) in all.iter().enumerate() {
            let n: usize = shape.iter().product();
            let p = PS[(i + 2) % PS.len()];
            let seed = rng.random::<u64>();
            let x = testing::round_to(dtype, &common::uniform(&mut rng, n, -100.0, 100.0));
            let xt = dev.upload_f32(shape, dtype, &x).unwrap();
            let y = testing::poisoned(&dev, shape, dtype).unwrap();
            dropout::dropout_into(&xt, p, seed, Some(precision), &y).unwrap();
            let mask = dropout::dropout_mask(&dev, shape, p, seed)
                .unwrap()
                .to_f32_vec()
                .unwrap();
            let want = expected(&x, &mask, p, dtype);
            let what = format!("{} case {i} {shape:?} p = {p}", precision.name());
            let got = y.to_f32_vec().unwrap();
            assert_eq!(bits(&got), bits(&want), "{what}");
            let r = reference::dropout::dropout(&x, p, seed);
            testing::compare(&got, &r, dtype, 1.0).unwrap_or_else(|e| panic!("{what}: {e}"));
            // The backward pass regenerates the same mask from the seed.
            let dy = testing::round_to(dtype, &common::uniform(&mut rng, n, -1.0, 1.0));
            let dyt = dev.upload_f32(shape, dtype, &dy).unwrap();
            let dx = testing::poisoned(&dev, shape, dtype).unwrap();
            dropout::dropout_into(&dyt, p, seed, Some(precision), &dx).unwrap();
            let want = expected(&dy, &mask, p, dtype);
            assert_eq!(
                bits(&dx.to_f32_vec().unwrap()),
                bits(&want),
                "{what} backward"
            );
            if precision != Precision::F16Packed {
                let dx = dropout::dropout_backward(&dyt, p, seed).unwrap();
                assert_eq!(bits(&dx.to_f32_vec().unwrap()), bits(&want), "{what}");
            }
        }
        eprintln!("dropout {}: {} shapes", precision.name(), all.len());
    }
}

#[test]
fn p_zero_copies() {
    let dev = common::device();
    let x = dev.tensor(&[5], &[1.0, -2.0, 3.5, f32::NAN, 0.0]).unwrap();
    let y = dropout::dropout(&x, 0.0, 7).unwrap();
    assert_eq!(
        bits(&y.to_f32_vec().unwrap()),
        bits(&x.to_f32_vec().unwrap())
    );
    let m = dropout::dropout_mask(&dev, &[5], 0.0, 7).unwrap();
    assert_eq!(m.to_f32_vec().unwrap(), [1.0; 5]);
}

#[test]
fn reference_matches_random123_and_passes_finite_differences() {
    assert_eq!(
        reference::dropout::philox4x32_10([0; 4], [0; 2]),
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
    );
    assert_eq!(
        reference::dropout::philox4x32_10(
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0]
        ),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
    // dropout is linear in x for a fixed mask: L = Σ dy · dropout(x) has
    // gradient dropout(dy).
    let mut rng = common::rng(0xd0d2);
    let n = 37;
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let dy: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let grad = reference::dropout::dropout(&dy, 0.3, 11).value;
    let loss = |x: &[f64]| -> f64 {
        reference::dropout::dropout(x, 0.3, 11)
            .value
            .iter()
            .zip(&dy)
            .map(|(a, b)| a * b)
            .sum()
    };
    let h = 1e-3;
    let mut xp = x.clone();
    for k in 0..n {
        xp[k] = x[k] + h;
        let up = loss(&xp);
        xp[k] = x[k] - h;
        let down = loss(&xp);
        xp[k] = x[k];
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - grad[k]).abs() < 1e-9,
            "element {k}: {fd} vs {}",
            grad[k]
        );
    }
}

#[test]
fn large_grid_folds() {
    // 16,777,223 elements: 65,537 workgroups of 64 invocations x 4 elements.
    let dev = common::device();
    let mut rng = common::rng(0xd0d3);
    let n = 65_536 * 256 + 7;
    let x = common::uniform(&mut rng, n, -1.0, 1.0);
    let xt = dev.tensor(&[n], &x).unwrap();
    let y = testing::poisoned(&dev, &[n], DType::F32).unwrap();
    dropout::dropout_into(&xt, 0.5, 99, None, &y).unwrap();
    let keep = reference::dropout::keep_mask(n, 0.5, 99);
    let mask: Vec<f32> = keep.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
    assert!(bits(&y.to_f32_vec().unwrap()) == bits(&expected(&x, &mask, 0.5, DType::F32)));
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[4], &[1.0; 4]).unwrap();
    for p in [1.0, 1.5, -0.1, f32::NAN, f32::INFINITY] {
        let e = dropout::dropout(&x, p, 0).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        assert!(e.to_string().contains("[0, 1)"), "{e}");
        let e = dropout::dropout_mask(&dev, &[4], p, 0).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    }
    let ints = dev.tensor_i32(&[4], &[1; 4]).unwrap();
    let e = dropout::dropout(&ints, 0.5, 0).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let out = dev.empty(&[5], DType::F32).unwrap();
    let e = dropout::dropout_into(&x, 0.5, 0, None, &out).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    dev.check().unwrap();
}
