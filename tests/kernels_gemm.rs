//! GEMM: every variant at every precision against the f64 reference, over 120
//! random shapes each (awkward sizes, transposes, broadcast batches, bias modes,
//! fused activations), outputs poisoned with NaN before every run.
//!
//! Bound: |gpu − ref| ≤ c·ε·Σ|aᵢbᵢ| with ε of the storage type. f32: c = 2·√K + 4
//! (f32 accumulation of K terms, errors growing like √K); f16: c = 2 (inputs
//! are the f16-rounded values the kernel reads, so what remains is rounding the
//! f32 result to f16, at most ½ ulp, plus the f32 accumulation).

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::kernels::gemm::{self, BiasMode, GemmDims, GemmSpec, GemmVariant};
use weft::kernels::{Activation, Precision, reference, testing};
use weft::{DType, Device, Error};

#[derive(Debug, Clone)]
struct Case {
    a_shape: Vec<usize>,
    b_shape: Vec<usize>,
    spec: GemmSpec,
}

/// A random problem; `row_major_aligned` restricts it to what the vec4 variants
/// accept (no transposes, K and N multiples of 4).
fn random_case(rng: &mut ChaCha8Rng, i: usize, row_major_aligned: bool) -> Case {
    const SPECIAL: [(usize, usize, usize); 10] = [
        (1, 1, 1),
        (7, 13, 33),
        (13, 7, 1),
        (33, 33, 33),
        (1, 64, 7),
        (64, 1, 9),
        (4, 4, 4),
        (17, 65, 16),
        (128, 12, 20),
        (3, 200, 5),
    ];
    let (m, n, k) = if i < SPECIAL.len() {
        SPECIAL[i]
    } else {
        let dim = |rng: &mut ChaCha8Rng| {
            if rng.random_bool(0.3) {
                4 * rng.random_range(1..24)
            } else {
                rng.random_range(1..90)
            }
        };
        (dim(rng), dim(rng), dim(rng))
    };
    let (n, k) = if row_major_aligned {
        (n.div_ceil(4) * 4, k.div_ceil(4) * 4)
    } else {
        (n, k)
    };
    let trans_a = !row_major_aligned && i >= SPECIAL.len() && rng.random_bool(0.3);
    let trans_b = !row_major_aligned && i >= SPECIAL.len() && rng.random_bool(0.3);
    let batch = if rng.random_bool(0.3) {
        rng.random_range(1..4)
    } else {
        0
    };
    let a2 = if trans_a { vec![k, m] } else { vec![m, k] };
    let b2 = if trans_b { vec![n, k] } else { vec![k, n] };
    let with_batch = |s: Vec<usize>, shared: bool| -> Vec<usize> {
        if batch == 0 || shared {
            s
        } else {
            [vec![batch], s].concat()
        }
    };
    // A batched GEMM may share one operand across the batch (weights).
    let share = rng.random_range(0..3);
    let a_shape = with_batch(a2, share == 1);
    let b_shape = with_batch(b2, share == 2);
    let bias = match rng.random_range(0..3) {
        0 => BiasMode::None,
        1 => BiasMode::PerRow,
        _ => BiasMode::PerColumn,
    };
    // Fusion is tested on a few activations (every one is a separate pipeline);
    // the elementwise suite covers each activation's numerics.
    let activation = [Activation::None, Activation::Relu, Activation::Gelu][rng.random_range(0..3)];
    Case {
        a_shape,
        b_shape,
        spec: GemmSpec {
            trans_a,
            trans_b,
            bias,
            activation,
            ..Default::default()
        },
    }
}

fn run_case(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    case: &Case,
    variant: GemmVariant,
    precision: Precision,
) -> Result<Option<f64>, String> {
    let dtype = precision.dtype();
    let dims = GemmDims::infer(
        &case.a_shape,
        &case.b_shape,
        case.spec.trans_a,
        case.spec.trans_b,
    )
    .unwrap();
    if variant.unsupported(dev, &dims, precision).is_some() {
        return Ok(None);
    }
    let na: usize = case.a_shape.iter().product();
    let nb: usize = case.b_shape.iter().product();
    let a = testing::round_to(dtype, &common::uniform(rng, na, -1.0, 1.0));
    let b = testing::round_to(dtype, &common::uniform(rng, nb, -1.0, 1.0));
    let bias_len = match case.spec.bias {
        BiasMode::None => 0,
        BiasMode::PerRow => dims.m,
        BiasMode::PerColumn => dims.n,
    };
    let bias = testing::round_to(dtype, &common::uniform(rng, bias_len, -1.0, 1.0));
    let at = dev.upload_f32(&case.a_shape, dtype, &a).unwrap();
    let bt = dev.upload_f32(&case.b_shape, dtype, &b).unwrap();
    let biast = (bias_len > 0).then(|| dev.upload_f32(&[bias_len], dtype, &bias).unwrap());
    let out = testing::poisoned(dev, &dims.out_shape(), dtype).unwrap();
    let spec = GemmSpec {
        variant: Some(variant),
        precision: Some(precision),
        ..case.spec
    };
    gemm::gemm_into(&at, &bt, biast.as_ref(), &spec, &out).map_err(|e| e.to_string())?;
    let got = out.to_f32_vec().unwrap();
    let want = reference::gemm::gemm(
        &dims,
        &a,
        &b,
        biast.as_ref().map(|_| &bias[..]),
        case.spec.bias,
        case.spec.activation,
    );
    let c = match dtype {
        DType::F16 => 2.0,
        _ => 2.0 * (dims.k as f64).sqrt() + 4.0,
    };
    testing::compare(&got, &want, dtype, c).map(|r| Some(r.max_err_eps))
}

fn check_variant(variant: GemmVariant, precision: Precision) {
    let dev = common::device();
    if precision == Precision::F16 && !dev.has(weft::device::Feature::ShaderF16) {
        eprintln!("adapter has no shader-f16; skipping native f16");
        return;
    }
    let mut rng = common::rng(0x6e33);
    let mut ran = 0;
    let mut worst = 0.0f64;
    for i in 0..120 {
        let aligned = matches!(variant, GemmVariant::Vec4x8x8 | GemmVariant::Vec4x16x16);
        let case = random_case(&mut rng, i, aligned);
        match run_case(&dev, &mut rng, &case, variant, precision) {
            Ok(Some(e)) => {
                ran += 1;
                worst = worst.max(e);
            }
            Ok(None) => {}
            Err(msg) => panic!(
                "{} {} case {i} {case:?}:\n{msg}",
                variant.name(),
                precision.name()
            ),
        }
    }
    eprintln!(
        "{} {}: {ran} shapes, worst error {worst:.2} eps*scale",
        variant.name(),
        precision.name()
    );
    assert!(ran >= 100, "only {ran} shapes were supported");
}

#[test]
fn naive_f32() {
    check_variant(GemmVariant::Naive, Precision::F32)
}
#[test]
fn naive_f16() {
    check_variant(GemmVariant::Naive, Precision::F16)
}
#[test]
fn tiled_f32() {
    check_variant(GemmVariant::Tiled, Precision::F32)
}
#[test]
fn tiled_f16() {
    check_variant(GemmVariant::Tiled, Precision::F16)
}
#[test]
fn register_4x4_f32() {
    check_variant(GemmVariant::Register4x4, Precision::F32)
}
#[test]
fn register_4x4_f16() {
    check_variant(GemmVariant::Register4x4, Precision::F16)
}
#[test]
fn register_8x8_f32() {
    check_variant(GemmVariant::Register8x8, Precision::F32)
}
#[test]
fn register_8x8_f16() {
    check_variant(GemmVariant::Register8x8, Precision::F16)
}
#[test]
fn vec4_8x8_f32() {
    check_variant(GemmVariant::Vec4x8x8, Precision::F32)
}
#[test]
fn vec4_8x8_f16() {
    check_variant(GemmVariant::Vec4x8x8, Precision::F16)
}
#[test]
fn vec4_16x16_f32() {
    check_variant(GemmVariant::Vec4x16x16, Precision::F32)
}
#[test]
fn vec4_16x16_f16() {
    check_variant(GemmVariant::Vec4x16x16, Precision::F16)
}
#[test]
fn subgroup_f32() {
    check_variant(GemmVariant::Subgroup, Precision::F32)
}
#[test]
fn subgroup_f16() {
    check_variant(GemmVariant::Subgroup, Precision::F16)
}
#[test]
fn packed_pairs_f16() {
    check_variant(GemmVariant::PackedPairs, Precision::F16Packed)
}

#[test]
fn large_grid_folds() {
    // 1 x 1 x (70,000 x 16) outputs: more naive workgroups than one dimension holds.
    let dev = common::device();
    let mut rng = common::rng(9);
    let (m, n, k) = (16 * 4500, 16 * 16, 3);
    let a = common::uniform(&mut rng, m * k, -1.0, 1.0);
    let b = common::uniform(&mut rng, k * n, -1.0, 1.0);
    let at = dev.tensor(&[m, k], &a).unwrap();
    let bt = dev.tensor(&[k, n], &b).unwrap();
    let dims = GemmDims::infer(&[m, k], &[k, n], false, false).unwrap();
    let out = testing::poisoned(&dev, &[m, n], DType::F32).unwrap();
    let spec = GemmSpec {
        variant: Some(GemmVariant::Naive),
        ..Default::default()
    };
    gemm::gemm_into(&at, &bt, None, &spec, &out).unwrap();
    let want = reference::gemm::gemm(&dims, &a, &b, None, BiasMode::None, Activation::None);
    testing::compare(&out.to_f32_vec().unwrap(), &want, DType::F32, 8.0).unwrap();
}

#[test]
fn bad_shapes_are_typed_errors() {
    let dev = common::device();
    let a = dev.tensor(&[2, 3], &[0.5; 6]).unwrap();
    let b = dev.tensor(&[4, 5], &[0.5; 20]).unwrap();
    let err = gemm::gemm(&a, &b, None, &GemmSpec::default()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(
        err.to_string().contains("K = 3") && err.to_string().contains("K = 4"),
        "{err}"
    );

    let b = dev.tensor(&[3, 5], &[0.5; 15]).unwrap();
    let bias = dev.tensor(&[4], &[0.0; 4]).unwrap();
    let spec = GemmSpec {
        bias: BiasMode::PerColumn,
        ..Default::default()
    };
    let err = gemm::gemm(&a, &b, Some(&bias), &spec).unwrap_err();
    assert!(err.to_string().contains("expected [5]"), "{err}");

    let spec = GemmSpec {
        variant: Some(GemmVariant::Vec4x8x8),
        ..Default::default()
    };
    let err = gemm::gemm(&a, &b, None, &spec).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("multiples of 4"), "{err}");
    dev.check().unwrap();
}
