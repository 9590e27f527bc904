//! Upsampling: `upsample2d` (nearest, bilinear with and without
//! align_corners; up- and downsampling) at every precision and its gradient
//! (f32, native f16), against the f64 references over at least 100 random
//! problems each (N = 1, 1×1 images, equal sizes, output size 1, odd sizes
//! 7/13/33, channels not multiples of 4). Outputs are poisoned with NaN before
//! every run and every element is compared.
//!
//! Bounds (|gpu − ref| ≤ c·ε·scale, ε of the storage type):
//! - nearest forward: exact (c = 0): the kernel picks PyTorch's source pixel
//!   with the same f32 product and copies it.
//! - bilinear forward: c = 8. Four products and three sums in f32 err by at
//!   most 4ε·Σ|w·x|; the f32 source coordinate's rounding is covered by the
//!   reference's coordinate term (see `reference::upsample`), which c = 8
//!   over-covers fourfold. f16: the final rounding (½ ulp) dominates.
//! - gradients: c = Tₕ + T_w + 8, with Tₕ = 2·⌈OH/IH⌉ + 2 (and T_w likewise)
//!   bounding the outputs per input row (column) whose terms the kernel sums
//!   (a row sum nested in a column sum: error ≤ (Tₕ + T_w)·ε·Σ|w·dy|), plus
//!   the bilinear terms as above.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature};
use weft::kernels::reference::{self};
use weft::kernels::upsample::{self, UpsampleMode};
use weft::kernels::{Precision, testing};
use weft::{DType, Device, Error};

const MODES: [UpsampleMode; 3] = [
    UpsampleMode::Nearest,
    UpsampleMode::Bilinear {
        align_corners: false,
    },
    UpsampleMode::Bilinear {
        align_corners: true,
    },
];

fn mode_name(mode: UpsampleMode) -> &'static str {
    match mode {
        UpsampleMode::Nearest => "nearest",
        UpsampleMode::Bilinear {
            align_corners: false,
        } => "bilinear",
        UpsampleMode::Bilinear {
            align_corners: true,
        } => "bilinear_align_corners",
    }
}

/// Input shape and output size; the first cases are the awkward ones.
fn random_case(rng: &mut ChaCha8Rng, i: usize) -> ([usize; 4], [usize; 2]) {
    const SPECIAL: [([usize; 4], [usize; 2]); 10] = [
        ([1, 1, 1, 1], [1, 1]),
        ([1, 1, 1, 1], [7, 13]),
        ([1, 3, 7, 7], [33, 33]),
        ([2, 5, 13, 7], [13, 7]),
        ([1, 2, 33, 33], [7, 13]),
        ([1, 3, 8, 8], [16, 16]),
        ([3, 1, 5, 9], [1, 1]),
        ([1, 6, 2, 3], [1, 7]),
        ([1, 7, 13, 13], [26, 39]),
        ([2, 3, 4, 5], [9, 2]),
    ];
    if i < SPECIAL.len() {
        return SPECIAL[i];
    }
    let size = |rng: &mut ChaCha8Rng| match rng.random_range(0..5) {
        0 => [1, 7, 13, 33][rng.random_range(0..4)],
        _ => rng.random_range(1..20),
    };
    let shape = [
        rng.random_range(1..4),
        rng.random_range(1..7),
        size(rng),
        size(rng),
    ];
    let out = [size(rng), size(rng)];
    (shape, out)
}

fn grad_bound(shape: [usize; 4], out: [usize; 2]) -> f64 {
    let t = |o: usize, i: usize| 2.0 * o.div_ceil(i) as f64 + 2.0;
    t(out[0], shape[2]) + t(out[1], shape[3]) + 8.0
}

#[test]
fn forward_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x5a01);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        for mode in MODES {
            let mut worst = 0.0f64;
            for i in 0..110 {
                let (shape, out_hw) = random_case(&mut rng, i);
                let x = common::values(&mut rng, shape.iter().product(), dtype);
                let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
                let out =
                    testing::poisoned(&dev, &[shape[0], shape[1], out_hw[0], out_hw[1]], dtype)
                        .unwrap();
                upsample::upsample2d_into(&xt, mode, Some(precision), &out).unwrap();
                let want = reference::upsample::upsample2d(&x, shape, out_hw, mode, dtype);
                let c = if mode == UpsampleMode::Nearest {
                    0.0
                } else {
                    8.0
                };
                let what = format!(
                    "{} {} case {i} {shape:?} -> {out_hw:?}",
                    mode_name(mode),
                    precision.name()
                );
                worst = worst.max(common::check(
                    &out.to_f32_vec().unwrap(),
                    &want,
                    dtype,
                    c,
                    &what,
                ));
            }
            eprintln!(
                "{} {}: 110 shapes, worst {worst:.3} eps*scale",
                mode_name(mode),
                precision.name()
            );
        }
    }
}

#[test]
fn backward_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x5a02);
    for precision in [Precision::F32, Precision::F16] {
        if precision == Precision::F16 && !dev.has(Feature::ShaderF16) {
            continue;
        }
        let dtype = precision.dtype();
        for mode in MODES {
            let mut worst = 0.0f64;
            for i in 0..110 {
                let (shape, out_hw) = random_case(&mut rng, i);
                let oshape = [shape[0], shape[1], out_hw[0], out_hw[1]];
                let dy = common::values(&mut rng, oshape.iter().product(), dtype);
                let dyt = dev.upload_f32(&oshape, dtype, &dy).unwrap();
                let dx = testing::poisoned(&dev, &shape, dtype).unwrap();
                upsample::upsample2d_backward_into(&dyt, mode, &dx).unwrap();
                let want =
                    reference::upsample::upsample2d_backward(&dy, shape, out_hw, mode, dtype);
                let what = format!(
                    "{} backward {} case {i} {shape:?} -> {out_hw:?}",
                    mode_name(mode),
                    precision.name()
                );
                let got = dx.to_f32_vec().unwrap();
                worst = worst.max(common::check(
                    &got,
                    &want,
                    dtype,
                    grad_bound(shape, out_hw),
                    &what,
                ));
                if i % 10 == 0 {
                    let again = upsample::upsample2d_backward(&dyt, shape, mode).unwrap();
                    let again = again.to_f32_vec().unwrap();
                    assert!(
                        got.iter()
                            .zip(&again)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{what}: not deterministic"
                    );
                }
            }
            eprintln!(
                "{} backward {}: 110 shapes, worst {worst:.3} eps*scale",
                mode_name(mode),
                precision.name()
            );
        }
    }
}

/// Scale factors (`F.interpolate(scale_factor=...)`): the output is
/// `floor(len·f)` and coordinates map by `1/f`, not by the sizes' ratio;
/// equal and doubled sizes take PyTorch's exact paths. Forward and gradient
/// against the references at the bounds above, and the gradient reference
/// itself against finite differences.
#[test]
fn scale_factors_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x5a05);
    // Factors whose 1/f is not in/out, equal and doubled sizes from
    // non-unit and non-2 factors (4·1.2 → 4, 10·2.05 → 20), shrinking.
    let special: [([usize; 4], [f64; 2]); 5] = [
        ([1, 2, 4, 10], [1.2, 2.05]),
        ([2, 1, 7, 5], [1.5, 2.5]),
        ([1, 3, 9, 13], [0.6, 0.35]),
        ([1, 1, 3, 3], [3.3, 1.7]),
        ([1, 2, 13, 7], [2.0, 3.0]),
    ];
    for mode in MODES {
        let mut worst = 0.0f64;
        for i in 0..60 {
            let (shape, factors) = special.get(i).copied().unwrap_or_else(|| {
                let f = |rng: &mut ChaCha8Rng| rng.random_range(20..400) as f64 / 100.0;
                let s = [
                    1,
                    rng.random_range(1..4),
                    rng.random_range(1..14),
                    rng.random_range(1..14),
                ];
                (s, [f(&mut rng), f(&mut rng)])
            });
            let out_hw = [
                (shape[2] as f64 * factors[0]).floor() as usize,
                (shape[3] as f64 * factors[1]).floor() as usize,
            ];
            let what = format!("{} {shape:?} by {factors:?}", mode_name(mode));
            let x = common::values(&mut rng, shape.iter().product(), DType::F32);
            let xt = dev.tensor(&shape, &x).unwrap();
            let y = upsample::upsample2d_by(&xt, factors, mode, None);
            if out_hw.contains(&0) {
                let err = y.unwrap_err().to_string();
                assert!(err.contains("scale_factor"), "{what}: {err}");
                continue;
            }
            let y = y.unwrap();
            assert_eq!(
                y.shape(),
                [shape[0], shape[1], out_hw[0], out_hw[1]],
                "{what}"
            );
            let want = reference::upsample::upsample2d_scaled(
                &x,
                shape,
                out_hw,
                mode,
                Some(factors),
                DType::F32,
            );
            let c = if mode == UpsampleMode::Nearest {
                0.0
            } else {
                8.0
            };
            worst = worst.max(common::check(
                &y.to_f32_vec().unwrap(),
                &want,
                DType::F32,
                c,
                &what,
            ));
            let oshape = [shape[0], shape[1], out_hw[0], out_hw[1]];
            let dy = common::values(&mut rng, oshape.iter().product(), DType::F32);
            let dyt = dev.tensor(&oshape, &dy).unwrap();
            let dx = testing::poisoned(&dev, &shape, DType::F32).unwrap();
            upsample::upsample2d_backward_scaled_into(&dyt, mode, Some(factors), &dx).unwrap();
            let want = reference::upsample::upsample2d_backward_scaled(
                &dy,
                shape,
                out_hw,
                mode,
                Some(factors),
                DType::F32,
            );
            let bound = grad_bound(shape, out_hw);
            worst = worst.max(common::check(
                &dx.to_f32_vec().unwrap(),
                &want,
                DType::F32,
                bound,
                &what,
            ));
            // The gradient reference is the forward reference's adjoint.
            let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let loss = |x: &[f64]| -> f64 {
                let y = reference::upsample::upsample2d_scaled(
                    x,
                    shape,
                    out_hw,
                    mode,
                    Some(factors),
                    DType::F32,
                );
                y.value.iter().zip(&dy).map(|(a, &b)| a * b as f64).sum()
            };
            let mut xp = xd.clone();
            for k in (0..xd.len()).step_by(3) {
                xp[k] = xd[k] + 1e-4;
                let up = loss(&xp);
                xp[k] = xd[k] - 1e-4;
                let down = loss(&xp);
                xp[k] = xd[k];
                let fd = (up - down) / 2e-4;
                assert!(
                    (fd - want.value[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{what} [{k}]: {fd} vs {}",
                    want.value[k]
                );
            }
        }
        eprintln!(
            "{} by factors: 60 problems, worst {worst:.3} eps*scale",
            mode_name(mode)
        );
    }
    // PyTorch: F.interpolate(torch.tensor([[[[1., 2., 3., 4.]]]]), scale_factor=(1, 1.2))
    // keeps the size and copies; scale_factor=(1, 1.5) → 6 values from
    // floor(i / 1.5).
    let x = dev.tensor(&[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    let run = |f: f64| {
        upsample::upsample2d_by(&x, [1.0, f], UpsampleMode::Nearest, None)
            .unwrap()
            .to_f32_vec()
            .unwrap()
    };
    assert_eq!(run(1.2), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(run(1.5), [1.0, 1.0, 2.0, 3.0, 3.0, 4.0]);
}

#[test]
fn known_pytorch_values() {
    let dev = common::device();
    let x = dev.tensor(&[1, 1, 1, 2], &[1.0, 2.0]).unwrap();
    let run = |mode, w| {
        upsample::upsample2d(&x, [1, w], mode, None)
            .unwrap()
            .to_f32_vec()
            .unwrap()
    };
    // F.interpolate(torch.tensor([[[[1., 2.]]]]), size=(1, w), mode=...).
    assert_eq!(run(UpsampleMode::Nearest, 3), [1.0, 1.0, 2.0]);
    assert_eq!(run(UpsampleMode::Nearest, 5), [1.0, 1.0, 1.0, 2.0, 2.0]);
    assert_eq!(
        run(
            UpsampleMode::Bilinear {
                align_corners: false
            },
            4
        ),
        [1.0, 1.25, 1.75, 2.0]
    );
    assert_eq!(
        run(
            UpsampleMode::Bilinear {
                align_corners: true
            },
            3
        ),
        [1.0, 1.5, 2.0]
    );
}

#[test]
fn large_grid_folds() {
    // 2048 x 2064 outputs: 66,048 workgroups of 64, past one dimension's limit.
    let dev = common::device();
    let mut rng = common::rng(0x5a03);
    let shape = [1, 1, 16, 16];
    let x = common::values(&mut rng, 256, DType::F32);
    let xt = dev.tensor(&shape, &x).unwrap();
    for mode in [UpsampleMode::Nearest, MODES[1]] {
        let out = testing::poisoned(&dev, &[1, 1, 2048, 2064], DType::F32).unwrap();
        upsample::upsample2d_into(&xt, mode, None, &out).unwrap();
        let want = reference::upsample::upsample2d(&x, shape, [2048, 2064], mode, DType::F32);
        common::check(&out.to_f32_vec().unwrap(), &want, DType::F32, 8.0, "large");
    }
}

#[test]
fn gradient_references_pass_finite_differences() {
    let mut rng = common::rng(0x5a04);
    for i in 0..40 {
        let (mut shape, out_hw) = random_case(&mut rng, i);
        shape[0] = 1;
        shape[1] = shape[1].min(2);
        let n: usize = shape.iter().product();
        let x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let m = shape[0] * shape[1] * out_hw[0] * out_hw[1];
        let dy: Vec<f64> = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
        for mode in MODES {
            let f = |x: &[f64]| {
                reference::upsample::upsample2d(x, shape, out_hw, mode, DType::F32).value
            };
            let grad =
                reference::upsample::upsample2d_backward(&dy, shape, out_hw, mode, DType::F32);
            let loss = |x: &[f64]| -> f64 { f(x).iter().zip(&dy).map(|(a, b)| a * b).sum() };
            let h = 1e-4;
            let mut xp = x.clone();
            for k in 0..n {
                xp[k] = x[k] + h;
                let up = loss(&xp);
                xp[k] = x[k] - h;
                let down = loss(&xp);
                xp[k] = x[k];
                let fd = (up - down) / (2.0 * h);
                assert!(
                    (fd - grad.value[k]).abs() <= 1e-8 * (1.0 + fd.abs()),
                    "{} case {i} {shape:?} -> {out_hw:?} element {k}: fd {fd}, gradient {}",
                    mode_name(mode),
                    grad.value[k]
                );
            }
        }
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[1, 2, 3, 3], &[0.5; 18]).unwrap();
    let e = upsample::upsample2d(&x, [0, 4], UpsampleMode::Nearest, None).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let flat = dev.tensor(&[18], &[0.5; 18]).unwrap();
    let e = upsample::upsample2d(&flat, [4, 4], UpsampleMode::Nearest, None).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let ints = dev.tensor_i32(&[1, 1, 2, 2], &[1; 4]).unwrap();
    let e = upsample::upsample2d(&ints, [4, 4], UpsampleMode::Nearest, None).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let out = dev.empty(&[1, 3, 6, 6], DType::F32).unwrap();
    let e = upsample::upsample2d_into(&x, UpsampleMode::Nearest, None, &out).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let dy = dev.tensor(&[1, 2, 6, 6], &[0.5; 72]).unwrap();
    let e = upsample::upsample2d_backward(&dy, [2, 2, 3, 3], UpsampleMode::Nearest).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = upsample::upsample2d_backward(&dy, [1, 2, 0, 3], UpsampleMode::Nearest).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = upsample::upsample2d(
        &x,
        [4, 4],
        UpsampleMode::Nearest,
        Some(Precision::F16Packed),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    dev.check().unwrap();

    // Without shader-f16: the forward pass runs packed, the backward refuses.
    let dev = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let h = dev
        .upload_f32(&[1, 1, 1, 2], DType::F16, &[1.0, 2.0])
        .unwrap();
    let y = upsample::upsample2d(&h, [1, 4], MODES[1], None).unwrap();
    assert_eq!(y.to_f32_vec().unwrap(), [1.0, 1.25, 1.75, 2.0]);
    let e = upsample::upsample2d_backward(&y, [1, 1, 1, 2], MODES[1]).unwrap_err();
    assert!(matches!(e, Error::MissingFeature { .. }), "{e}");
}
