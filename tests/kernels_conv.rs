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

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature, LimitOverrides};
use weft::kernels::conv::{self, Conv2dSpec, ConvVariant};
use weft::kernels::conv_params::{Conv2dGeometry, Conv2dParams, Padding};
use weft::kernels::reference::{self, RefOut};
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
        fused(case([1, 7, 13, 33], [13, 7, 3, 3], params(1, e(1), 1, 1)), Activation::Gelu),
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
        fused(case([1, 8, 14, 14], [16, 8, 1, 1], params(2, e(0), 1, 1)), Activation::LeakyRelu(0.1)),
        case([1, 3, 33, 33], [8, 3, 7, 7], params(2, e(3), 1, 1)),
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
        let groups = if depthwise { rng.random_range(2..9) } else { groups };
        let cout_g = if depthwise { rng.random_range(1..3) } else { rng.random_range(1..11) };
        let k = [1, 1, 2, 3, 3, 3, 4, 5][rng.random_range(0..8)];
        let (kh, kw) = if rng.random_bool(0.2) { (k, rng.random_range(1..6)) } else { (k, k) };
        let stride = [1, 1, 1, 2, 2, 3][rng.random_range(0..6)];
        let dilation = if rng.random_bool(0.15) { 2 } else { 1 };
        let case = Case {
            x: [rng.random_range(1..4), cin_g * groups, dim(rng, 20), dim(rng, 20)],
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
    let groups = if rng.random_bool(0.25) { rng.random_range(2..4) } else { 1 };
    let (n, h, w) = match i {
        0 => (1, 1, 1),
        1 => (1, 7, 13),
        2 => (2, 33, 1),
        _ => (rng.random_range(1..4), dim(rng, 24), dim(rng, 24)),
    };
    Case {
        x: [n, groups * rng.random_range(1..12), h, w],
        w: [groups * rng.random_range(1..12), 0, 1, 1],
        params: params(1, if rng.random_bool(0.3) { Padding::Valid } else { Padding::Explicit([0, 0]) }, 1, groups),
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
            _ => (rng.random_range(1..4), rng.random_range(1..12), dim(rng, 20), dim(rng, 20)),
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

/// The problems a variant is tested on.
fn cases(variant: ConvVariant, rng: &mut ChaCha8Rng) -> Vec<Case> {
    match variant {
        ConvVariant::OneByOne => (0..100).map(|i| random_one_by_one(rng, i)).collect(),
        ConvVariant::Winograd => (0..100).map(|i| random_winograd(rng, i)).collect(),
        _ => {
            let mut v = special_cases();
            while v.len() < 100 {
                v.push(random_general(rng));
            }
            v
        }
    }
}

/// Runs one problem; `Ok(None)` when the variant does not accept it.
fn run_case(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    case: &Case,
    variant: ConvVariant,
    precision: Precision,
) -> Result<Option<f64>, String> {
    let dtype = precision.dtype();
    let geo = case.geo().expect("cases are valid");
    if variant.unsupported(dev, &geo, precision).is_some() {
        return Ok(None);
    }
    let nx: usize = case.x.iter().product();
    let nw: usize = case.w.iter().product();
    let x = testing::round_to(dtype, &common::uniform(rng, nx, -1.0, 1.0));
    let w = testing::round_to(dtype, &common::uniform(rng, nw, -1.0, 1.0));
    let b = testing::round_to(dtype, &common::uniform(rng, geo.c_out, -1.0, 1.0));
    let xt = dev.upload_f32(&case.x, dtype, &x).unwrap();
    let wt = dev.upload_f32(&case.w, dtype, &w).unwrap();
    let bt = dev.upload_f32(&[geo.c_out], dtype, &b).unwrap();
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
    let c = bound(&geo, variant, dtype);
    if variant == ConvVariant::Winograd {
        want = RefOut {
            scale: reference::conv::winograd_scale(&geo, &x, &w, bias_ref, case.act),
            value: want.value,
        };
    }
    testing::compare(&got, &want, dtype, c).map(|r| Some(r.max_err_eps))
}

/// The error bound c of the module doc.
fn bound(geo: &Conv2dGeometry, variant: ConvVariant, dtype: DType) -> f64 {
    match (variant, dtype) {
        (ConvVariant::Winograd, DType::F16) => 3.0,
        (ConvVariant::Winograd, _) => 2.0 * (geo.c_in as f64).sqrt() + 16.0,
        (_, DType::F16) => 2.0,
        _ => 2.0 * (geo.patch_len() as f64).sqrt() + 4.0,
    }
}

fn check_variant(variant: ConvVariant, precision: Precision) {
    let dev = common::device();
    if precision == Precision::F16 && !dev.has(Feature::ShaderF16) {
        eprintln!("adapter has no shader-f16; skipping native f16");
        return;
    }
    let mut rng = common::rng(0xc0de + variant as u64);
    let cases = cases(variant, &mut rng);
    let (mut ran, mut worst) = (0, 0.0f64);
    for (i, case) in cases.iter().enumerate() {
        match run_case(&dev, &mut rng, case, variant, precision) {
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
        "{} {}: {ran} problems, worst error {worst:.2} eps*scale, {} pipelines compiled so far",
        variant.name(),
        precision.name(),
        dev.pipelines_compiled()
    );
    assert!(ran >= 100, "only {ran} problems were supported");
}

#[test]
fn direct_f32() {
    check_variant(ConvVariant::Direct, Precision::F32)
}
#[test]
fn direct_f16() {
    check_variant(ConvVariant::Direct, Precision::F16)
}
#[test]
fn direct_f16_packed() {
    check_variant(ConvVariant::Direct, Precision::F16Packed)
}
#[test]
fn im2col_gemm_f32() {
    check_variant(ConvVariant::Im2colGemm, Precision::F32)
}
#[test]
fn im2col_gemm_f16() {
    check_variant(ConvVariant::Im2colGemm, Precision::F16)
}
#[test]
fn implicit_gemm_f32() {
    check_variant(ConvVariant::ImplicitGemm, Precision::F32)
}
#[test]
fn implicit_gemm_f16() {
    check_variant(ConvVariant::ImplicitGemm, Precision::F16)
}
#[test]
fn one_by_one_f32() {
    check_variant(ConvVariant::OneByOne, Precision::F32)
}
#[test]
fn one_by_one_f16() {
    check_variant(ConvVariant::OneByOne, Precision::F16)
}
#[test]
fn winograd_f32() {
    check_variant(ConvVariant::Winograd, Precision::F32)
}
#[test]
fn winograd_f16() {
    check_variant(ConvVariant::Winograd, Precision::F16)
}
