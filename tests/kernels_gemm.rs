//! GEMM: every row of `gemm::TABLE` at every precision it has, against the f64
//! reference, over 120 random problems each that it accepts (awkward sizes,
//! transposes, broadcast batches, bias modes, fused activations), outputs
//! poisoned with NaN before every run.
//!
//! Bound: |gpu − ref| ≤ c·ε·Σ|aᵢbᵢ| with ε of the storage type. f32: c = 2·√K + 4
//! (f32 accumulation of K terms, errors growing like √K); f16: c = 2 (inputs
//! are the f16-rounded values the kernel reads, so what remains is rounding the
//! f32 result to f16, at most ½ ulp, plus the f32 accumulation).

mod common;

use common::sweep::Counts;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::kernels::gemm::{self, BiasMode, GemmDims, GemmProblem, GemmSpec, GemmVariant};
use weft::kernels::{Activation, Precision, reference, testing};
use weft::{DType, Device, Error};

#[derive(Debug, Clone)]
struct Case {
    a_shape: Vec<usize>,
    b_shape: Vec<usize>,
    spec: GemmSpec,
}

/// Which layouts a random problem may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layouts {
    /// Any transposes, any sizes.
    Any,
    /// What the vec4 rows accept: no transposes, K and N multiples of 4.
    RowMajorAligned,
    /// What the NT row accepts: B transposed (x·Wᵀ), K a multiple of 4.
    TransposedBAligned,
}

/// A random problem of the given layouts; the first few are hand-picked sizes.
fn random_case(rng: &mut ChaCha8Rng, i: usize, layouts: Layouts) -> Case {
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
    let (n, k, trans_a, trans_b) = match layouts {
        Layouts::RowMajorAligned => (n.div_ceil(4) * 4, k.div_ceil(4) * 4, false, false),
        Layouts::TransposedBAligned => (n, k.div_ceil(4) * 4, false, true),
        Layouts::Any => {
            let special = i < SPECIAL.len();
            (
                n,
                k,
                !special && rng.random_bool(0.3),
                !special && rng.random_bool(0.3),
            )
        }
    };
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

/// Runs `variant` on one problem and compares it with the reference.
fn run_case(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    case: &Case,
    variant: &'static GemmVariant,
    precision: Precision,
) -> Result<f64, String> {
    let dtype = precision.dtype();
    let dims = dims(case);
    let (a, at) = common::upload(dev, rng, &case.a_shape, dtype);
    let (b, bt) = common::upload(dev, rng, &case.b_shape, dtype);
    let bias_len = match case.spec.bias {
        BiasMode::None => 0,
        BiasMode::PerRow => dims.m,
        BiasMode::PerColumn => dims.n,
    };
    let bias = testing::round_to(dtype, &common::uniform(rng, bias_len, -1.0, 1.0));
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
    let c = common::sum_bound(dtype, dims.k);
    testing::compare(&got, &want, dtype, c).map(|r| r.max_err_eps)
}

fn dims(case: &Case) -> GemmDims {
    GemmDims::infer(
        &case.a_shape,
        &case.b_shape,
        case.spec.trans_a,
        case.spec.trans_b,
    )
    .unwrap()
}

/// 120 problems of any layout, then 120 that the vec4 rows accept (row-major,
/// K and N multiples of 4) and 120 that the NT row accepts (B transposed, K a
/// multiple of 4); every row runs the first 120 it accepts.
fn sweep(precision: Precision) {
    let dev = common::device();
    let mut rng = common::rng(0x6e33);
    let layouts = [
        Layouts::Any,
        Layouts::RowMajorAligned,
        Layouts::TransposedBAligned,
    ];
    let cases: Vec<Case> = (0..360)
        .map(|i| random_case(&mut rng, i % 120, layouts[i / 120]))
        .collect();
    common::sweep::sweep(
        &gemm::TABLE,
        precision,
        &cases,
        Counts::at_least_100(120),
        |case| GemmProblem {
            dims: dims(case),
            bias: case.spec.bias,
            activation: case.spec.activation,
            precision,
        },
        |variant, _, case| run_case(&dev, &mut rng, case, variant, precision),
    );
}

#[test]
fn every_variant_f32() {
    sweep(Precision::F32)
}

#[test]
fn every_variant_f16() {
    sweep(Precision::F16)
}

#[test]
fn every_variant_f16_packed() {
    sweep(Precision::F16Packed)
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
        variant: gemm::TABLE.get("naive"),
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
        variant: Some(gemm::VEC4_8X8),
        ..Default::default()
    };
    let err = gemm::gemm(&a, &b, None, &spec).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("multiples of 4"), "{err}");
    dev.check().unwrap();
}

/// Operands that start inside their bindings (a chunk of a larger tensor,
/// as the convolution kernels launch them): every f32 row reads A and B at
/// their offsets, writes C at its offset, and leaves the elements around it
/// alone (still NaN).
#[test]
fn operands_at_offsets() {
    let dev = common::device();
    let mut rng = common::rng(0x6e34);
    let (batch, m, n, k) = (2, 20, 36, 28);
    let (a_off, b_off, c_off) = (8, 12, 16);
    let layouts = [(false, false), (false, true), (true, false)];
    for row in gemm::VARIANTS
        .iter()
        .filter(|v| v.precisions.contains(&Precision::F32))
    {
        let chosen = layouts.iter().find_map(|&(trans_a, trans_b)| {
            let a = if trans_a {
                [batch, k, m]
            } else {
                [batch, m, k]
            };
            let b = if trans_b {
                [batch, n, k]
            } else {
                [batch, k, n]
            };
            let mut dims = GemmDims::infer(&a, &b, trans_a, trans_b).unwrap();
            dims.a_off = a_off;
            dims.b_off = b_off;
            dims.c_off = c_off;
            let problem = GemmProblem {
                dims,
                bias: BiasMode::None,
                activation: Activation::None,
                precision: Precision::F32,
            };
            row.check(&problem, dev.caps()).is_ok().then_some(problem)
        });
        let problem = chosen.unwrap_or_else(|| panic!("{}: no layout accepted", row.name));
        let dims = problem.dims;
        let a = common::uniform(&mut rng, a_off + batch * m * k, -1.0, 1.0);
        let b = common::uniform(&mut rng, b_off + batch * k * n, -1.0, 1.0);
        let at = dev.upload_f32(&[a.len()], DType::F32, &a).unwrap();
        let bt = dev.upload_f32(&[b.len()], DType::F32, &b).unwrap();
        let tail = 8;
        let ct = testing::poisoned(&dev, &[c_off + batch * m * n + tail], DType::F32).unwrap();
        let args = gemm::GemmArgs::tensors(&at, &bt, None, &ct);
        gemm::TABLE.run(&dev, &problem, Some(row), &args).unwrap();
        let got = ct.to_f32_vec().unwrap();
        let around = got[..c_off].iter().chain(&got[c_off + batch * m * n..]);
        assert!(
            around.clone().all(|v| v.is_nan()),
            "{}: wrote outside C",
            row.name
        );
        let want = reference::gemm::gemm(&dims, &a, &b, None, BiasMode::None, Activation::None);
        testing::compare(
            &got[c_off..c_off + batch * m * n],
            &want,
            DType::F32,
            common::sum_bound(DType::F32, k),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", row.name));
    }
}

/// The automatic choice (`None`) and every variant that accepts `problem`.
fn accepting(problem: &GemmProblem, dev: &Device) -> Vec<Option<&'static GemmVariant>> {
    std::iter::once(None)
        .chain(
            gemm::VARIANTS
                .iter()
                .filter(|v| v.check(problem, dev.caps()).is_ok())
                .map(Some),
        )
        .collect()
}

/// `x·Wᵀ` with a W larger than one storage binding (VGG-16's 392 MiB
/// classifier layer, here on a device limited to 64 KiB bindings): B is bound
/// a block of rows at a time, each block writing its columns of C (rows N
/// apart) with its part of the per-column bias. Every row that accepts such a
/// block runs it; C is poisoned, so a column left unwritten fails the bound.
#[test]
fn wide_b_splits_into_column_blocks() {
    let dev = common::own_device(Some(64 << 10));
    let mut rng = common::rng(0x76a6);
    let (m, n, k) = (5, 300, 100);
    let a = common::uniform(&mut rng, m * k, -1.0, 1.0);
    let b = common::uniform(&mut rng, n * k, -1.0, 1.0);
    let bias = common::uniform(&mut rng, n, -1.0, 1.0);
    let at = dev.upload_f32(&[m, k], DType::F32, &a).unwrap();
    let bt = dev.upload_f32(&[n, k], DType::F32, &b).unwrap();
    let biast = dev.upload_f32(&[n], DType::F32, &bias).unwrap();
    assert!(bt.byte_size() > dev.limits().max_storage_buffer_binding_size);
    let dims = GemmDims::infer(&[m, k], &[n, k], false, true).unwrap();
    let want = reference::gemm::gemm(
        &dims,
        &a,
        &b,
        Some(&bias),
        BiasMode::PerColumn,
        Activation::Relu,
    );
    // A block as the split launches it: 64 columns of C, rows N apart.
    let block = GemmProblem {
        dims: GemmDims { n: 64, ..dims },
        bias: BiasMode::PerColumn,
        activation: Activation::Relu,
        precision: Precision::F32,
    };
    let rows = accepting(&block, &dev);
    assert!(
        rows.len() >= 4,
        "only {} rows accept a column block",
        rows.len()
    );
    for variant in rows {
        let name = variant.map_or("auto", |v| v.name);
        let spec = GemmSpec {
            trans_b: true,
            bias: BiasMode::PerColumn,
            activation: Activation::Relu,
            variant,
            ..Default::default()
        };
        run_poisoned(&[&at, &bt, &biast], &spec, [m, n], &want, k, name);
    }
}

/// Runs `[a, b, bias]` into a poisoned `[M, N]` C and compares it with
/// `want` (the f32 bound of a sum of `k` terms).
fn run_poisoned(
    operands: &[&weft::Tensor; 3],
    spec: &GemmSpec,
    shape: [usize; 2],
    want: &weft::kernels::reference::RefOut,
    k: usize,
    what: &str,
) {
    let [a, b, bias] = *operands;
    let c = testing::poisoned(a.device(), &shape, DType::F32).unwrap();
    gemm::gemm_into(a, b, Some(bias), spec, &c).unwrap_or_else(|e| panic!("{what}: {e}"));
    testing::compare(
        &c.to_f32_vec().unwrap(),
        want,
        DType::F32,
        common::sum_bound(DType::F32, k),
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// `dzᵀ·x` with a C larger than one storage binding (the weight gradient of
/// VGG-16's 392 MiB classifier layer, here on a device limited to 64 KiB
/// bindings): C is bound a block of rows at a time, each from its rows of
/// op(A) (transposed and not) with its part of a per-row bias. Every variant
/// that accepts such a block runs it; C is poisoned, so a row left unwritten
/// fails the bound.
#[test]
fn tall_c_splits_into_row_blocks() {
    let dev = common::own_device(Some(64 << 10));
    let mut rng = common::rng(0x7a11);
    let (m, n, k) = (150, 130, 9);
    for trans_a in [true, false] {
        let a = common::uniform(&mut rng, m * k, -1.0, 1.0);
        let b = common::uniform(&mut rng, k * n, -1.0, 1.0);
        let bias = common::uniform(&mut rng, m, -1.0, 1.0);
        let a_shape = if trans_a { [k, m] } else { [m, k] };
        let at = dev.upload_f32(&a_shape, DType::F32, &a).unwrap();
        let bt = dev.upload_f32(&[k, n], DType::F32, &b).unwrap();
        let biast = dev.upload_f32(&[m], DType::F32, &bias).unwrap();
        let dims = GemmDims::infer(&a_shape, &[k, n], trans_a, false).unwrap();
        let want = reference::gemm::gemm(
            &dims,
            &a,
            &b,
            Some(&bias),
            BiasMode::PerRow,
            Activation::None,
        );
        let block = GemmProblem {
            dims: GemmDims {
                m: 24,
                c_off: 0,
                ..dims
            },
            bias: BiasMode::PerRow,
            activation: Activation::None,
            precision: Precision::F32,
        };
        let rows = accepting(&block, &dev);
        assert!(
            rows.len() >= 3,
            "only {} rows accept a row block",
            rows.len()
        );
        for variant in rows {
            let name = variant.map_or("auto", |v| v.name);
            let spec = GemmSpec {
                trans_a,
                bias: BiasMode::PerRow,
                variant,
                ..Default::default()
            };
            assert!((m * n * 4) as u64 > dev.limits().max_storage_buffer_binding_size);
            let what = format!("{name} trans_a {trans_a}");
            run_poisoned(&[&at, &bt, &biast], &spec, [m, n], &want, k, &what);
        }
    }
}

/// `dz·W` with a W larger than one storage binding and stored `[K, N]` (the
/// data gradient through VGG-16's first classifier layer; here a device
/// limited to 64 KiB bindings): the reduction runs in blocks of W's rows, the
/// first into C with the bias, the rest through one partial product added in
/// place, whose size `gemm_temp_bytes` reports for the planner. A fused
/// activation cannot split and is a typed error.
#[test]
fn wide_untransposed_b_splits_its_reduction() {
    let dev = common::own_device(Some(64 << 10));
    let mut rng = common::rng(0x6b10);
    let (m, n, k) = (3, 200, 250);
    let a = common::uniform(&mut rng, m * k, -1.0, 1.0);
    let b = common::uniform(&mut rng, k * n, -1.0, 1.0);
    let bias = common::uniform(&mut rng, n, -1.0, 1.0);
    let at = dev.upload_f32(&[m, k], DType::F32, &a).unwrap();
    let bt = dev.upload_f32(&[k, n], DType::F32, &b).unwrap();
    let biast = dev.upload_f32(&[n], DType::F32, &bias).unwrap();
    assert!(bt.byte_size() > dev.limits().max_storage_buffer_binding_size);
    let dims = GemmDims::infer(&[m, k], &[k, n], false, false).unwrap();
    let want = reference::gemm::gemm(
        &dims,
        &a,
        &b,
        Some(&bias),
        BiasMode::PerColumn,
        Activation::None,
    );
    let spec = GemmSpec {
        bias: BiasMode::PerColumn,
        ..Default::default()
    };
    let c = testing::poisoned(&dev, &[m, n], DType::F32).unwrap();
    dev.sync().unwrap();
    dev.reset_peak();
    let live = dev.pool_stats().live_bytes;
    gemm::gemm_into(&at, &bt, Some(&biast), &spec, &c).unwrap();
    let temp = gemm::gemm_temp_bytes(&dev, &[m, k], &[k, n], &spec, DType::F32);
    assert_eq!(temp, (m * n * 4) as u64, "one partial product");
    assert_eq!(dev.pool_stats().peak_live_bytes - live, temp);
    // Each block adds one rounding of a partial sum: the bound of a sum of k
    // terms plus one ulp per block.
    let blocks = k.div_ceil(64) as f64;
    testing::compare(
        &c.to_f32_vec().unwrap(),
        &want,
        DType::F32,
        common::sum_bound(DType::F32, k) + blocks,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let relu = GemmSpec {
        activation: Activation::Relu,
        ..Default::default()
    };
    let err = gemm::gemm(&at, &bt, None, &relu).unwrap_err();
    assert!(matches!(err, Error::BindingTooLarge { .. }), "{err}");
    // Small enough for one binding: no temporaries.
    assert_eq!(
        gemm::gemm_temp_bytes(&dev, &[m, 8], &[8, n], &spec, DType::F32),
        0
    );
}
