//! conv2d forward: every variant at every precision it has against the f64
//! reference, over at least 100 random problems each that the variant accepts
//! (N = 1, 1x1 images, kernel equal to the input, stride larger than the
//! kernel, odd sizes 7/13/33, channel counts not multiples of 4, groups and
//! depthwise, dilation, 'same' with even kernels (asymmetric padding), bias on
//! and off, fused activations), outputs poisoned with NaN before every run;
//! plus batch chunking under a small binding limit, a launch past 65,535
//! workgroups, exact scratch accounting, and the typed errors.
//!
//! Bounds: |gpu − ref| ≤ c·ε·scale with ε of the storage type and scale =
//! Σ|x·w| + |bias| (through the activation, see `reference::conv`).
//! - f32, direct / im2col / implicit / 1x1: c = 2·√K + 4, K = C_in/groups·KH·KW:
//!   an f32 accumulation of K terms (errors growing like √K), plus the bias
//!   add and the activation.
//! - f16 (native and packed), same variants: c = 2. Inputs are the f16-rounded
//!   values the kernels read and im2col columns are exact copies, so what
//!   remains is rounding the f32 result to f16 (½ ulp ≤ ½·ε·scale) plus an f32
//!   accumulation that is 2¹³ times finer.
//! - Winograd F(2x2, 3x3) is compared against its own scale, Σ over channels
//!   and transform points of |A|·|U|·|V| (`reference::conv::winograd_scale`,
//!   always ≥ the direct scale): the transforms mix neighbouring taps, and each
//!   rounding is relative to such a mixed partial sum. f32: c = 2·√C_in + 16,
//!   the GEMM's C_in-term accumulation plus a few roundings per stage (weight
//!   transform 3, input transform 2, output transform 4, bias and activation
//!   2, all in units of ε·scale, with margin). f16: c = 3, because U, V and the
//!   16 products are stored in f16: ½ ulp each for U, V, M and the output.

mod common;

use common::sweep::Counts;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::kernels::conv::forward::Conv2dProblem;
use weft::kernels::conv::params::{Conv2dGeometry, Conv2dParams, Padding};
use weft::kernels::conv::{self, Conv2dSpec, ConvVariant};
use weft::kernels::reference;
use weft::kernels::{Activation, Precision, testing};
use weft::{DType, Device, Error};

#[derive(Debug, Clone)]
struct Case {
    x: [usize; 4],
    w: [usize; 4],
    params: Conv2dParams,
    bias: bool,
    act: Activation,
}

impl Case {
    fn geo(&self) -> Option<Conv2dGeometry> {
        Conv2dGeometry::new("conv2d", &self.x, &self.w, &self.params).ok()
    }
}

fn params(stride: usize, padding: Padding, dilation: usize, groups: usize) -> Conv2dParams {
    Conv2dParams {
        stride: [stride, stride],
        padding,
        dilation: [dilation, dilation],
        groups,
    }
}

/// Hand-picked problems covering the awkward cases, for the general variants.
fn special_cases() -> Vec<Case> {
    let e = |p: usize| Padding::Explicit([p, p]);
    let case = |x: [usize; 4], w: [usize; 4], params: Conv2dParams| Case {
        x,
        w,
        params,
        bias: true,
        act: Activation::None,
    };
    let fused = |mut c: Case, act: Activation| {
        c.act = act;
        c
    };
    vec![
        // 1x1 image, 1x1 kernel; 1x1 image with padding.
        case([1, 1, 1, 1], [1, 1, 1, 1], params(1, e(0), 1, 1)),
        case([2, 3, 1, 1], [5, 3, 3, 3], params(1, e(1), 1, 1)),
        // Kernel equal to the input.
        case([1, 3, 5, 5], [4, 3, 5, 5], params(1, e(0), 1, 1)),
        case([2, 2, 7, 3], [3, 2, 7, 3], params(1, Padding::Valid, 1, 1)),
        // Stride larger than the kernel.
        case([1, 2, 13, 13], [3, 2, 2, 2], params(3, e(0), 1, 1)),
        // Odd sizes 7, 13, 33.
        fused(
            case([1, 7, 13, 33], [13, 7, 3, 3], params(1, e(1), 1, 1)),
            Activation::Gelu,
        ),
        case([1, 3, 33, 7], [7, 3, 5, 5], params(2, e(2), 1, 1)),
        // Groups, depthwise, depthwise with a channel multiplier.
        case([2, 6, 9, 9], [9, 2, 3, 3], params(1, e(1), 1, 3)),
        case([1, 5, 11, 10], [5, 1, 3, 3], params(1, e(1), 1, 5)),
        case([1, 3, 8, 8], [6, 1, 3, 3], params(2, e(1), 1, 3)),
        // Dilation.
        case([1, 2, 12, 12], [3, 2, 3, 3], params(1, e(2), 2, 1)),
        // 'same' with even kernels: the extra padding goes bottom/right.
        case([1, 3, 9, 7], [4, 3, 4, 2], params(1, Padding::Same, 1, 1)),
        case([2, 2, 6, 6], [2, 2, 2, 2], params(1, Padding::Same, 2, 1)),
        // 1x1 stride 2 (a ResNet downsample), 7x7 stride 2 stem.
        fused(
            case([1, 8, 14, 14], [16, 8, 1, 1], params(2, e(0), 1, 1)),
            Activation::LeakyRelu(0.1),
        ),
        case([1, 3, 33, 33], [8, 3, 7, 7], params(2, e(3), 1, 1)),
        // One group of 16+ channels: im2col's GEMM over all of a chunk's
        // columns (7x7 outputs, 49 per image) copied back to NCHW, with a
        // fused activation; a 7x7 stem whose 147-long patch is padded to 148;
        // a 27-long patch padded with outputs that fill whole GEMM tiles.
        fused(
            case([3, 8, 7, 7], [20, 8, 3, 3], params(1, e(1), 1, 1)),
            Activation::Relu,
        ),
        case([2, 3, 17, 17], [16, 3, 7, 7], params(2, e(3), 1, 1)),
        case([2, 3, 8, 16], [16, 3, 3, 3], params(1, e(1), 1, 1)),
    ]
}

fn padding(rng: &mut ChaCha8Rng, stride: usize) -> Padding {
    match rng.random_range(0..6) {
        0 if stride == 1 => Padding::Same,
        1 => Padding::Valid,
        2 => Padding::Explicit([rng.random_range(0..3), rng.random_range(0..3)]),
        _ => {
            let p = rng.random_range(0..3);
            Padding::Explicit([p, p])
        }
    }
}

fn activation(rng: &mut ChaCha8Rng) -> Activation {
    // Fusion is tested on a few problems (every activation is its own set of
    // pipelines); the elementwise suite covers each activation's numerics.
    match rng.random_range(0..10) {
        0 => Activation::Relu,
        _ => Activation::None,
    }
}

fn dim(rng: &mut ChaCha8Rng, hi: usize) -> usize {
    if rng.random_bool(0.1) {
        [7, 13, 33][rng.random_range(0..3)]
    } else {
        rng.random_range(1..=hi)
    }
}

/// A random problem of any shape the general variants accept.
fn random_general(rng: &mut ChaCha8Rng) -> Case {
    loop {
        let groups = match rng.random_range(0..6) {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let depthwise = rng.random_bool(0.15);
        let cin_g = if depthwise { 1 } else { rng.random_range(1..7) };
        let groups = if depthwise {
            rng.random_range(2..9)
        } else {
            groups
        };
        let cout_g = if depthwise {
            rng.random_range(1..3)
        } else {
            rng.random_range(1..11)
        };
        let k = [1, 1, 2, 3, 3, 3, 4, 5][rng.random_range(0..8)];
        let (kh, kw) = if rng.random_bool(0.2) {
            (k, rng.random_range(1..6))
        } else {
            (k, k)
        };
        let stride = [1, 1, 1, 2, 2, 3][rng.random_range(0..6)];
        let dilation = if rng.random_bool(0.15) { 2 } else { 1 };
        let case = Case {
            x: [
                rng.random_range(1..4),
                cin_g * groups,
                dim(rng, 20),
                dim(rng, 20),
            ],
            w: [cout_g * groups, cin_g, kh, kw],
            params: params(stride, padding(rng, stride), dilation, groups),
            bias: rng.random_bool(0.6),
            act: activation(rng),
        };
        if case.geo().is_some() {
            return case;
        }
    }
}

/// A random 1x1, stride 1, unpadded problem.
fn random_one_by_one(rng: &mut ChaCha8Rng, i: usize) -> Case {
    let groups = if rng.random_bool(0.25) {
        rng.random_range(2..4)
    } else {
        1
    };
    let (n, h, w) = match i {
        0 => (1, 1, 1),
        1 => (1, 7, 13),
        2 => (2, 33, 1),
        _ => (rng.random_range(1..4), dim(rng, 24), dim(rng, 24)),
    };
    Case {
        x: [n, groups * rng.random_range(1..12), h, w],
        w: [groups * rng.random_range(1..12), 0, 1, 1],
        params: params(
            1,
            if rng.random_bool(0.3) {
                Padding::Valid
            } else {
                Padding::Explicit([0, 0])
            },
            1,
            groups,
        ),
        bias: rng.random_bool(0.6),
        act: activation(rng),
    }
    .fix_weight_channels()
}

/// A random 3x3, stride 1, dilation 1, ungrouped problem.
fn random_winograd(rng: &mut ChaCha8Rng, i: usize) -> Case {
    loop {
        let (n, c, h, w) = match i {
            0 => (1, 1, 1, 1),
            1 => (1, 3, 3, 3),
            2 => (2, 7, 13, 33),
            3 => (1, 5, 2, 9),
            _ => (
                rng.random_range(1..4),
                rng.random_range(1..12),
                dim(rng, 20),
                dim(rng, 20),
            ),
        };
        let pad = match rng.random_range(0..5) {
            0 => Padding::Same,
            1 => Padding::Valid,
            2 => Padding::Explicit([rng.random_range(0..3), rng.random_range(0..3)]),
            _ => Padding::Explicit([1, 1]),
        };
        let case = Case {
            x: [n, c, h, w],
            w: [rng.random_range(1..12), c, 3, 3],
            params: params(1, pad, 1, 1),
            bias: rng.random_bool(0.6),
            act: activation(rng),
        };
        if case.geo().is_some() {
            return case;
        }
    }
}

impl Case {
    fn fix_weight_channels(mut self) -> Case {
        self.w[1] = self.x[1] / self.params.groups;
        self
    }
}

/// The sweep's problems: the awkward special cases and general ones (100,
/// what the general rows run), then 1x1 and Winograd-shaped problems
/// interleaved (100 of each), so that every row meets at least 100 problems
/// it accepts.
fn cases(rng: &mut ChaCha8Rng) -> Vec<Case> {
    let mut v = special_cases();
    while v.len() < 100 {
        v.push(random_general(rng));
    }
    for i in 0..100 {
        v.push(random_one_by_one(rng, i));
        v.push(random_winograd(rng, i));
    }
    v
}

fn problem(case: &Case, precision: Precision) -> Conv2dProblem {
    Conv2dProblem {
        geo: case.geo().expect("cases are valid"),
        bias: case.bias,
        activation: case.act,
        precision,
    }
}

/// Runs one problem with `variant` and compares it with the reference.
fn run_case(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    case: &Case,
    variant: &'static ConvVariant,
    precision: Precision,
) -> Result<f64, String> {
    let dtype = precision.dtype();
    let geo = case.geo().expect("cases are valid");
    let ((xt, wt, bt), (x, w, b)) = upload(dev, rng, case, dtype);
    let out = testing::poisoned(dev, &geo.out_shape(), dtype).unwrap();
    let spec = Conv2dSpec {
        params: case.params,
        activation: case.act,
        variant: Some(variant),
        precision: Some(precision),
    };
    let bias = case.bias.then_some(&bt);
    conv::conv2d_into(&xt, &wt, bias, &spec, &out).map_err(|e| e.to_string())?;
    let got = out.to_f32_vec().unwrap();
    let bias_ref = case.bias.then_some(&b[..]);
    let mut want = reference::conv::conv2d(&geo, &x, &w, bias_ref, case.act);
    if variant == conv::forward::WINOGRAD {
        want.scale = reference::conv::winograd_scale(&geo, &x, &w, bias_ref, case.act);
    }
    testing::compare(&got, &want, dtype, bound(&geo, variant, dtype)).map(|r| r.max_err_eps)
}

/// The error bound c of the module doc.
fn bound(geo: &Conv2dGeometry, variant: &ConvVariant, dtype: DType) -> f64 {
    match (variant == conv::forward::WINOGRAD, dtype) {
        (true, DType::F16) => 3.0,
        (true, _) => 2.0 * (geo.c_in as f64).sqrt() + 16.0,
        (false, _) => common::sum_bound(dtype, geo.patch_len()),
    }
}

fn sweep(precision: Precision) {
    let dev = common::device();
    let mut rng = common::rng(0xc0de);
    let cases = cases(&mut rng);
    common::sweep::sweep(
        &conv::forward::TABLE,
        precision,
        &cases,
        Counts::at_least_100(100),
        |case| problem(case, precision),
        |variant, _, case| run_case(&dev, &mut rng, case, variant, precision),
    );
    eprintln!("{} pipelines compiled so far", dev.pipelines_compiled());
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

/// Uploads a random problem at `dtype`; returns tensors and the f32 data.
#[allow(clippy::type_complexity)]
fn upload(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    case: &Case,
    dtype: DType,
) -> (
    (weft::Tensor, weft::Tensor, weft::Tensor),
    (Vec<f32>, Vec<f32>, Vec<f32>),
) {
    let geo = case.geo().unwrap();
    let x = testing::round_to(
        dtype,
        &common::uniform(rng, case.x.iter().product(), -1.0, 1.0),
    );
    let w = testing::round_to(
        dtype,
        &common::uniform(rng, case.w.iter().product(), -1.0, 1.0),
    );
    let b = testing::round_to(dtype, &common::uniform(rng, geo.c_out, -1.0, 1.0));
    let t = (
        dev.upload_f32(&case.x, dtype, &x).unwrap(),
        dev.upload_f32(&case.w, dtype, &w).unwrap(),
        dev.upload_f32(&[geo.c_out], dtype, &b).unwrap(),
    );
    (t, (x, w, b))
}

/// Runs `case` with `variant` on `dev` and checks it against the reference.
fn check_on(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    case: &Case,
    variant: Option<&'static ConvVariant>,
    precision: Precision,
) {
    let dtype = precision.dtype();
    let geo = case.geo().unwrap();
    let ((xt, wt, bt), (x, w, b)) = upload(dev, rng, case, dtype);
    let out = testing::poisoned(dev, &geo.out_shape(), dtype).unwrap();
    let spec = Conv2dSpec {
        params: case.params,
        activation: case.act,
        variant,
        precision: Some(precision),
    };
    conv::conv2d_into(&xt, &wt, case.bias.then_some(&bt), &spec, &out)
        .unwrap_or_else(|e| panic!("{variant:?} {} {case:?}: {e}", precision.name()));
    let chosen =
        variant.unwrap_or_else(|| conv::forward::TABLE.choose(dev, &problem(case, precision)));
    let bias = case.bias.then_some(&b[..]);
    let mut want = reference::conv::conv2d(&geo, &x, &w, bias, case.act);
    if chosen == conv::forward::WINOGRAD {
        want.scale = reference::conv::winograd_scale(&geo, &x, &w, bias, case.act);
    }
    testing::compare(
        &out.to_f32_vec().unwrap(),
        &want,
        dtype,
        bound(&geo, chosen, dtype),
    )
    .unwrap_or_else(|e| panic!("{} {} {case:?}:\n{e}", chosen.name, precision.name()));
}

#[test]
fn auto_picks_a_variant_that_runs() {
    let dev = common::device();
    let mut rng = common::rng(0xa070);
    let mut cases = special_cases();
    cases.push(random_winograd(&mut rng, 50));
    cases.push(Case {
        x: [2, 32, 9, 9],
        w: [16, 32, 3, 3],
        params: params(1, Padding::Same, 1, 1),
        bias: true,
        act: Activation::None,
    });
    cases.push(Case {
        x: [2, 12, 8, 8],
        w: [16, 12, 1, 1],
        params: params(1, Padding::Valid, 1, 1),
        bias: false,
        act: Activation::None,
    });
    for case in &cases {
        for precision in common::precisions(&dev) {
            check_on(&dev, &mut rng, case, None, precision);
        }
    }
}

#[test]
fn batches_split_into_chunks_under_a_small_binding_limit() {
    let dev = common::own_device(Some(256 << 10));
    let mut rng = common::rng(0xc4);
    let case = |x: [usize; 4], w: [usize; 4], params: Conv2dParams| Case {
        x,
        w,
        params,
        bias: true,
        act: Activation::Relu,
    };
    let general = case(
        [12, 3, 40, 40],
        [8, 3, 3, 3],
        params(1, Padding::Same, 1, 1),
    );
    let wino = case(
        [12, 3, 40, 40],
        [4, 3, 3, 3],
        params(1, Padding::Same, 1, 1),
    );
    let one = case(
        [6, 16, 40, 40],
        [8, 16, 1, 1],
        params(1, Padding::Valid, 1, 1),
    );
    // 16 channels of 15x15 outputs: im2col's merged columns, chunk by chunk;
    // the 27-long patch of `padded` is padded to 28.
    let merged = case(
        [12, 8, 15, 15],
        [16, 8, 3, 3],
        params(1, Padding::Same, 1, 1),
    );
    let padded = case(
        [12, 3, 15, 15],
        [16, 3, 3, 3],
        params(1, Padding::Same, 1, 1),
    );
    // y images of 3*63*63 (odd) elements: packed chunks must hold even counts.
    let odd = case(
        [16, 3, 63, 63],
        [3, 3, 3, 3],
        params(1, Padding::Same, 1, 1),
    );
    for (variant, case) in [
        (conv::forward::DIRECT, &general),
        (conv::forward::DIRECT, &odd),
        (conv::forward::IM2COL_GEMM, &general),
        (conv::forward::IM2COL_GEMM, &merged),
        (conv::forward::IM2COL_GEMM, &padded),
        (conv::forward::IMPLICIT_GEMM, &general),
        (conv::forward::IMPLICIT_GEMM, &odd),
        (conv::forward::ONE_BY_ONE, &one),
        (conv::forward::WINOGRAD, &wino),
        (conv::forward::WINOGRAD, &odd),
    ] {
        for precision in common::precisions(&dev) {
            if precision == Precision::F16Packed && variant != conv::forward::DIRECT {
                continue;
            }
            let why = variant.check(&problem(case, precision), dev.caps()).err();
            assert!(
                why.is_none(),
                "{} {}: {why:?}",
                variant.name,
                precision.name()
            );
            let before = dev.dispatch_count();
            check_on(&dev, &mut rng, case, Some(variant), precision);
            // Poisoning the output is one launch, Winograd's weight transform
            // another; then each chunk costs 1 launch (3 for Winograd, 2 for
            // im2col). Two chunks at least:
            let (once, per_chunk) = match variant.name {
                "winograd" => (2, 3),
                "im2col_gemm" => (1, 2),
                _ => (1, 1),
            };
            let launches = dev.dispatch_count() - before;
            assert!(
                launches >= once + 2 * per_chunk,
                "{} {}: {launches} launches, expected several chunks",
                variant.name,
                precision.name()
            );
        }
    }
    dev.check().unwrap();
}

#[test]
fn scratch_bytes_is_the_exact_peak() {
    let big = common::own_device(None);
    let small = common::own_device(Some(256 << 10));
    let mut rng = common::rng(0x5c);
    // The second case has im2col's merged-column output and padded weights.
    let cases = [
        ([10, 3, 32, 32], [8, 3, 3, 3]),
        ([10, 3, 9, 9], [16, 3, 3, 3]),
    ];
    for dev in [&big, &small] {
        for (x, w) in cases {
            let case = Case {
                x,
                w,
                params: params(1, Padding::Explicit([1, 1]), 1, 1),
                bias: false,
                act: Activation::None,
            };
            let geo = case.geo().unwrap();
            for precision in common::precisions(dev) {
                let ((xt, wt, _), _) = upload(dev, &mut rng, &case, precision.dtype());
                let out = dev.empty(&geo.out_shape(), precision.dtype()).unwrap();
                for variant in conv::forward::VARIANTS {
                    let p = problem(&case, precision);
                    if variant.check(&p, dev.caps()).is_err() {
                        continue;
                    }
                    let spec = Conv2dSpec {
                        params: case.params,
                        variant: Some(variant),
                        precision: Some(precision),
                        ..Default::default()
                    };
                    dev.sync().unwrap();
                    dev.reset_peak();
                    let live = dev.pool_stats().live_bytes;
                    conv::conv2d_into(&xt, &wt, None, &spec, &out).unwrap();
                    dev.sync().unwrap();
                    let stats = dev.pool_stats();
                    let expected = variant.scratch_bytes(&p, dev);
                    assert_eq!(
                        stats.peak_live_bytes - live,
                        expected,
                        "{} {}",
                        variant.name,
                        precision.name()
                    );
                    assert_eq!(stats.live_bytes, live, "scratch released");
                    // The implicit GEMM copies its weights for blocks of 4 or
                    // more output channels (this case has 8).
                    let has_scratch = [
                        conv::forward::IM2COL_GEMM,
                        conv::forward::WINOGRAD,
                        conv::forward::IMPLICIT_GEMM,
                    ]
                    .contains(&variant);
                    assert_eq!(expected > 0, has_scratch, "{}", variant.name);
                }
            }
        }
    }
}

#[test]
fn large_grid_folds() {
    // 1 x 1 x 2100 x 2100 outputs of a 1x1 conv: 68,907 direct workgroups of
    // 64, more than one grid dimension holds.
    let dev = common::device();
    let mut rng = common::rng(0x6e);
    let case = Case {
        x: [1, 1, 2100, 2100],
        w: [1, 1, 1, 1],
        params: params(1, Padding::Valid, 1, 1),
        bias: true,
        act: Activation::None,
    };
    let outputs = 2100 * 2100;
    assert!(outputs / 64 > 65_535);
    check_on(
        &dev,
        &mut rng,
        &case,
        Some(conv::forward::DIRECT),
        Precision::F32,
    );
    check_on(
        &dev,
        &mut rng,
        &case,
        Some(conv::forward::DIRECT),
        Precision::F16Packed,
    );
}

#[test]
fn degenerate_problems() {
    let dev = common::device();
    let mut rng = common::rng(0xde);
    // Empty batch: nothing to do.
    let x = dev.empty(&[0, 3, 5, 5], DType::F32).unwrap();
    let w = dev.tensor(&[2, 3, 3, 3], &[0.5; 54]).unwrap();
    let y = conv::conv2d(&x, &w, None, &Conv2dSpec::default()).unwrap();
    assert_eq!(y.shape(), [0, 2, 3, 3]);
    // No input channels: every output is the bias, through the activation.
    let case = Case {
        x: [2, 0, 3, 3],
        w: [4, 0, 3, 3],
        params: params(1, Padding::Same, 1, 1),
        bias: true,
        act: Activation::Relu,
    };
    for precision in common::precisions(&dev) {
        check_on(&dev, &mut rng, &case, None, precision);
        for v in [conv::forward::IMPLICIT_GEMM, conv::forward::IM2COL_GEMM] {
            assert!(v.check(&problem(&case, precision), dev.caps()).is_err());
        }
    }
}

fn expect_err(result: weft::Result<weft::Tensor>, shape: bool, needle: &str) {
    let err = result.expect_err("expected an error");
    if shape {
        assert!(matches!(err, Error::Shape { .. }), "{err}");
    } else {
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }
    let msg = err.to_string();
    assert!(msg.starts_with("conv2d"), "{msg}");
    assert!(msg.contains(needle), "{msg} lacks {needle:?}");
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let t = |shape: &[usize]| {
        let n: usize = shape.iter().product();
        dev.tensor(shape, &vec![0.25; n]).unwrap()
    };
    let x = t(&[1, 3, 8, 8]);
    let spec = Conv2dSpec::default();
    // Channel mismatch.
    expect_err(
        conv::conv2d(&x, &t(&[4, 6, 3, 3]), None, &spec),
        true,
        "expected 6 input channels",
    );
    // Groups not dividing the channels.
    let grouped = Conv2dSpec {
        params: params(1, Padding::Valid, 1, 2),
        ..spec
    };
    expect_err(
        conv::conv2d(&x, &t(&[4, 1, 3, 3]), None, &grouped),
        false,
        "divisible by groups",
    );
    // Zero stride.
    let zero = Conv2dSpec {
        params: params(0, Padding::Valid, 1, 1),
        ..spec
    };
    expect_err(
        conv::conv2d(&x, &t(&[4, 3, 3, 3]), None, &zero),
        false,
        "stride",
    );
    // Kernel larger than the padded input.
    expect_err(
        conv::conv2d(&x, &t(&[4, 3, 9, 3]), None, &spec),
        false,
        "larger than the padded input",
    );
    // Bias of the wrong length.
    expect_err(
        conv::conv2d(&x, &t(&[4, 3, 3, 3]), Some(&t(&[5])), &spec),
        true,
        "bias: expected [4]",
    );
    // Input of the wrong rank, weight of another dtype.
    expect_err(
        conv::conv2d(&t(&[3, 8, 8]), &t(&[4, 3, 3, 3]), None, &spec),
        true,
        "4-D",
    );
    let w16 = dev
        .upload_f32(&[4, 3, 3, 3], DType::F16, &[0.5; 108])
        .unwrap();
    expect_err(
        conv::conv2d(&x, &w16, None, &spec),
        true,
        "share a float dtype",
    );
    // Unsupported variants requested explicitly.
    let w = t(&[4, 3, 3, 3]);
    for (variant, needle) in [
        (conv::forward::ONE_BY_ONE, "needs a 1x1 kernel"),
        (conv::forward::WINOGRAD, "F(2x2, 3x3)"),
    ] {
        let s = Conv2dSpec {
            params: params(2, Padding::Valid, 1, 1),
            variant: Some(variant),
            ..spec
        };
        expect_err(conv::conv2d(&x, &w, None, &s), false, needle);
    }
    let s = Conv2dSpec {
        params: params(1, Padding::Same, 1, 3),
        variant: Some(conv::forward::WINOGRAD),
        ..spec
    };
    expect_err(
        conv::conv2d(&x, &t(&[3, 1, 3, 3]), None, &s),
        false,
        "groups = 1",
    );
    let x16 = dev
        .upload_f32(&[1, 3, 8, 8], DType::F16, &[0.5; 192])
        .unwrap();
    let s = Conv2dSpec {
        variant: Some(conv::forward::IMPLICIT_GEMM),
        precision: Some(Precision::F16Packed),
        ..spec
    };
    expect_err(
        conv::conv2d(&x16, &w16, None, &s),
        false,
        "has no f16-packed kernel",
    );
    // A precision that does not match the tensors.
    let s = Conv2dSpec {
        precision: Some(Precision::F16),
        ..spec
    };
    expect_err(conv::conv2d(&x, &w, None, &s), false, "precision");
    // Output of the wrong shape, or aliasing the input.
    let out = t(&[1, 4, 5, 5]);
    let err = conv::conv2d_into(&x, &w, None, &spec, &out).unwrap_err();
    assert!(
        err.to_string().contains("output: expected [1, 4, 6, 6]"),
        "{err}"
    );
    let xy = t(&[1, 4, 6, 6]);
    let err = conv::conv2d_into(
        &xy.reshape(&[1, 4, 6, 6]).unwrap(),
        &t(&[4, 4, 1, 1]),
        None,
        &spec,
        &xy,
    )
    .unwrap_err();
    assert!(err.to_string().contains("shares storage"), "{err}");
    dev.check().unwrap();
}
