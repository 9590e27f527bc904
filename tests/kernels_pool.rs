//! Pooling: `pool2d` (max, avg, sum, min), `max_pool2d_with_indices`, the max
//! and avg gradients, global pooling and its gradient, and `max_unpool2d`,
//! against the f64 references at every precision, over at least 100 random
//! problems each (N = 1, 1×1 images, kernel equal to the input, stride larger
//! than the kernel, odd sizes 7/13/33, channels not multiples of 4, ceil mode on
//! and off, padding, dilation, count_include_pad, divisor_override). Outputs are
//! poisoned with NaN before every run and every element is compared.
//!
//! Bounds (|gpu − ref| ≤ c·ε·scale, ε of the storage type):
//! - max, min, indices, unpooling: exact (c = 0; the kernels copy an input).
//! - avg, sum and the gradients, f32: c = K + 4 with K the number of summed
//!   terms bound (kh·kw, or H·W for global pooling with its log₂-depth tree,
//!   where c = 2·log₂(H·W) + 8): f32 recursive summation errs by at most
//!   (K − 1)·ε·Σ|terms|, and the division by at most 2.5 ulp.
//! - the same in f16: c = 1: the kernels read exactly the f16 values the
//!   reference sees and accumulate in f32, so what remains is the final
//!   rounding to f16 (½ ulp ≤ ½·ε·|value|) plus f32 errors ~2⁻¹³ of that.
//!
//! f16 inputs avoid subnormals (|x| ≥ 0.01), which drivers may flush.

mod common;

use common::sweep::Counts;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature};
use weft::kernels::pool::backward::MaxPoolBackwardProblem;
use weft::kernels::pool::forward::Pool2dProblem;
use weft::kernels::pool::{self, Pool2dParams, PoolKind};
use weft::kernels::reference::{self};
use weft::kernels::{Precision, elementwise, testing};
use weft::{DType, Device, Error, Tensor};

/// A random pooling problem; the first cases are the awkward ones. `dilated`
/// allows dilation (max and min pooling only).
fn random_case(rng: &mut ChaCha8Rng, i: usize, dilated: bool) -> ([usize; 4], Pool2dParams) {
    let p = |k: [usize; 2], s: [usize; 2], pad: [usize; 2]| Pool2dParams {
        stride: s,
        padding: pad,
        ..Pool2dParams::new(k)
    };
    let special: Option<([usize; 4], Pool2dParams)> = match i {
        0 => Some(([1, 1, 1, 1], p([1, 1], [1, 1], [0, 0]))),
        1 => Some(([1, 3, 7, 7], p([7, 7], [7, 7], [0, 0]))),
        2 => Some(([2, 5, 13, 13], p([2, 2], [3, 3], [0, 0]))),
        3 => Some(([1, 6, 33, 33], p([3, 3], [2, 2], [1, 1]))),
        4 => Some((
            [1, 2, 7, 13],
            Pool2dParams {
                ceil_mode: true,
                ..p([2, 2], [2, 2], [0, 0])
            },
        )),
        5 => Some(([1, 3, 13, 7], p([3, 3], [1, 1], [1, 1]))),
        6 => Some((
            [3, 1, 1, 1],
            Pool2dParams {
                ceil_mode: true,
                ..p([2, 2], [2, 2], [1, 1])
            },
        )),
        7 => Some((
            [2, 7, 13, 33],
            Pool2dParams {
                dilation: if dilated { [2, 3] } else { [1, 1] },
                ..p([3, 2], [1, 2], [1, 1])
            },
        )),
        8 => Some((
            [1, 5, 7, 7],
            Pool2dParams {
                count_include_pad: false,
                ceil_mode: true,
                ..p([3, 3], [2, 2], [1, 1])
            },
        )),
        9 => Some((
            [2, 3, 9, 11],
            Pool2dParams {
                divisor_override: Some(7),
                ..p([4, 3], [2, 2], [2, 1])
            },
        )),
        _ => None,
    };
    if let Some(c) = special {
        return c;
    }
    loop {
        let size = |rng: &mut ChaCha8Rng| match rng.random_range(0..6) {
            0 => [7, 13, 33][rng.random_range(0..3)],
            1 => 1,
            _ => rng.random_range(2..30),
        };
        let shape = [
            rng.random_range(1..4),
            rng.random_range(1..7),
            size(rng),
            size(rng),
        ];
        let kernel = [rng.random_range(1..6), rng.random_range(1..6)];
        let params = Pool2dParams {
            kernel,
            stride: [rng.random_range(1..5), rng.random_range(1..5)],
            padding: [
                rng.random_range(0..=kernel[0] / 2),
                rng.random_range(0..=kernel[1] / 2),
            ],
            dilation: if dilated && rng.random_bool(0.3) {
                [rng.random_range(1..4), rng.random_range(1..4)]
            } else {
                [1, 1]
            },
            ceil_mode: rng.random_bool(0.5),
            count_include_pad: rng.random_bool(0.5),
            divisor_override: rng.random_bool(0.15).then(|| rng.random_range(1..10)),
        };
        if params.out_hw("test", shape[2], shape[3]).is_ok() {
            return (shape, params);
        }
    }
}

fn sum_bound(dtype: DType, terms: usize) -> f64 {
    match dtype {
        DType::F16 => 1.0,
        _ => terms as f64 + 4.0,
    }
}

fn kind_bound(kind: PoolKind, dtype: DType, params: &Pool2dParams) -> f64 {
    match kind {
        PoolKind::Max | PoolKind::Min => 0.0,
        _ => sum_bound(dtype, params.kernel[0] * params.kernel[1]),
    }
}

fn out_shape(shape: [usize; 4], params: &Pool2dParams) -> [usize; 4] {
    let [oh, ow] = params.out_hw("test", shape[2], shape[3]).unwrap();
    [shape[0], shape[1], oh, ow]
}

/// Poisoned I32 indices (i32::MIN: never a valid index).
fn poisoned_indices(dev: &Device, shape: &[usize]) -> Tensor {
    let t = dev.empty(shape, DType::I32).unwrap();
    elementwise::fill_words(&t, 0x8000_0000).unwrap();
    t
}

/// Values a pooling problem's input gets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fill {
    Random,
    /// A few NaN: they propagate through max and min pooling.
    Nan,
    /// Runs of equal values (the first maximum wins) and a NaN (the last NaN
    /// wins).
    TiesAndNan,
}

/// A pooling problem of the forward sweep.
#[derive(Debug, Clone)]
struct PoolCase {
    kind: PoolKind,
    shape: [usize; 4],
    params: Pool2dParams,
    with_indices: bool,
    fill: Fill,
}

/// A random max pooling with 2×2 windows at stride 2 on an even width (what
/// the 2×2 rows accept); widths multiple of 8 for the vec4 row more often
/// than not, heights odd a third of the time (last row unused).
fn random_2x2(rng: &mut ChaCha8Rng) -> ([usize; 4], Pool2dParams) {
    let w = if rng.random_bool(0.6) {
        8 * rng.random_range(1..5)
    } else {
        2 * rng.random_range(1..20)
    };
    let h = 2 * rng.random_range(1..12) + rng.random_bool(0.33) as usize;
    (
        [rng.random_range(1..3), rng.random_range(1..5), h, w],
        Pool2dParams::new([2, 2]),
    )
}

/// Widths that select each 2×2 form (1, 2 and 4 outputs per invocation),
/// odd heights, and LeNet-5's and ResNet's sizes.
const SHAPES_2X2: [[usize; 2]; 10] = [
    [2, 2],
    [5, 6],
    [4, 10],
    [7, 4],
    [6, 12],
    [3, 8],
    [9, 16],
    [28, 28],
    [10, 10],
    [12, 112],
];

fn pool_cases(rng: &mut ChaCha8Rng) -> Vec<PoolCase> {
    let mut cases = Vec::new();
    for kind in PoolKind::ALL {
        let dilated = matches!(kind, PoolKind::Max | PoolKind::Min);
        for i in 0..110 {
            let (shape, params) = random_case(rng, i, dilated);
            let fill = if dilated && i % 10 == 9 {
                Fill::Nan
            } else {
                Fill::Random
            };
            cases.push(PoolCase {
                kind,
                shape,
                params,
                with_indices: false,
                fill,
            });
        }
    }
    for i in 0..110 {
        let (shape, params) = random_case(rng, i, true);
        let fill = if i % 7 == 6 {
            Fill::TiesAndNan
        } else {
            Fill::Random
        };
        cases.push(PoolCase {
            kind: PoolKind::Max,
            shape,
            params,
            with_indices: true,
            fill,
        });
    }
    let twos = SHAPES_2X2
        .iter()
        .map(|&[h, w]| ([2, 3, h, w], Pool2dParams::new([2, 2])))
        .chain((0..90).map(|_| random_2x2(rng)))
        .collect::<Vec<_>>();
    for (i, (shape, params)) in twos.into_iter().enumerate() {
        for with_indices in [false, true] {
            cases.push(PoolCase {
                kind: PoolKind::Max,
                shape,
                params,
                with_indices,
                fill: if i % 2 == 1 {
                    Fill::TiesAndNan
                } else {
                    Fill::Random
                },
            });
        }
    }
    cases
}

fn fill(rng: &mut ChaCha8Rng, n: usize, dtype: DType, fill: Fill) -> Vec<f32> {
    let mut x = common::values(rng, n, dtype);
    match fill {
        Fill::Random => {}
        Fill::Nan => {
            for _ in 0..3 {
                let j = rng.random_range(0..n);
                x[j] = f32::NAN;
            }
        }
        Fill::TiesAndNan => {
            for v in x.iter_mut().step_by(3) {
                *v = 1.5;
            }
            x[rng.random_range(0..n)] = f32::NAN;
        }
    }
    x
}

/// Every row of the pooling table over the four kinds (110 random problems
/// each), max pooling with indices (110), and 200 problems for the 2×2 rows
/// (with and without indices); values, indices (exact) and NaN compared.
fn forward_sweep(precision: Precision) {
    let dev = common::device();
    let dtype = precision.dtype();
    let mut rng = common::rng(0x9001);
    let cases = pool_cases(&mut rng);
    let counts = Counts {
        cap: usize::MAX,
        min: 100,
    };
    common::sweep::sweep(
        &pool::forward::TABLE,
        precision,
        &cases,
        counts,
        |case| {
            let [n, c, h, w] = case.shape;
            Pool2dProblem {
                kind: case.kind,
                planes: n * c,
                hw: [h, w],
                ohw: case.params.out_hw("test", h, w).unwrap(),
                params: case.params,
                with_indices: case.with_indices,
                precision,
            }
        },
        |variant, i, case| {
            let n: usize = case.shape.iter().product();
            let x = fill(&mut rng, n, dtype, case.fill);
            let xt = dev.upload_f32(&case.shape, dtype, &x).unwrap();
            let oshape = out_shape(case.shape, &case.params);
            let out = testing::poisoned(&dev, &oshape, dtype).unwrap();
            let want = reference::pool::pool2d(&x, case.shape, case.kind, &case.params);
            let c = kind_bound(case.kind, dtype, &case.params);
            if case.with_indices {
                let idx = poisoned_indices(&dev, &oshape);
                pool::max_pool2d_with_indices_by(
                    &xt,
                    &case.params,
                    Some(variant),
                    Some(precision),
                    &out,
                    &idx,
                )
                .map_err(|e| e.to_string())?;
                let got = idx.to_i32_vec().unwrap();
                if got != want.indices {
                    return Err(format!(
                        "case {i}: indices differ:\n  gpu {got:?}\n  ref {:?}",
                        want.indices
                    ));
                }
            } else {
                pool::pool2d_by(
                    &xt,
                    case.kind,
                    &case.params,
                    Some(variant),
                    Some(precision),
                    &out,
                )
                .map_err(|e| e.to_string())?;
            }
            testing::compare(&out.to_f32_vec().unwrap(), &want.out, dtype, c).map(|r| r.max_err_eps)
        },
    );
}

#[test]
fn pool2d_every_variant_f32() {
    forward_sweep(Precision::F32)
}

#[test]
fn pool2d_every_variant_f16() {
    forward_sweep(Precision::F16)
}

#[test]
fn pool2d_every_variant_f16_packed() {
    forward_sweep(Precision::F16Packed)
}

#[test]
fn max_pool_with_indices_allocates_its_outputs() {
    let dev = common::device();
    let x = dev.tensor(&[1, 1, 2, 2], &[1.0, 4.0, 3.0, 2.0]).unwrap();
    let (y, i) = pool::max_pool2d_with_indices(&x, &Pool2dParams::new([2, 2]), None).unwrap();
    assert_eq!(y.to_f32_vec().unwrap(), [4.0]);
    assert_eq!(i.to_i32_vec().unwrap(), [1]);
}

/// Every row of max pooling's gradient table over 110 random problems
/// (overlapping windows, dilation, padding, ceil mode) and 160 of 2×2 windows
/// at stride 2 (60 of even height), from the indices of the reference forward pass; the general
/// row is also checked to be bitwise deterministic.
fn backward_sweep(precision: Precision) {
    let dev = common::device();
    let dtype = precision.dtype();
    let mut rng = common::rng(0x9003);
    let mut cases: Vec<([usize; 4], Pool2dParams)> =
        (0..110).map(|i| random_case(&mut rng, i, true)).collect();
    cases.extend(
        SHAPES_2X2
            .iter()
            .map(|&[h, w]| ([2, 3, h, w], Pool2dParams::new([2, 2]))),
    );
    cases.extend((0..90).map(|_| random_2x2(&mut rng)));
    // Even heights: every element in exactly one window (the 2x2 gradient row).
    cases.extend((0..60).map(|_| {
        let ([n, c, h, w], params) = random_2x2(&mut rng);
        ([n, c, h - h % 2, w], params)
    }));
    let counts = Counts {
        cap: usize::MAX,
        min: 100,
    };
    common::sweep::sweep(
        &pool::backward::TABLE,
        precision,
        &cases,
        counts,
        |(shape, params)| MaxPoolBackwardProblem {
            planes: shape[0] * shape[1],
            hw: [shape[2], shape[3]],
            ohw: params.out_hw("test", shape[2], shape[3]).unwrap(),
            params: Some(*params),
            precision,
        },
        |variant, i, (shape, params)| {
            let (shape, params) = (*shape, *params);
            let n: usize = shape.iter().product();
            let x = common::values(&mut rng, n, dtype);
            let oshape = out_shape(shape, &params);
            let indices = reference::pool::pool2d(&x, shape, PoolKind::Max, &params).indices;
            let dy = common::values(&mut rng, oshape.iter().product(), dtype);
            let dyt = dev.upload_f32(&oshape, dtype, &dy).unwrap();
            let it = dev.tensor_i32(&oshape, &indices).unwrap();
            let dx = testing::poisoned(&dev, &shape, dtype).unwrap();
            pool::max_pool2d_backward_by(
                &dyt,
                &it,
                Some(&params),
                Some(variant),
                Some(precision),
                &dx,
            )
            .map_err(|e| e.to_string())?;
            let want =
                reference::pool::max_pool2d_backward(&dy, &indices, shape, [oshape[2], oshape[3]]);
            let c = sum_bound(dtype, params.kernel[0] * params.kernel[1]);
            let got = dx.to_f32_vec().unwrap();
            let report = testing::compare(&got, &want, dtype, c)?;
            if variant == pool::backward::INDEX_RANGES && i % 10 == 0 {
                let again = pool::max_pool2d_backward(&dyt, &it, shape).unwrap();
                let again = again.to_f32_vec().unwrap();
                if !got
                    .iter()
                    .zip(&again)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
                {
                    return Err("not deterministic".into());
                }
            }
            Ok(report.max_err_eps)
        },
    );
}

#[test]
fn max_pool_backward_every_variant_f32() {
    backward_sweep(Precision::F32)
}

#[test]
fn max_pool_backward_every_variant_f16() {
    backward_sweep(Precision::F16)
}

#[test]
fn max_pool_backward_every_variant_f16_packed() {
    backward_sweep(Precision::F16Packed)
}

#[test]
fn avg_pool_backward_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x9004);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        let mut worst = 0.0f64;
        for i in 0..110 {
            let (shape, mut params) = random_case(&mut rng, i, false);
            // Sum pooling's gradient: avg with divisor 1.
            if i % 9 == 4 {
                params.divisor_override = Some(1);
            }
            let oshape = out_shape(shape, &params);
            let dy = common::values(&mut rng, oshape.iter().product(), dtype);
            let dyt = dev.upload_f32(&oshape, dtype, &dy).unwrap();
            let dx = testing::poisoned(&dev, &shape, dtype).unwrap();
            pool::avg_pool2d_backward_into(&dyt, &params, Some(precision), &dx).unwrap();
            let want = reference::pool::avg_pool2d_backward(&dy, shape, &params);
            let what = format!("{} case {i} {shape:?} {params:?}", precision.name());
            let c = sum_bound(dtype, params.kernel[0] * params.kernel[1]);
            worst = worst.max(common::check(
                &dx.to_f32_vec().unwrap(),
                &want,
                dtype,
                c,
                &what,
            ));
        }
        eprintln!(
            "avg_pool2d_backward {}: 110 shapes, worst {worst:.3} eps*scale",
            precision.name()
        );
    }
    let dy = dev.tensor(&[1, 1, 1, 1], &[2.0]).unwrap();
    let dx = pool::avg_pool2d_backward(&dy, [1, 1, 2, 2], &Pool2dParams::new([2, 2])).unwrap();
    assert_eq!(dx.to_f32_vec().unwrap(), [0.5; 4]);
}

/// Global pooling shapes: 1×1 planes, planes smaller and larger than a
/// workgroup, odd sizes.
fn global_shape(rng: &mut ChaCha8Rng, i: usize) -> [usize; 4] {
    const SPECIAL: [[usize; 4]; 6] = [
        [1, 1, 1, 1],
        [1, 3, 7, 7],
        [2, 5, 13, 13],
        [1, 2, 33, 33],
        [3, 7, 1, 300],
        [1, 1, 64, 65],
    ];
    if i < SPECIAL.len() {
        return SPECIAL[i];
    }
    [
        rng.random_range(1..4),
        rng.random_range(1..10),
        rng.random_range(1..40),
        rng.random_range(1..40),
    ]
}

fn global_bound(dtype: DType, hw: usize) -> f64 {
    match dtype {
        DType::F16 => 1.0,
        _ => 2.0 * (hw as f64).log2().ceil() + 8.0,
    }
}

#[test]
fn global_pooling_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x9005);
    for precision in common::precisions(&dev) {
        let dtype = precision.dtype();
        let mut worst = 0.0f64;
        for i in 0..105 {
            let shape = global_shape(&mut rng, i);
            let hw = shape[2] * shape[3];
            let n: usize = shape.iter().product();
            let mut x = common::values(&mut rng, n, dtype);
            if i % 20 == 19 {
                x[rng.random_range(0..n)] = f32::NAN;
            }
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let oshape = [shape[0], shape[1], 1, 1];
            let what = format!("{} case {i} {shape:?}", precision.name());
            // Average.
            let out = testing::poisoned(&dev, &oshape, dtype).unwrap();
            pool::global_pool_into(&xt, PoolKind::Avg, Some(precision), &out).unwrap();
            let want = reference::pool::global_avg_pool(&x, shape);
            let c = global_bound(dtype, hw);
            worst = worst.max(common::check(
                &out.to_f32_vec().unwrap(),
                &want,
                dtype,
                c,
                &what,
            ));
            // Maximum.
            let out = testing::poisoned(&dev, &oshape, dtype).unwrap();
            pool::global_pool_into(&xt, PoolKind::Max, Some(precision), &out).unwrap();
            let want = reference::pool::global_max_pool(&x, shape);
            common::check(&out.to_f32_vec().unwrap(), &want, dtype, 0.0, &what);
            // Gradient of the average.
            let dy = common::values(&mut rng, shape[0] * shape[1], dtype);
            let dyt = dev.upload_f32(&oshape, dtype, &dy).unwrap();
            let dx = testing::poisoned(&dev, &shape, dtype).unwrap();
            pool::global_avg_pool_backward_into(&dyt, Some(precision), &dx).unwrap();
            let want = reference::pool::global_avg_pool_backward(&dy, shape);
            common::check(
                &dx.to_f32_vec().unwrap(),
                &want,
                dtype,
                sum_bound(dtype, 1),
                &what,
            );
        }
        eprintln!(
            "global pooling {}: 105 shapes, worst avg {worst:.3} eps*scale",
            precision.name()
        );
    }
    // The allocating forms.
    let x = dev.tensor(&[1, 2, 1, 2], &[1.0, 3.0, -1.0, -5.0]).unwrap();
    assert_eq!(
        pool::global_avg_pool(&x).unwrap().to_f32_vec().unwrap(),
        [2.0, -3.0]
    );
    assert_eq!(
        pool::global_max_pool(&x).unwrap().to_f32_vec().unwrap(),
        [3.0, -1.0]
    );
    let dy = dev.tensor(&[1, 2, 1, 1], &[4.0, 2.0]).unwrap();
    let dx = pool::global_avg_pool_backward(&dy, [1, 2, 1, 2]).unwrap();
    assert_eq!(dx.to_f32_vec().unwrap(), [2.0, 2.0, 1.0, 1.0]);
}

#[test]
fn f16_sums_beyond_65504_stay_finite() {
    let dev = common::device();
    let mut rng = common::rng(0x9006);
    for precision in common::precisions(&dev) {
        if precision == Precision::F32 {
            continue;
        }
        let shape = [1, 3, 16, 16];
        let x = testing::round_to(
            DType::F16,
            &common::uniform(&mut rng, 768, 50_000.0, 60_000.0),
        );
        let xt = dev.upload_f32(&shape, DType::F16, &x).unwrap();
        // 4x4 windows: totals near 900,000, averages near 55,000.
        let params = Pool2dParams::new([4, 4]);
        let out = testing::poisoned(&dev, &[1, 3, 4, 4], DType::F16).unwrap();
        pool::pool2d_into(&xt, PoolKind::Avg, &params, Some(precision), &out).unwrap();
        let want = reference::pool::pool2d(&x, shape, PoolKind::Avg, &params);
        common::check(
            &out.to_f32_vec().unwrap(),
            &want.out,
            DType::F16,
            1.0,
            "avg f16",
        );
        // Whole planes: totals near 14,000,000.
        let out = testing::poisoned(&dev, &[1, 3, 1, 1], DType::F16).unwrap();
        pool::global_pool_into(&xt, PoolKind::Avg, Some(precision), &out).unwrap();
        let got = out.to_f32_vec().unwrap();
        assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
        let want = reference::pool::global_avg_pool(&x, shape);
        common::check(&got, &want, DType::F16, 1.0, "global avg f16");
        // Gradients: 16 overlapping windows each add dy/16, totals near 55,000.
        let dy = testing::round_to(
            DType::F16,
            &common::uniform(&mut rng, 768, 50_000.0, 60_000.0),
        );
        let p = Pool2dParams {
            stride: [1, 1],
            divisor_override: Some(16),
            ..Pool2dParams::new([4, 4])
        };
        let oshape = out_shape([1, 3, 19, 19], &p);
        let dyt = dev
            .upload_f32(&oshape, DType::F16, &dy[..oshape.iter().product()])
            .unwrap();
        let dx = testing::poisoned(&dev, &[1, 3, 19, 19], DType::F16).unwrap();
        pool::avg_pool2d_backward_into(&dyt, &p, Some(precision), &dx).unwrap();
        let want = reference::pool::avg_pool2d_backward(
            &dy[..oshape.iter().product()],
            [1, 3, 19, 19],
            &p,
        );
        common::check(
            &dx.to_f32_vec().unwrap(),
            &want,
            DType::F16,
            1.0,
            "avg backward f16",
        );
    }
}

#[test]
fn max_unpool_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0x9007);
    for precision in common::precisions(&dev) {
        if precision == Precision::F16Packed {
            continue; // typed kernels only: f16 tensors use native f16 here
        }
        let dtype = precision.dtype();
        for i in 0..105 {
            // No dilation: empty dilated windows carry made-up indices that may
            // collide with real ones (an unspecified store order).
            let (shape, params) = random_case(&mut rng, i, false);
            let n: usize = shape.iter().product();
            let x = common::values(&mut rng, n, dtype);
            let pooled = reference::pool::pool2d(&x, shape, PoolKind::Max, &params);
            let oshape = out_shape(shape, &params);
            let y: Vec<f32> = pooled.out.value.iter().map(|&v| v as f32).collect();
            let yt = dev.upload_f32(&oshape, dtype, &y).unwrap();
            let it = dev.tensor_i32(&oshape, &pooled.indices).unwrap();
            let up = testing::poisoned(&dev, &shape, dtype).unwrap();
            pool::max_unpool2d_into(&yt, &it, &up).unwrap();
            if i % 10 == 0 {
                let again = pool::max_unpool2d(&yt, &it, [shape[2], shape[3]]).unwrap();
                let same = again.to_f32_vec().unwrap() == up.to_f32_vec().unwrap();
                assert!(same, "allocating form differs");
            }
            let want =
                reference::pool::max_unpool2d(&y, &pooled.indices, oshape, [shape[2], shape[3]]);
            let what = format!("{} case {i} {shape:?} {params:?}", precision.name());
            common::check(&up.to_f32_vec().unwrap(), &want, dtype, 0.0, &what);
        }
    }
}

#[test]
fn large_grid_folds() {
    // 4 x 1024 x 1025 outputs: 65,600 workgroups of 64, past one dimension's limit.
    let dev = common::device();
    let mut rng = common::rng(0x9008);
    let shape = [1, 4, 2048, 2050];
    let n: usize = shape.iter().product();
    let x = common::uniform(&mut rng, n, -1.0, 1.0);
    let xt = dev.tensor(&shape, &x).unwrap();
    let params = Pool2dParams::new([2, 2]);
    let out = testing::poisoned(&dev, &[1, 4, 1024, 1025], DType::F32).unwrap();
    pool::pool2d_into(&xt, PoolKind::Avg, &params, None, &out).unwrap();
    let want = reference::pool::pool2d(&x, shape, PoolKind::Avg, &params);
    common::check(
        &out.to_f32_vec().unwrap(),
        &want.out,
        DType::F32,
        8.0,
        "large",
    );
}

/// Central differences of L(x) = Σ dy·f(x) in f64 against a gradient.
fn finite_difference(
    x: &[f64],
    dy: &[f64],
    f: impl Fn(&[f64]) -> Vec<f64>,
    grad: &[f64],
    h: f64,
    what: &str,
) {
    let loss = |x: &[f64]| -> f64 { f(x).iter().zip(dy).map(|(a, b)| a * b).sum() };
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let up = loss(&xp);
        xp[i] = x[i] - h;
        let down = loss(&xp);
        xp[i] = x[i];
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() <= 1e-6 * (1.0 + grad[i].abs()),
            "{what}: element {i}: finite difference {fd}, gradient {}",
            grad[i]
        );
    }
}

#[test]
fn gradient_references_pass_finite_differences() {
    let mut rng = common::rng(0x9009);
    for i in 0..30 {
        let (shape, params) = random_case(&mut rng, i, true);
        let n: usize = shape.iter().product();
        // Distinct values: no ties, so max pooling is differentiable.
        let mut x: Vec<f64> = (0..n)
            .map(|k| k as f64 * 0.37 % 5.0 + k as f64 * 1e-3)
            .collect();
        for k in (1..n).rev() {
            x.swap(k, rng.random_range(0..=k));
        }
        let oshape = out_shape(shape, &params);
        let dy: Vec<f64> = (0..oshape.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let what = format!("case {i} {shape:?} {params:?}");
        // Max pooling.
        let indices = reference::pool::pool2d(&x, shape, PoolKind::Max, &params).indices;
        let grad =
            reference::pool::max_pool2d_backward(&dy, &indices, shape, [oshape[2], oshape[3]]);
        let max = |x: &[f64]| {
            reference::pool::pool2d(x, shape, PoolKind::Max, &params)
                .out
                .value
        };
        // Empty dilated windows give -inf outputs, whose gradient is zero.
        let dy_finite: Vec<f64> = max(&x)
            .iter()
            .zip(&dy)
            .map(|(v, g)| if v.is_finite() { *g } else { 0.0 })
            .collect();
        let grad_finite = reference::pool::max_pool2d_backward(
            &dy_finite,
            &indices,
            shape,
            [oshape[2], oshape[3]],
        );
        let max_finite = |x: &[f64]| -> Vec<f64> {
            max(x)
                .into_iter()
                .map(|v| if v.is_finite() { v } else { 0.0 })
                .collect()
        };
        finite_difference(&x, &dy_finite, max_finite, &grad_finite.value, 1e-6, &what);
        assert_eq!(grad.value.len(), n);
        // Average pooling (no dilation).
        let mut ap = params;
        ap.dilation = [1, 1];
        let Ok([oh, ow]) = ap.out_hw("test", shape[2], shape[3]) else {
            continue;
        };
        let dy: Vec<f64> = (0..shape[0] * shape[1] * oh * ow)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let grad = reference::pool::avg_pool2d_backward(&dy, shape, &ap);
        let avg = |x: &[f64]| {
            reference::pool::pool2d(x, shape, PoolKind::Avg, &ap)
                .out
                .value
        };
        finite_difference(&x, &dy, avg, &grad.value, 1e-4, &what);
        // Global average.
        let dy: Vec<f64> = (0..shape[0] * shape[1])
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let grad = reference::pool::global_avg_pool_backward(&dy, shape);
        let gavg = |x: &[f64]| reference::pool::global_avg_pool(x, shape).value;
        finite_difference(&x, &dy, gavg, &grad.value, 1e-4, &what);
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[1, 1, 4, 4], &[0.5; 16]).unwrap();
    let invalid = |e: Error, what: &str| {
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    // Kernel larger than the padded input.
    let e = pool::pool2d(&x, PoolKind::Max, &Pool2dParams::new([5, 5]), None).unwrap_err();
    invalid(e, "larger than the padded input");
    // Zero stride.
    let p = Pool2dParams {
        stride: [0, 1],
        ..Pool2dParams::new([2, 2])
    };
    invalid(
        pool::pool2d(&x, PoolKind::Avg, &p, None).unwrap_err(),
        "stride",
    );
    // Padding over half the kernel.
    let p = Pool2dParams {
        padding: [1, 2],
        ..Pool2dParams::new([3, 3])
    };
    invalid(
        pool::pool2d(&x, PoolKind::Max, &p, None).unwrap_err(),
        "padding",
    );
    // Dilation is max/min only; divisor 0.
    let p = Pool2dParams {
        dilation: [2, 2],
        ..Pool2dParams::new([2, 2])
    };
    invalid(
        pool::pool2d(&x, PoolKind::Avg, &p, None).unwrap_err(),
        "dilation",
    );
    let p = Pool2dParams {
        divisor_override: Some(0),
        ..Pool2dParams::new([2, 2])
    };
    invalid(
        pool::pool2d(&x, PoolKind::Avg, &p, None).unwrap_err(),
        "divisor",
    );
    // Not NCHW; integer input.
    let flat = dev.tensor(&[16], &[0.5; 16]).unwrap();
    let e = pool::pool2d(&flat, PoolKind::Max, &Pool2dParams::new([2, 2]), None).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let ints = dev.tensor_i32(&[1, 1, 4, 4], &[1; 16]).unwrap();
    let e = pool::global_avg_pool(&ints).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    // Indices of the wrong dtype or shape.
    let dy = dev.tensor(&[1, 1, 2, 2], &[1.0; 4]).unwrap();
    let wrong = dev.tensor(&[1, 1, 2, 2], &[0.0; 4]).unwrap();
    invalid(
        pool::max_pool2d_backward(&dy, &wrong, [1, 1, 4, 4]).unwrap_err(),
        "i32",
    );
    invalid(pool::max_unpool2d(&dy, &wrong, [4, 4]).unwrap_err(), "i32");
    let idx = dev.tensor_i32(&[1, 1, 2, 1], &[0; 2]).unwrap();
    let e = pool::max_pool2d_backward(&dy, &idx, [1, 1, 4, 4]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // Gradient of the wrong size for the parameters.
    let e = pool::avg_pool2d_backward(&dy, [1, 1, 5, 5], &Pool2dParams::new([3, 3])).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // Output of the wrong shape.
    let out = dev.empty(&[1, 1, 3, 3], DType::F32).unwrap();
    let e =
        pool::pool2d_into(&x, PoolKind::Max, &Pool2dParams::new([2, 2]), None, &out).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // Native f16 requested of f32 tensors.
    let e = pool::pool2d(
        &x,
        PoolKind::Max,
        &Pool2dParams::new([2, 2]),
        Some(Precision::F16),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    dev.check().unwrap();
}

#[test]
fn without_shader_f16_packed_forms_run_and_typed_ones_refuse() {
    let dev = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let data: Vec<f32> = (0..50).map(|i| (i as f32 * 0.77) % 3.0 - 1.0).collect();
    let x = dev.upload_f32(&[1, 2, 5, 5], DType::F16, &data).unwrap();
    let want =
        reference::pool::global_avg_pool(&testing::round_to(DType::F16, &data), [1, 2, 5, 5]);
    let got = pool::global_avg_pool(&x).unwrap().to_f32_vec().unwrap();
    common::check(&got, &want, DType::F16, 1.0, "packed global avg");
    let (_, idx) = pool::max_pool2d_with_indices(&x, &Pool2dParams::new([2, 2]), None).unwrap();
    let e = pool::max_unpool2d(&x, &idx, [4, 4]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let y = dev
        .upload_f32(&[1, 2, 2, 2], DType::F16, &data[..8])
        .unwrap();
    let e = pool::max_unpool2d(&y, &idx, [5, 5]).unwrap_err();
    assert!(matches!(e, Error::MissingFeature { .. }), "{e}");
}

/// Adaptive average pooling over 100 random shapes per precision: output
/// sizes that divide the input, that do not (overlapping windows), larger
/// than the input (windows of one element, repeated), 1×1 (the global mean);
/// forward and gradient against f64 (c = `common::sum_bound` of the largest
/// window's terms on Σ|terms| / area and Σ|terms|; f16 storage rounds once
/// more). The f64 gradient is the exact adjoint of
/// the f64 forward: ⟨dy, f(x)⟩ = ⟨f*(dy), x⟩.
#[test]
fn adaptive_avg_pool_matches_reference() {
    let dev = common::device();
    let mut rng = common::rng(0xada9);
    let mut dtypes = vec![DType::F32];
    if dev.has(Feature::ShaderF16) {
        dtypes.push(DType::F16);
    }
    for dtype in dtypes {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..100 {
            let (n, c) = (rng.random_range(1..4), rng.random_range(1..6));
            let (h, w): (usize, usize) = (rng.random_range(1..30), rng.random_range(1..30));
            let ohw = match i % 4 {
                0 => [1, 1],
                1 => [(h / 2).max(1), (w / 3).max(1)],
                2 => [rng.random_range(1..=h + 5), rng.random_range(1..=w + 5)],
                _ => [rng.random_range(1..8), rng.random_range(1..8)],
            };
            let shape = [n, c, h, w];
            // Terms of the largest window (forward) or gather (backward).
            let terms = (h.div_ceil(ohw[0]) + 1)
                * (w.div_ceil(ohw[1]) + 1)
                * (ohw[0].div_ceil(h) + 1)
                * (ohw[1].div_ceil(w) + 1);
            let c_sum = common::sum_bound(DType::F32, terms);
            let x = common::values(&mut rng, n * c * h * w, dtype);
            let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
            let y = pool::adaptive_avg_pool2d(&xt, ohw).unwrap();
            assert_eq!(y.shape(), [n, c, ohw[0], ohw[1]]);
            let want = reference::pool::adaptive_avg_pool2d(&x, shape, ohw);
            let what = format!("adaptive {dtype} case {i} {shape:?} -> {ohw:?}");
            let (bound, k) = testing::storage_bound(&want, dtype, c_sum);
            testing::compare(&y.to_f32_vec().unwrap(), &bound, dtype, k)
                .unwrap_or_else(|e| panic!("{what}:\n{e}"));
            worst.0 = worst.0.max(common::bound_used(
                &y.to_f32_vec().unwrap(),
                &bound,
                dtype,
                k,
            ));

            let dy = common::values(&mut rng, n * c * ohw[0] * ohw[1], dtype);
            let dyt = dev.upload_f32(&[n, c, ohw[0], ohw[1]], dtype, &dy).unwrap();
            let dx = pool::adaptive_avg_pool2d_backward(&dyt, shape).unwrap();
            let want = reference::pool::adaptive_avg_pool2d_backward(&dy, shape, ohw);
            let (bound, k) = testing::storage_bound(&want, dtype, c_sum);
            testing::compare(&dx.to_f32_vec().unwrap(), &bound, dtype, k)
                .unwrap_or_else(|e| panic!("{what} backward:\n{e}"));
            worst.1 = worst.1.max(common::bound_used(
                &dx.to_f32_vec().unwrap(),
                &bound,
                dtype,
                k,
            ));

            // The reference gradient is the adjoint of the reference forward.
            let fx = reference::pool::adaptive_avg_pool2d(&x, shape, ohw).value;
            let lhs: f64 = dy.iter().zip(&fx).map(|(&a, b)| a as f64 * b).sum();
            let rhs: f64 = want.value.iter().zip(&x).map(|(a, &b)| a * b as f64).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-9 * (1.0 + lhs.abs()),
                "{what}: adjoint {lhs} vs {rhs}"
            );
        }
        eprintln!(
            "adaptive_avg_pool2d {dtype}: 100 shapes, worst share of the bound: forward {:.3}, backward {:.3}",
            worst.0, worst.1
        );
    }
    // A 1×1 output of planes past what one invocation may loop over on
    // lavapipe (65,535 iterations): the reduction tree's mean, within its
    // sum bound.
    let shape = [1, 2, 300, 280];
    let x = common::values(&mut rng, 2 * 300 * 280, DType::F32);
    let xt = dev.tensor(&shape, &x).unwrap();
    let y = pool::adaptive_avg_pool2d(&xt, [1, 1]).unwrap();
    let want = reference::pool::adaptive_avg_pool2d(&x, shape, [1, 1]);
    let (bound, k) =
        testing::storage_bound(&want, DType::F32, common::sum_bound(DType::F32, 300 * 280));
    testing::compare(&y.to_f32_vec().unwrap(), &bound, DType::F32, k)
        .unwrap_or_else(|e| panic!("adaptive to 1x1 of 300x280:\n{e}"));

    let x = dev.tensor(&[1, 1, 4, 4], &[0.0; 16]).unwrap();
    let err = pool::adaptive_avg_pool2d(&x, [0, 2])
        .unwrap_err()
        .to_string();
    assert!(err.contains("output_size"), "{err}");
    let err = pool::adaptive_avg_pool2d_backward(&x, [2, 1, 4, 4])
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch or channels"), "{err}");
}
