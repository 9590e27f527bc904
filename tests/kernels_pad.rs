//! Padding: constant (with crops), reflect and edge over 120 random shapes
//! and pads per precision, forward bit exact (the constant rounded to the
//! storage type), the gradient gathered by the kernel against the f64
//! reference's scatter (c = `common::sum_bound` of the most outputs one
//! input collects, on Σ|terms|), and PyTorch's argument errors.

mod common;

use rand::Rng;
use weft::DType;
use weft::device::Feature;
use weft::kernels::pad::{self, PadMode};
use weft::kernels::{reference, testing};

#[test]
fn padding_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x9ad);
    let mut dtypes = vec![DType::F32];
    if dev.has(Feature::ShaderF16) {
        dtypes.push(DType::F16);
    }
    for dtype in dtypes {
        let mut worst = 0.0f64;
        for i in 0..120 {
            let (n, c) = (rng.random_range(1..3), rng.random_range(1..4));
            let (h, w): (usize, usize) = (rng.random_range(1..12), rng.random_range(1..12));
            let mode = match i % 3 {
                0 => PadMode::Constant([0.0, 1.5, -2.25][i % 9 / 3]),
                1 => PadMode::Reflect,
                _ => PadMode::Edge,
            };
            let pad = |rng: &mut rand_chacha::ChaCha8Rng, size: usize| -> i64 {
                match mode {
                    PadMode::Reflect => rng.random_range(0..size as i64),
                    PadMode::Edge => rng.random_range(0..6),
                    // Crops too, leaving at least one pixel overall.
                    PadMode::Constant(_) => rng.random_range(-((size as i64 - 1) / 2)..5),
                }
            };
            let pads = [
                pad(&mut rng, h),
                pad(&mut rng, h),
                pad(&mut rng, w),
                pad(&mut rng, w),
            ];
            let shape = [n, c, h, w];
            let x = common::values(&mut rng, n * c * h * w, dtype);
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let y = pad::pad2d(&xt, pads, mode).unwrap();
            let out_hw = [y.dim(2), y.dim(3)];
            assert_eq!(
                out_hw,
                [
                    (h as i64 + pads[0] + pads[1]) as usize,
                    (w as i64 + pads[2] + pads[3]) as usize
                ]
            );
            let want = reference::pad::pad2d(&x, shape, out_hw, pads, mode);
            let what = format!("pad {dtype} case {i} {shape:?} {pads:?} {mode:?}");
            let got = y.to_f32_vec().unwrap();
            for (k, (&g, &v)) in got.iter().zip(&want.value).enumerate() {
                let v = testing::round_to(dtype, &[v as f32])[0];
                assert_eq!(g.to_bits(), v.to_bits(), "{what}: element {k}");
            }

            let dy = common::values(&mut rng, n * c * out_hw[0] * out_hw[1], dtype);
            let dyt = dev
                .upload_f32(&[n, c, out_hw[0], out_hw[1]], dtype, &dy)
                .unwrap();
            let dx = pad::pad2d_backward(&dyt, shape, pads, mode).unwrap();
            let want = reference::pad::pad2d_backward(&dy, shape, out_hw, pads, mode);
            // An edge pixel collects its whole margin: up to (pad + 1)² terms.
            let terms = (pads.iter().map(|&p| p.max(0)).max().unwrap() as usize + 1).pow(2);
            let (bound, k) =
                testing::storage_bound(&want, dtype, common::sum_bound(DType::F32, terms));
            let got = dx.to_f32_vec().unwrap();
            testing::compare(&got, &bound, dtype, k)
                .unwrap_or_else(|e| panic!("{what} backward:\n{e}"));
            worst = worst.max(common::bound_used(&got, &bound, dtype, k));
        }
        eprintln!("pad2d {dtype}: 120 cases, backward worst share of the bound {worst:.3}");
    }
    let x = dev.tensor(&[1, 1, 3, 4], &[0.0; 12]).unwrap();
    let err = pad::pad2d(&x, [3, 0, 0, 0], PadMode::Reflect)
        .unwrap_err()
        .to_string();
    assert!(err.contains("smaller than the dimension"), "{err}");
    let err = pad::pad2d(&x, [-1, 0, 0, 0], PadMode::Edge)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot crop"), "{err}");
    let err = pad::pad2d(&x, [-2, -1, 0, 0], PadMode::Constant(0.0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("to nothing"), "{err}");
}
