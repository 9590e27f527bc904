//! Gradients of conv2d and conv_transpose2d.
//!
//! 1. The f64 references pass central finite-difference checks: for 24 small
//!    random problems per gradient (groups, dilation, stride, asymmetric
//!    `padding="same"`, output_padding), every element θᵢ of x, w and b is
//!    perturbed by ±h in f64 and (f(θ+h) − f(θ−h))/2h of f = ⟨dy, y⟩ must match
//!    the reference gradient to a relative error of 1e-6. The transposed
//!    convolution's reference is also checked to be conv2d's data gradient
//!    (PyTorch defines it so).
//! 2. Every GPU gradient at every precision (f32, native f16, packed f16)
//!    against its reference over 100 random problems (N = 1, 1×1 images and
//!    kernels, kernel equal to the input, stride larger than the kernel, odd
//!    sizes, channels not multiples of 4, groups and depthwise), outputs
//!    poisoned with NaN first (through the `_into` forms; the allocating forms
//!    call them).
//!
//! Bound: |gpu − ref| ≤ c·ε·scale, scale = Σ|terms| of each gradient element.
//! f32: c = 2·√K + 4 with K the number of summed terms (C_out/groups·KH·KW for
//! the data gradients, N·OH·OW for dw and db). f16: c = 2 (f16 inputs, f32
//! accumulation, one rounding of the result to f16 — at most ½ ulp — plus the
//! f32 sums). Also: f16 sums whose partial sums pass 65504 stay finite and
//! exact, scratch sizes match the pool's measured peak, results are bitwise
//! deterministic, launches past 65,535 workgroups, and typed errors.

mod common;

use common::sweep::Counts;
use common::upload;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature};
use weft::kernels::conv::backward as cb;
use weft::kernels::conv::backward::data::DataGradProblem;
use weft::kernels::conv::backward::weight::{WeightGrad, WeightGradProblem};
use weft::kernels::conv::params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams, Padding,
};
use weft::kernels::reference::{RefOut, conv_backward as rcb, conv_transpose as rct};
use weft::kernels::{Activation, Precision, testing};
use weft::{DType, Device, Error, Tensor};

// ---------------------------------------------------------------- problems

#[derive(Debug, Clone)]
struct ConvCase {
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    params: Conv2dParams,
}

#[derive(Debug, Clone)]
struct TransCase {
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    params: ConvTranspose2dParams,
}

impl ConvCase {
    fn geo(&self) -> Conv2dGeometry {
        Conv2dGeometry::new("test", &self.x_shape, &self.w_shape, &self.params).unwrap()
    }
}

impl TransCase {
    fn geo(&self) -> ConvTranspose2dGeometry {
        ConvTranspose2dGeometry::new("test", &self.x_shape, &self.w_shape, &self.params).unwrap()
    }
}

/// Channels per group and group count: plain, grouped or depthwise.
fn channels(rng: &mut ChaCha8Rng, max_g: usize) -> (usize, usize, usize) {
    match rng.random_range(0..6) {
        0..=2 => (1, rng.random_range(1..max_g), rng.random_range(1..max_g)),
        3 | 4 => (
            rng.random_range(2..4),
            rng.random_range(1..max_g / 2 + 1),
            rng.random_range(1..max_g / 2 + 1),
        ),
        _ => (rng.random_range(2..6), 1, rng.random_range(1..3)),
    }
}

fn dim(rng: &mut ChaCha8Rng, max: usize) -> usize {
    if rng.random_bool(0.15) {
        [1, 7, 13][rng.random_range(0..3)].min(max)
    } else {
        rng.random_range(1..max + 1)
    }
}

/// A random conv2d problem: explicit, 'valid' or 'same' (asymmetric with even
/// kernels) padding, stride, dilation, groups. `small` keeps it tiny for the
/// finite-difference checks.
fn conv_case(rng: &mut ChaCha8Rng, i: usize, small: bool) -> ConvCase {
    let special: [ConvCase; 9] = [
        // 1x1 image and kernel, N = 1.
        ConvCase {
            x_shape: [1, 1, 1, 1],
            w_shape: [1, 1, 1, 1],
            params: Conv2dParams::default(),
        },
        // Kernel as large as the input.
        ConvCase {
            x_shape: [2, 3, 5, 5],
            w_shape: [5, 3, 5, 5],
            params: Conv2dParams::default(),
        },
        // Stride larger than the kernel: some inputs get no gradient.
        ConvCase {
            x_shape: [1, 2, 7, 13],
            w_shape: [3, 2, 2, 2],
            params: Conv2dParams {
                stride: [3, 3],
                ..Default::default()
            },
        },
        // 'same' with an even kernel and dilation: pad [1, 2, 2, 2].
        ConvCase {
            x_shape: [1, 2, 9, 7],
            w_shape: [4, 2, 4, 3],
            params: Conv2dParams {
                padding: Padding::Same,
                dilation: [1, 2],
                ..Default::default()
            },
        },
        // Depthwise, stride 2, padding 1.
        ConvCase {
            x_shape: [2, 5, 13, 7],
            w_shape: [5, 1, 3, 3],
            params: Conv2dParams {
                stride: [2, 2],
                padding: Padding::Explicit([1, 1]),
                groups: 5,
                ..Default::default()
            },
        },
        // Grouped, channels not multiples of 4.
        ConvCase {
            x_shape: [1, 6, 8, 9],
            w_shape: [9, 2, 3, 3],
            params: Conv2dParams {
                padding: Padding::Explicit([1, 1]),
                groups: 3,
                ..Default::default()
            },
        },
        // 1x1 convolution with stride 2 (ResNet's downsampling shortcut).
        ConvCase {
            x_shape: [2, 8, 7, 7],
            w_shape: [12, 8, 1, 1],
            params: Conv2dParams {
                stride: [2, 2],
                ..Default::default()
            },
        },
        // Odd sizes 33 and 13.
        ConvCase {
            x_shape: [1, 3, 33, 13],
            w_shape: [5, 3, 3, 3],
            params: Conv2dParams {
                padding: Padding::Explicit([1, 1]),
                ..Default::default()
            },
        },
        // LeNet's first layer, one image.
        ConvCase {
            x_shape: [1, 1, 28, 28],
            w_shape: [6, 1, 5, 5],
            params: Conv2dParams::default(),
        },
    ];
    if i < special.len() && !small {
        return special[i].clone();
    }
    let max_c = if small { 4 } else { 9 };
    let max_hw = if small { 6 } else { 12 };
    loop {
        let (groups, cin_g, cout_g) = channels(rng, max_c);
        let (kh, kw) = (rng.random_range(1..5), rng.random_range(1..5));
        let dilation = if rng.random_bool(0.3) {
            [rng.random_range(1..3), rng.random_range(1..4)]
        } else {
            [1, 1]
        };
        let (stride, padding) = match rng.random_range(0..4) {
            0 => ([1, 1], Padding::Same),
            1 => (
                [rng.random_range(1..4), rng.random_range(1..4)],
                Padding::Valid,
            ),
            _ => (
                [rng.random_range(1..4), rng.random_range(1..4)],
                Padding::Explicit([rng.random_range(0..3), rng.random_range(0..3)]),
            ),
        };
        let case = ConvCase {
            x_shape: [
                rng.random_range(1..4),
                groups * cin_g,
                dim(rng, max_hw),
                dim(rng, max_hw),
            ],
            w_shape: [groups * cout_g, cin_g, kh, kw],
            params: Conv2dParams {
                stride,
                padding,
                dilation,
                groups,
            },
        };
        if Conv2dGeometry::new("t", &case.x_shape, &case.w_shape, &case.params).is_ok() {
            return case;
        }
    }
}

/// A random conv_transpose2d problem with output_padding.
fn trans_case(rng: &mut ChaCha8Rng, i: usize, small: bool) -> TransCase {
    let p = |s: usize, pad: usize, op: usize, d: usize, g: usize| ConvTranspose2dParams {
        stride: [s, s],
        padding: [pad, pad],
        output_padding: [op, op],
        dilation: [d, d],
        groups: g,
    };
    let special: [TransCase; 7] = [
        TransCase {
            x_shape: [1, 1, 1, 1],
            w_shape: [1, 1, 1, 1],
            params: p(1, 0, 0, 1, 1),
        },
        TransCase {
            x_shape: [2, 3, 1, 1],
            w_shape: [3, 5, 3, 3],
            params: p(2, 0, 1, 1, 1),
        },
        TransCase {
            x_shape: [1, 3, 4, 5],
            w_shape: [3, 2, 2, 2],
            params: p(3, 0, 2, 1, 1),
        },
        TransCase {
            x_shape: [2, 6, 13, 7],
            w_shape: [6, 3, 3, 2],
            params: p(2, 1, 1, 1, 3),
        },
        TransCase {
            x_shape: [1, 5, 7, 7],
            w_shape: [5, 1, 3, 3],
            params: p(2, 1, 1, 1, 5),
        },
        // Odd sizes 13 and 33.
        TransCase {
            x_shape: [1, 2, 13, 33],
            w_shape: [2, 3, 3, 3],
            params: p(2, 1, 1, 1, 1),
        },
        // output_padding ≥ stride (allowed below the dilation).
        TransCase {
            x_shape: [1, 2, 6, 5],
            w_shape: [2, 3, 3, 2],
            params: p(1, 0, 2, 3, 1),
        },
    ];
    if i < special.len() && !small {
        return special[i].clone();
    }
    let max_c = if small { 4 } else { 9 };
    let max_hw = if small { 5 } else { 10 };
    loop {
        let (groups, cin_g, cout_g) = channels(rng, max_c);
        let (kh, kw) = (rng.random_range(1..5), rng.random_range(1..5));
        let stride = [rng.random_range(1..4), rng.random_range(1..4)];
        let dilation = if rng.random_bool(0.3) {
            [rng.random_range(1..4), rng.random_range(1..3)]
        } else {
            [1, 1]
        };
        let params = ConvTranspose2dParams {
            stride,
            padding: [
                rng.random_range(0..dilation[0] * (kh - 1) + 1),
                rng.random_range(0..dilation[1] * (kw - 1) + 1),
            ],
            output_padding: [
                rng.random_range(0..stride[0].max(dilation[0])),
                rng.random_range(0..stride[1].max(dilation[1])),
            ],
            dilation,
            groups,
        };
        let case = TransCase {
            x_shape: [
                rng.random_range(1..4),
                groups * cin_g,
                dim(rng, max_hw),
                dim(rng, max_hw),
            ],
            w_shape: [groups * cin_g, cout_g, kh, kw],
            params,
        };
        if ConvTranspose2dGeometry::new("t", &case.x_shape, &case.w_shape, &case.params).is_ok() {
            return case;
        }
    }
}

// ------------------------------------------------------ finite differences

const FD_PROBLEMS: usize = 24;

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Checks `grad` against central differences of `f` at `theta` (in f64);
/// returns the worst relative error.
fn fd_check(what: &str, theta: &[f64], grad: &RefOut, f: impl Fn(&[f64]) -> f64) -> f64 {
    assert_eq!(theta.len(), grad.len(), "{what}: gradient length");
    let h = 1e-3;
    let mut worst = 0.0f64;
    let mut t = theta.to_vec();
    for i in 0..theta.len() {
        t[i] = theta[i] + h;
        let up = f(&t);
        t[i] = theta[i] - h;
        let down = f(&t);
        t[i] = theta[i];
        let fd = (up - down) / (2.0 * h);
        let g = grad.value[i];
        let rel = (fd - g).abs() / g.abs().max(fd.abs()).max(1e-6);
        assert!(
            rel <= 1e-6,
            "{what}[{i}]: finite difference {fd:e}, reference gradient {g:e} (relative error {rel:e})"
        );
        worst = worst.max(rel);
    }
    worst
}

#[test]
fn conv2d_references_match_finite_differences() {
    let mut rng = common::rng(0xfd01);
    let mut worst = 0.0f64;
    // groups, dilation, stride, asymmetric 'same' padding
    let mut seen = [false; 4];
    for i in 0..FD_PROBLEMS {
        let case = conv_case(&mut rng, i, true);
        let geo = case.geo();
        seen[0] |= geo.groups > 1;
        seen[1] |= geo.dilation != [1, 1];
        seen[2] |= geo.stride != [1, 1];
        seen[3] |= geo.pad[0] != geo.pad[2] || geo.pad[1] != geo.pad[3];
        let nx: usize = case.x_shape.iter().product();
        let nw: usize = case.w_shape.iter().product();
        let ny: usize = geo.out_shape().iter().product();
        let x = common::uniform(&mut rng, nx, -1.0, 1.0);
        let w = common::uniform(&mut rng, nw, -1.0, 1.0);
        let b = common::uniform(&mut rng, geo.c_out, -1.0, 1.0);
        let dy = common::uniform(&mut rng, ny, -1.0, 1.0);
        let (x64, w64, b64, dy64) = (to_f64(&x), to_f64(&w), to_f64(&b), to_f64(&dy));
        let what = format!("case {i} {case:?}");
        worst = worst.max(fd_check(
            &format!("{what} dx"),
            &x64,
            &rcb::conv2d_backward_data(&geo, &dy, &w),
            |xp| dot(&dy64, &rcb::conv2d_f64(&geo, xp, &w64, Some(&b64))),
        ));
        worst = worst.max(fd_check(
            &format!("{what} dw"),
            &w64,
            &rcb::conv2d_backward_weight(&geo, &x, &dy),
            |wp| dot(&dy64, &rcb::conv2d_f64(&geo, &x64, wp, Some(&b64))),
        ));
        worst = worst.max(fd_check(
            &format!("{what} db"),
            &b64,
            &rcb::conv2d_backward_bias(&geo, &dy),
            |bp| dot(&dy64, &rcb::conv2d_f64(&geo, &x64, &w64, Some(bp))),
        ));
    }
    eprintln!("conv2d: {FD_PROBLEMS} problems, worst relative error {worst:.2e}");
    assert_eq!(
        seen, [true; 4],
        "groups, dilation, stride, asymmetric padding"
    );
}

#[test]
fn conv_transpose2d_references_match_finite_differences() {
    let mut rng = common::rng(0xfd02);
    let mut worst = 0.0f64;
    // groups, dilation, stride, padding, output_padding
    let mut seen = [false; 5];
    for i in 0..FD_PROBLEMS {
        let case = trans_case(&mut rng, i, true);
        let geo = case.geo();
        seen[0] |= geo.groups > 1;
        seen[1] |= geo.dilation != [1, 1];
        seen[2] |= geo.stride != [1, 1];
        seen[3] |= geo.padding != [0, 0];
        seen[4] |= geo.output_padding != [0, 0];
        let nx: usize = case.x_shape.iter().product();
        let nw: usize = case.w_shape.iter().product();
        let ny: usize = geo.out_shape().iter().product();
        let x = common::uniform(&mut rng, nx, -1.0, 1.0);
        let w = common::uniform(&mut rng, nw, -1.0, 1.0);
        let b = common::uniform(&mut rng, geo.c_out, -1.0, 1.0);
        let dy = common::uniform(&mut rng, ny, -1.0, 1.0);
        let (x64, w64, b64, dy64) = (to_f64(&x), to_f64(&w), to_f64(&b), to_f64(&dy));
        let what = format!("case {i} {case:?}");
        worst = worst.max(fd_check(
            &format!("{what} dx"),
            &x64,
            &rcb::conv_transpose2d_backward_data(&geo, &dy, &w),
            |xp| {
                dot(
                    &dy64,
                    &rct::conv_transpose2d_f64(&geo, xp, &w64, Some(&b64)),
                )
            },
        ));
        worst = worst.max(fd_check(
            &format!("{what} dw"),
            &w64,
            &rcb::conv_transpose2d_backward_weight(&geo, &x, &dy),
            |wp| {
                dot(
                    &dy64,
                    &rct::conv_transpose2d_f64(&geo, &x64, wp, Some(&b64)),
                )
            },
        ));
        // The bias gradient is the same channel sum as conv2d's.
        let db: Vec<f64> = (0..geo.c_out)
            .map(|c| {
                dy64.iter()
                    .enumerate()
                    .filter(|(k, _)| (k / (geo.oh * geo.ow)) % geo.c_out == c)
                    .map(|(_, v)| v)
                    .sum()
            })
            .collect();
        let db = RefOut {
            scale: db.iter().map(|v| v.abs()).collect(),
            value: db,
        };
        worst = worst.max(fd_check(&format!("{what} db"), &b64, &db, |bp| {
            dot(
                &dy64,
                &rct::conv_transpose2d_f64(&geo, &x64, &w64, Some(bp)),
            )
        }));
    }
    eprintln!("conv_transpose2d: {FD_PROBLEMS} problems, worst relative error {worst:.2e}");
    assert_eq!(
        seen, [true; 5],
        "groups, dilation, stride, padding, output_padding"
    );
}

/// conv_transpose2d(dy, w) with the conv's stride, padding and dilation, and
/// the output_padding that restores the input size, is conv2d's data gradient.
#[test]
fn transposed_convolution_is_the_conv2d_data_gradient() {
    let mut rng = common::rng(0xfd03);
    let mut checked = 0;
    for i in 0..60 {
        let case = conv_case(&mut rng, i, true);
        let geo = case.geo();
        if geo.pad[0] != geo.pad[2] || geo.pad[1] != geo.pad[3] {
            continue;
        }
        let full = |a: usize| {
            (geo.out_shape()[2 + a] - 1) * geo.stride[a]
                + geo.dilation[a] * ([geo.kh, geo.kw][a] - 1)
                + 1
                - 2 * [geo.pad[0], geo.pad[1]][a]
        };
        let op = [geo.h - full(0), geo.w - full(1)];
        let params = ConvTranspose2dParams {
            stride: geo.stride,
            padding: [geo.pad[0], geo.pad[1]],
            output_padding: op,
            dilation: geo.dilation,
            groups: geo.groups,
        };
        let Ok(tgeo) = ConvTranspose2dGeometry::new("t", &geo.out_shape(), &case.w_shape, &params)
        else {
            continue; // output_padding too large for PyTorch's rule
        };
        assert_eq!(tgeo.out_shape(), geo.in_shape());
        let ny: usize = geo.out_shape().iter().product();
        let nw: usize = case.w_shape.iter().product();
        let dy = common::uniform(&mut rng, ny, -1.0, 1.0);
        let w = common::uniform(&mut rng, nw, -1.0, 1.0);
        let a = rcb::conv2d_backward_data(&geo, &dy, &w);
        let b = rct::conv_transpose2d(&tgeo, &dy, &w, None, Activation::None);
        for (u, v) in a.value.iter().zip(&b.value) {
            assert!((u - v).abs() <= 1e-12, "{case:?}: {u} vs {v}");
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} problems");
}

// ------------------------------------------------------------- GPU kernels

const GPU_PROBLEMS: usize = 100;

fn skip(dev: &Device, precision: Precision) -> bool {
    if precision == Precision::F16 && !dev.has(Feature::ShaderF16) {
        eprintln!("adapter has no shader-f16; skipping native f16");
        return true;
    }
    false
}

/// Runs `check` over the problems of a single-kernel gradient, panicking with
/// the problem on failure.
fn check_all<C: std::fmt::Debug>(
    what: &str,
    precision: Precision,
    cases: impl Iterator<Item = C>,
    mut check: impl FnMut(&C) -> Result<f64, String>,
) {
    let (mut ran, mut worst) = (0, 0.0f64);
    for (i, case) in cases.enumerate() {
        match check(&case) {
            Ok(e) => {
                ran += 1;
                worst = worst.max(e);
            }
            Err(msg) => panic!("{what} {} case {i} {case:?}:\n{msg}", precision.name()),
        }
    }
    eprintln!(
        "{what} {}: {ran} problems, worst error {worst:.2} eps*scale",
        precision.name()
    );
    assert!(ran >= GPU_PROBLEMS);
}

/// A random problem with stride 1, padding within the kernel's extent and a
/// kernel larger than 1x1: what the `forward_conv` data gradient accepts.
fn stride1_case(rng: &mut ChaCha8Rng) -> ConvCase {
    loop {
        let mut case = conv_case(rng, usize::MAX, false);
        case.params.stride = [1, 1];
        let ext = [
            case.params.dilation[0] * (case.w_shape[2] - 1),
            case.params.dilation[1] * (case.w_shape[3] - 1),
        ];
        if let Padding::Explicit([ph, pw]) = case.params.padding {
            case.params.padding = Padding::Explicit([ph.min(ext[0]), pw.min(ext[1])]);
        }
        if case.w_shape[2] * case.w_shape[3] > 1
            && Conv2dGeometry::new("t", &case.x_shape, &case.w_shape, &case.params).is_ok()
        {
            return case;
        }
    }
}

/// A stride-1 problem the `forward_winograd` row accepts: 3x3, dilation 1,
/// groups 1.
fn winograd_case(rng: &mut ChaCha8Rng) -> ConvCase {
    loop {
        let mut case = stride1_case(rng);
        case.w_shape[2] = 3;
        case.w_shape[3] = 3;
        case.params.dilation = [1, 1];
        case.params.groups = 1;
        case.w_shape[1] = case.x_shape[1];
        if let Padding::Explicit([ph, pw]) = case.params.padding {
            case.params.padding = Padding::Explicit([ph.min(2), pw.min(2)]);
        }
        if Conv2dGeometry::new("t", &case.x_shape, &case.w_shape, &case.params).is_ok() {
            return case;
        }
    }
}

/// The Winograd data gradient's scale: that of the forward Winograd
/// convolution it runs, dy with the rotated, channel-swapped weights.
fn winograd_data_scale(geo: &Conv2dGeometry, dy: &[f32], w: &[f32]) -> Vec<f64> {
    let (ci, co) = (geo.c_in, geo.c_out);
    let mut wf = vec![0.0f32; w.len()];
    for o in 0..co {
        for i in 0..ci {
            for t in 0..9 {
                wf[(i * co + o) * 9 + t] = w[(o * ci + i) * 9 + 8 - t];
            }
        }
    }
    let [pt, pl, pb, pr] = geo.pad;
    let dgeo = Conv2dGeometry {
        n: geo.n,
        c_in: co,
        h: geo.oh,
        w: geo.ow,
        c_out: ci,
        kh: 3,
        kw: 3,
        stride: [1, 1],
        dilation: [1, 1],
        pad: [2 - pt, 2 - pl, 2 - pb, 2 - pr],
        groups: 1,
        oh: geo.h,
        ow: geo.w,
    };
    weft::kernels::reference::conv::winograd_scale(&dgeo, dy, &wf, None, Activation::None)
}

/// Every row of the data-gradient table: 100 random problems (what the
/// `transposed` row runs), then 100 the `forward_conv` row accepts and 100
/// for `forward_winograd`, compared against its own scale (Σ of the
/// transformed terms) with kernels_conv.rs's Winograd bound: f32
/// c = 2·√C_out + 16 (the forward convolution's input channels), f16 c = 3.
fn data_sweep(precision: Precision) {
    let dev = common::device();
    let dtype = precision.dtype();
    let mut rng = common::rng(0xb001);
    let mut cases: Vec<ConvCase> = (0..GPU_PROBLEMS)
        .map(|i| conv_case(&mut rng, i, false))
        .collect();
    cases.extend((0..GPU_PROBLEMS).map(|_| stride1_case(&mut rng)));
    cases.extend((0..GPU_PROBLEMS).map(|_| winograd_case(&mut rng)));
    common::sweep::sweep(
        &cb::data::TABLE,
        precision,
        &cases,
        Counts::at_least_100(GPU_PROBLEMS),
        |case| DataGradProblem {
            geo: case.geo(),
            precision,
        },
        |variant, _, case| {
            let geo = case.geo();
            let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
            let (w, wt) = upload(&dev, &mut rng, &case.w_shape, dtype);
            let dx = testing::poisoned(&dev, &case.x_shape, dtype).unwrap();
            cb::conv2d_backward_data_by(&dyt, &wt, &case.params, variant, Some(precision), &dx)
                .map_err(|e| e.to_string())?;
            let mut want = rcb::conv2d_backward_data(&geo, &dy, &w);
            let k = geo.cout_g() * geo.kh * geo.kw;
            let mut c = common::sum_bound(dtype, k);
            if variant == cb::data::FORWARD_WINOGRAD {
                want.scale = winograd_data_scale(&geo, &dy, &w);
                c = match dtype {
                    DType::F16 => 3.0,
                    _ => 2.0 * (geo.c_out as f64).sqrt() + 16.0,
                };
            }
            testing::compare(&dx.to_f32_vec().unwrap(), &want, dtype, c).map(|r| r.max_err_eps)
        },
    );
}

/// A weight-gradient problem: of a convolution or of a transposed one.
#[derive(Debug, Clone)]
enum WeightCase {
    Conv(ConvCase),
    Trans(TransCase),
}

impl WeightCase {
    fn grad(&self) -> WeightGrad {
        match self {
            WeightCase::Conv(c) => WeightGrad::conv2d(&c.geo()),
            WeightCase::Trans(t) => WeightGrad::conv_transpose2d(&t.geo()),
        }
    }
}

/// The Winograd weight gradient's bound in units of ε·scale (its own scale,
/// `rcb::winograd_weight_scale`): the reduction runs over N·⌈H/2⌉·⌈W/2⌉
/// tiles, and the transforms round a few times more.
fn winograd_bound(wg: &WeightGrad) -> f64 {
    let tiles = wg.n * wg.a_h.div_ceil(2) * wg.a_w.div_ceil(2);
    2.0 * (tiles as f64).sqrt() + 16.0
}

/// Panics unless two runs gave the same bits.
fn assert_same_bits(got: &[f32], again: &[f32], what: &impl std::fmt::Debug) {
    assert!(
        got.iter()
            .zip(again)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "{what:?}: not bitwise repeatable"
    );
}

/// Every row of the weight-gradient table: 100 convolutions and 100
/// transposed convolutions (what `implicit_gemm` runs), then 100
/// convolutions of unit column stride and dilation (most of which
/// `sliding_window` accepts) and 100 that `winograd` accepts, compared
/// against its own scale with [`winograd_bound`].
fn weight_sweep(precision: Precision) {
    let dev = common::device();
    let dtype = precision.dtype();
    let mut rng = common::rng(0xb002);
    let mut cases: Vec<WeightCase> = (0..GPU_PROBLEMS)
        .map(|i| WeightCase::Conv(conv_case(&mut rng, i, false)))
        .collect();
    cases.extend((0..GPU_PROBLEMS).map(|i| WeightCase::Trans(trans_case(&mut rng, i, false))));
    cases.extend((0..GPU_PROBLEMS).map(|_| {
        let mut c = stride1_case(&mut rng);
        c.params.dilation[1] = 1;
        if Conv2dGeometry::new("t", &c.x_shape, &c.w_shape, &c.params).is_err() {
            c.params.padding = Padding::Same;
        }
        WeightCase::Conv(c)
    }));
    cases.extend((0..GPU_PROBLEMS).map(|_| WeightCase::Conv(winograd_case(&mut rng))));
    // The Winograd row's scale and bound, from A, B and the problem.
    let winograd = |variant, wg: &WeightGrad, a: &[f32], b: &[f32], want: &mut RefOut| {
        if variant == cb::weight::WINOGRAD {
            want.scale = rcb::winograd_weight_scale(wg, a, b);
            Some(winograd_bound(wg))
        } else {
            None
        }
    };
    common::sweep::sweep(
        &cb::weight::TABLE,
        precision,
        &cases,
        Counts::at_least_100(2 * GPU_PROBLEMS),
        |case| WeightGradProblem {
            wg: case.grad(),
            precision,
        },
        |variant, _, case| match case {
            WeightCase::Conv(case) => {
                let geo = case.geo();
                let (x, xt) = upload(&dev, &mut rng, &case.x_shape, dtype);
                let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
                let dw = testing::poisoned(&dev, &case.w_shape, dtype).unwrap();
                cb::conv2d_backward_weight_by(
                    &xt,
                    &dyt,
                    &case.params,
                    variant,
                    Some(precision),
                    &dw,
                )
                .map_err(|e| e.to_string())?;
                let mut want = rcb::conv2d_backward_weight(&geo, &x, &dy);
                let k = geo.n * geo.oh * geo.ow;
                let c = winograd(variant, &WeightGrad::conv2d(&geo), &dy, &x, &mut want)
                    .unwrap_or_else(|| common::sum_bound(dtype, k));
                testing::compare(&dw.to_f32_vec().unwrap(), &want, dtype, c).map(|r| r.max_err_eps)
            }
            WeightCase::Trans(case) => {
                let geo = case.geo();
                let (x, xt) = upload(&dev, &mut rng, &case.x_shape, dtype);
                let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
                let dw = testing::poisoned(&dev, &case.w_shape, dtype).unwrap();
                cb::conv_transpose2d_backward_weight_by(
                    &xt,
                    &dyt,
                    &case.params,
                    variant,
                    Some(precision),
                    &dw,
                )
                .map_err(|e| e.to_string())?;
                let mut want = rcb::conv_transpose2d_backward_weight(&geo, &x, &dy);
                let k = geo.n * geo.h * geo.w;
                let c = winograd(
                    variant,
                    &WeightGrad::conv_transpose2d(&geo),
                    &x,
                    &dy,
                    &mut want,
                )
                .unwrap_or_else(|| common::sum_bound(dtype, k));
                testing::compare(&dw.to_f32_vec().unwrap(), &want, dtype, c).map(|r| r.max_err_eps)
            }
        },
    );
}

fn conv2d_bias(precision: Precision) {
    let dev = common::device();
    if skip(&dev, precision) {
        return;
    }
    let dtype = precision.dtype();
    let mut rng = common::rng(0xb003);
    let cases: Vec<_> = (0..GPU_PROBLEMS)
        .map(|i| conv_case(&mut rng, i, false))
        .collect();
    check_all(
        "conv2d_backward_bias",
        precision,
        cases.into_iter(),
        |case| {
            let geo = case.geo();
            let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
            let db = testing::poisoned(&dev, &[geo.c_out], dtype).unwrap();
            cb::conv2d_backward_bias_into(&dyt, Some(precision), &db).map_err(|e| e.to_string())?;
            let want = rcb::conv2d_backward_bias(&geo, &dy);
            let k = geo.n * geo.oh * geo.ow;
            testing::compare(
                &db.to_f32_vec().unwrap(),
                &want,
                dtype,
                common::sum_bound(dtype, k),
            )
            .map(|r| r.max_err_eps)
        },
    );
}

fn trans_data(precision: Precision) {
    let dev = common::device();
    if skip(&dev, precision) {
        return;
    }
    let dtype = precision.dtype();
    let mut rng = common::rng(0xb004);
    let cases: Vec<_> = (0..GPU_PROBLEMS)
        .map(|i| trans_case(&mut rng, i, false))
        .collect();
    check_all(
        "conv_transpose2d_backward_data",
        precision,
        cases.into_iter(),
        |case| {
            let geo = case.geo();
            let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
            let (w, wt) = upload(&dev, &mut rng, &case.w_shape, dtype);
            let dx = testing::poisoned(&dev, &case.x_shape, dtype).unwrap();
            cb::conv_transpose2d_backward_data_into(&dyt, &wt, &case.params, Some(precision), &dx)
                .map_err(|e| e.to_string())?;
            let want = rcb::conv_transpose2d_backward_data(&geo, &dy, &w);
            let k = geo.c_out / geo.groups * geo.kh * geo.kw;
            testing::compare(
                &dx.to_f32_vec().unwrap(),
                &want,
                dtype,
                common::sum_bound(dtype, k),
            )
            .map(|r| r.max_err_eps)
        },
    );
}

#[test]
fn data_every_variant_f32() {
    data_sweep(Precision::F32)
}
#[test]
fn data_every_variant_f16() {
    data_sweep(Precision::F16)
}
#[test]
fn data_every_variant_f16_packed() {
    data_sweep(Precision::F16Packed)
}
#[test]
fn weight_every_variant_f32() {
    weight_sweep(Precision::F32)
}
#[test]
fn weight_every_variant_f16() {
    weight_sweep(Precision::F16)
}
#[test]
fn weight_every_variant_f16_packed() {
    weight_sweep(Precision::F16Packed)
}
#[test]
fn conv2d_bias_f32() {
    conv2d_bias(Precision::F32)
}
#[test]
fn conv2d_bias_f16() {
    conv2d_bias(Precision::F16)
}
#[test]
fn conv2d_bias_f16_packed() {
    conv2d_bias(Precision::F16Packed)
}
#[test]
fn conv_transpose2d_data_f32() {
    trans_data(Precision::F32)
}
#[test]
fn conv_transpose2d_data_f16() {
    trans_data(Precision::F16)
}
#[test]
fn conv_transpose2d_data_f16_packed() {
    trans_data(Precision::F16Packed)
}
/// Without shader-f16 every gradient defaults to packed f16 storage.
#[test]
fn f16_without_shader_f16_uses_packed_kernels() {
    let dev = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let mut rng = common::rng(0xb006);
    let case = conv_case(&mut rng, 5, false);
    let geo = case.geo();
    let dtype = DType::F16;
    let (x, xt) = upload(&dev, &mut rng, &case.x_shape, dtype);
    let (w, wt) = upload(&dev, &mut rng, &case.w_shape, dtype);
    let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
    let p = &case.params;
    let dx = cb::conv2d_backward_data(&dyt, &wt, case.x_shape, p, None).unwrap();
    let dw = cb::conv2d_backward_weight(&xt, &dyt, case.w_shape, p, None).unwrap();
    let db = cb::conv2d_backward_bias(&dyt).unwrap();
    for (got, want) in [
        (dx, rcb::conv2d_backward_data(&geo, &dy, &w)),
        (dw, rcb::conv2d_backward_weight(&geo, &x, &dy)),
        (db, rcb::conv2d_backward_bias(&geo, &dy)),
    ] {
        testing::compare(&got.to_f32_vec().unwrap(), &want, dtype, 2.0).unwrap();
    }
    assert!(matches!(
        cb::conv2d_backward_data(&dyt, &wt, case.x_shape, p, Some(Precision::F16)),
        Err(Error::MissingFeature { .. })
    ));
}

// ------------------------------------------------------------ special cases

/// Sums whose running f16 value would pass 65504: dy = +8000 over the first
/// image and −8000 + δ over the second (δ ∈ {0, 4, 8}), so every partial
/// sum over one image is far beyond f16's range while the gradient Σδ (for db)
/// or 2·Σδ (for a 1x1 dw with x = 2) fits. f32 accumulation keeps everything
/// finite and, with these integers, exact.
#[test]
fn f16_sums_beyond_65504_stay_finite_and_exact() {
    let dev = common::device();
    let (c, hw) = (3usize, 64 * 64);
    let mut rng = common::rng(0xb008);
    let mut dy = vec![0.0f32; 2 * c * hw];
    for ch in 0..c {
        for q in 0..hw {
            dy[ch * hw + q] = 8000.0;
            // f16 spacing at 8000 is 4: δ ∈ {0, 4, 8} keeps every value exact.
            dy[(c + ch) * hw + q] = -8000.0 + 4.0 * rng.random_range(0..3) as f32;
        }
    }
    let x = vec![2.0f32; 2 * c * hw];
    let x_shape = [2, c, 64, 64];
    let params = Conv2dParams::default();
    let geo = Conv2dGeometry::new("t", &x_shape, &[c, c, 1, 1], &params).unwrap();
    let exact = |r: RefOut| RefOut {
        scale: r.value.iter().map(|v| v.abs()).collect(),
        value: r.value,
    };
    let want_db = exact(rcb::conv2d_backward_bias(&geo, &dy));
    let want_dw = exact(rcb::conv2d_backward_weight(&geo, &x, &dy));
    assert!(
        want_db
            .value
            .iter()
            .all(|v| v.abs() < 65504.0 && v.abs() > 1000.0)
    );
    for precision in [Precision::F16, Precision::F16Packed] {
        if skip(&dev, precision) {
            continue;
        }
        let dyt = dev.upload_f32(&geo.out_shape(), DType::F16, &dy).unwrap();
        let xt = dev.upload_f32(&x_shape, DType::F16, &x).unwrap();
        let db = testing::poisoned(&dev, &[c], DType::F16).unwrap();
        cb::conv2d_backward_bias_into(&dyt, Some(precision), &db).unwrap();
        let dw =
            cb::conv2d_backward_weight(&xt, &dyt, [c, c, 1, 1], &params, Some(precision)).unwrap();
        // Within half an ulp of f16 (c = 1 on scale |value|: ε·|v| ≥ 1 ulp).
        testing::compare(&db.to_f32_vec().unwrap(), &want_db, DType::F16, 0.5).unwrap();
        testing::compare(&dw.to_f32_vec().unwrap(), &want_dw, DType::F16, 0.5).unwrap();
    }
}

/// Running the same gradient twice gives the same bits (no atomics, fixed
/// summation orders), including split reductions.
#[test]
fn gradients_are_deterministic() {
    let dev = common::device();
    let mut rng = common::rng(0xb009);
    let case = ConvCase {
        x_shape: [8, 3, 48, 48],
        w_shape: [5, 3, 3, 3],
        params: Conv2dParams {
            padding: Padding::Same,
            ..Default::default()
        },
    };
    let geo = case.geo();
    let (_, xt) = upload(&dev, &mut rng, &case.x_shape, DType::F32);
    let (_, wt) = upload(&dev, &mut rng, &case.w_shape, DType::F32);
    let (_, dyt) = upload(&dev, &mut rng, &geo.out_shape(), DType::F32);
    let run = || {
        let p = &case.params;
        [
            cb::conv2d_backward_data(&dyt, &wt, case.x_shape, p, None).unwrap(),
            cb::conv2d_backward_weight(&xt, &dyt, case.w_shape, p, None).unwrap(),
            cb::conv2d_backward_bias(&dyt).unwrap(),
        ]
        .map(|t| t.to_f32_vec().unwrap())
    };
    let a = run();
    let b = run();
    for (u, v) in a.iter().zip(&b) {
        let ub: Vec<u32> = u.iter().map(|x| x.to_bits()).collect();
        let vb: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        assert_eq!(ub, vb);
    }
    // The weight gradient of this problem is split over workgroups.
    assert!(cb::conv2d_backward_scratch_bytes(&dev, &geo, Precision::F32) > 0);
}

/// The GEMM forms of the weight gradient (both layouts) over the paths of
/// their plan: several chunks of images (products accumulated chunk by
/// chunk), reductions split into GEMM batches, the GEMM writing dW directly,
/// chunks forced by a small binding limit, and the transposed convolution's
/// gradient; each against the reference and bitwise repeatable, at f32 and
/// native f16 (columns and sums in f32, one rounding to f16).
#[test]
fn gemm_weight_gradient_chunks_and_splits() {
    let mut rng = common::rng(0xb00d);
    let conv = |x: [usize; 4], w: [usize; 4], stride: usize, pad: usize| ConvCase {
        x_shape: x,
        w_shape: w,
        params: Conv2dParams {
            stride: [stride, stride],
            padding: Padding::Explicit([pad, pad]),
            ..Default::default()
        },
    };
    let cases = [
        // 144 columns x 4096 pixels per image: one image per chunk, 3 chunks
        // of 4 splits.
        (conv([3, 16, 64, 64], [16, 16, 3, 3], 1, 1), None),
        // 64 pixels, 128 x 576 products: one chunk, one split, dW direct.
        (conv([1, 64, 8, 8], [128, 64, 3, 3], 1, 1), None),
        // Odd sizes (pixels not a multiple of 4), stride 2.
        (conv([5, 7, 23, 19], [24, 7, 3, 3], 2, 1), None),
        // A 64 KiB binding limit: 18 KiB of columns per image, chunks of 3.
        (conv([6, 8, 8, 8], [20, 8, 3, 3], 1, 1), Some(64 << 10)),
    ];
    let variants = [cb::weight::IM2COL_GEMM_NT, cb::weight::PIXELS_GEMM];
    let runs = cases.iter().flat_map(|c| {
        variants
            .into_iter()
            .flat_map(move |v| [Precision::F32, Precision::F16].map(|p| (c, v, p)))
    });
    for ((case, limit), variant, precision) in runs {
        let dev = match limit {
            Some(l) => common::own_device(Some(*l)),
            None => common::device(),
        };
        if skip(&dev, precision) {
            continue;
        }
        let dtype = precision.dtype();
        let geo = case.geo();
        let problem = WeightGradProblem {
            wg: WeightGrad::conv2d(&geo),
            precision,
        };
        if variant == cb::weight::PIXELS_GEMM && geo.c_in * 9 % 4 != 0 {
            // The pixel-major GEMM needs patches of a multiple of 4.
            assert!(variant.check(&problem, dev.caps()).is_err());
            continue;
        }
        variant.check(&problem, dev.caps()).unwrap();
        let (x, xt) = upload(&dev, &mut rng, &case.x_shape, dtype);
        let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
        let run = || {
            let dw = testing::poisoned(&dev, &case.w_shape, dtype).unwrap();
            let p = Some(precision);
            cb::conv2d_backward_weight_by(&xt, &dyt, &case.params, variant, p, &dw).unwrap();
            dw.to_f32_vec().unwrap()
        };
        let got = run();
        let want = rcb::conv2d_backward_weight(&geo, &x, &dy);
        let c = common::sum_bound(dtype, geo.n * geo.oh * geo.ow);
        testing::compare(&got, &want, dtype, c)
            .unwrap_or_else(|e| panic!("{case:?} {} {}: {e}", variant.name, precision.name()));
        let again = run();
        assert_same_bits(&got, &again, &case);
    }
    let dev = common::device();
    let trans = TransCase {
        x_shape: [4, 32, 9, 9],
        w_shape: [32, 16, 4, 4],
        params: ConvTranspose2dParams {
            stride: [2, 2],
            padding: [1, 1],
            ..Default::default()
        },
    };
    let geo = trans.geo();
    let (x, xt) = upload(&dev, &mut rng, &trans.x_shape, DType::F32);
    let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), DType::F32);
    let want = rcb::conv_transpose2d_backward_weight(&geo, &x, &dy);
    let c = common::sum_bound(DType::F32, geo.n * geo.h * geo.w);
    for variant in variants {
        let dw = testing::poisoned(&dev, &trans.w_shape, DType::F32).unwrap();
        cb::conv_transpose2d_backward_weight_by(&xt, &dyt, &trans.params, variant, None, &dw)
            .unwrap();
        testing::compare(&dw.to_f32_vec().unwrap(), &want, DType::F32, c)
            .unwrap_or_else(|e| panic!("{}: {e}", variant.name));
    }
}

/// The Winograd weight gradient over chunks of images (a 64 KiB binding
/// limit: A's transform of three images does not fit), odd output sizes
/// (tiles half outside A), one-sided padding, and a stride-1 transposed
/// convolution: each against the reference with the Winograd bound of
/// `weight_sweep`, and bitwise repeatable; at f32 and native f16 (f32 sums
/// over the chunks, one rounding to f16).
#[test]
fn winograd_weight_gradient_chunks() {
    let mut rng = common::rng(0xb00e);
    let conv = |x: [usize; 4], w: [usize; 4], pad: [usize; 2]| ConvCase {
        x_shape: x,
        w_shape: w,
        params: Conv2dParams {
            padding: Padding::Explicit(pad),
            ..Default::default()
        },
    };
    let cases = [
        // 30 tiles per image: A's transform is 24 KiB per image, so chunks of
        // 2, 2 and 1 images.
        (conv([5, 8, 12, 10], [12, 8, 3, 3], [1, 1]), Some(64 << 10)),
        // A is 7x5: the last tile row and column are half outside.
        (conv([3, 33, 9, 7], [40, 33, 3, 3], [0, 0]), None),
        (conv([2, 36, 6, 9], [20, 36, 3, 3], [2, 0]), None),
    ];
    let precisions = [Precision::F32, Precision::F16];
    for ((case, limit), precision) in cases.iter().flat_map(|c| precisions.map(|p| (c, p))) {
        let dev = match limit {
            Some(l) => common::own_device(Some(*l)),
            None => common::device(),
        };
        if skip(&dev, precision) {
            continue;
        }
        let dtype = precision.dtype();
        let geo = case.geo();
        let wg = WeightGrad::conv2d(&geo);
        let problem = WeightGradProblem { wg, precision };
        cb::weight::WINOGRAD.check(&problem, dev.caps()).unwrap();
        let (x, xt) = upload(&dev, &mut rng, &case.x_shape, dtype);
        let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
        let run = || {
            let dw = testing::poisoned(&dev, &case.w_shape, dtype).unwrap();
            let variant = cb::weight::WINOGRAD;
            cb::conv2d_backward_weight_by(&xt, &dyt, &case.params, variant, Some(precision), &dw)
                .unwrap();
            dw.to_f32_vec().unwrap()
        };
        let got = run();
        let mut want = rcb::conv2d_backward_weight(&geo, &x, &dy);
        want.scale = rcb::winograd_weight_scale(&wg, &dy, &x);
        testing::compare(&got, &want, dtype, winograd_bound(&wg))
            .unwrap_or_else(|e| panic!("{case:?} {}: {e}", precision.name()));
        let again = run();
        assert_same_bits(&got, &again, &case);
    }
    let dev = common::device();
    let trans = TransCase {
        x_shape: [3, 40, 6, 5],
        w_shape: [40, 36, 3, 3],
        params: ConvTranspose2dParams {
            padding: [1, 0],
            ..Default::default()
        },
    };
    let geo = trans.geo();
    let wg = WeightGrad::conv_transpose2d(&geo);
    let (x, xt) = upload(&dev, &mut rng, &trans.x_shape, DType::F32);
    let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), DType::F32);
    let mut want = rcb::conv_transpose2d_backward_weight(&geo, &x, &dy);
    want.scale = rcb::winograd_weight_scale(&wg, &x, &dy);
    let dw = testing::poisoned(&dev, &trans.w_shape, DType::F32).unwrap();
    cb::conv_transpose2d_backward_weight_by(
        &xt,
        &dyt,
        &trans.params,
        cb::weight::WINOGRAD,
        None,
        &dw,
    )
    .unwrap();
    testing::compare(
        &dw.to_f32_vec().unwrap(),
        &want,
        DType::F32,
        winograd_bound(&wg),
    )
    .unwrap();
}

/// Weight gradients large enough to be split over workgroups (f32 partial
/// sums added in order by the finalize pass), at every precision.
#[test]
fn split_weight_gradients_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(0xb00c);
    // Strided or 1x1, so the data gradient takes no scratch and a non-zero
    // scratch size means a split weight gradient.
    let s2 = |pad: usize, groups: usize| Conv2dParams {
        stride: [2, 2],
        padding: Padding::Explicit([pad, pad]),
        groups,
        ..Default::default()
    };
    let convs = [
        ConvCase {
            x_shape: [32, 6, 32, 32],
            w_shape: [16, 6, 5, 5],
            params: s2(0, 1),
        },
        ConvCase {
            x_shape: [16, 4, 128, 128],
            w_shape: [4, 1, 3, 3],
            params: s2(1, 4),
        },
        ConvCase {
            x_shape: [16, 16, 40, 40],
            w_shape: [16, 16, 3, 3],
            params: s2(1, 1),
        },
        ConvCase {
            x_shape: [8, 32, 32, 32],
            w_shape: [16, 32, 1, 1],
            params: Conv2dParams::default(),
        },
    ];
    let trans = TransCase {
        x_shape: [8, 4, 64, 64],
        w_shape: [4, 3, 2, 2],
        params: ConvTranspose2dParams {
            stride: [2, 2],
            ..Default::default()
        },
    };
    for precision in Precision::ALL {
        if skip(&dev, precision) {
            continue;
        }
        let dtype = precision.dtype();
        for case in &convs {
            let geo = case.geo();
            assert!(cb::conv2d_backward_scratch_bytes(&dev, &geo, Precision::F32) > 0);
            let (x, xt) = upload(&dev, &mut rng, &case.x_shape, dtype);
            let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
            let dw =
                cb::conv2d_backward_weight(&xt, &dyt, case.w_shape, &case.params, Some(precision))
                    .unwrap();
            let want = rcb::conv2d_backward_weight(&geo, &x, &dy);
            let c = common::sum_bound(dtype, geo.n * geo.oh * geo.ow);
            testing::compare(&dw.to_f32_vec().unwrap(), &want, dtype, c)
                .unwrap_or_else(|e| panic!("{case:?} {}: {e}", precision.name()));
        }
        let geo = trans.geo();
        assert!(cb::conv_transpose2d_backward_scratch_bytes(&dev, &geo, Precision::F32) > 0);
        let (x, xt) = upload(&dev, &mut rng, &trans.x_shape, dtype);
        let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
        let dw = cb::conv_transpose2d_backward_weight(
            &xt,
            &dyt,
            trans.w_shape,
            &trans.params,
            Some(precision),
        )
        .unwrap();
        let want = rcb::conv_transpose2d_backward_weight(&geo, &x, &dy);
        let c = common::sum_bound(dtype, geo.n * geo.h * geo.w);
        testing::compare(&dw.to_f32_vec().unwrap(), &want, dtype, c)
            .unwrap_or_else(|e| panic!("{trans:?} {}: {e}", precision.name()));
    }
}

/// The scratch each function allocates is exactly what the planning functions
/// report (measured as the pool's peak of live bytes).
#[test]
fn scratch_bytes_match_measured_peaks() {
    let dev = Device::from_env().unwrap();
    let mut rng = common::rng(0xb00a);
    let peak_of = |f: &dyn Fn() -> Tensor| -> u64 {
        dev.sync().unwrap();
        let before = dev.pool_stats().live_bytes;
        dev.reset_peak();
        let out = f();
        let peak = dev.pool_stats().peak_live_bytes;
        peak - before - out.byte_size()
    };
    // A weight gradient the table runs by Winograd: its transforms and
    // products.
    {
        let (x_shape, w_shape) = ([2, 32, 32, 32], [32, 32, 3, 3]);
        let p = Conv2dParams {
            padding: Padding::Explicit([1, 1]),
            ..Default::default()
        };
        let geo = Conv2dGeometry::new("t", &x_shape, &w_shape, &p).unwrap();
        let problem = WeightGradProblem {
            wg: WeightGrad::conv2d(&geo),
            precision: Precision::F32,
        };
        assert_eq!(
            cb::weight::TABLE.choose(&dev, &problem),
            cb::weight::WINOGRAD
        );
        for precision in [Precision::F32, Precision::F16] {
            let dtype = precision.dtype();
            let (_, xt) = upload(&dev, &mut rng, &x_shape, dtype);
            let (_, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
            let weight = peak_of(&|| {
                cb::conv2d_backward_weight(&xt, &dyt, w_shape, &p, Some(precision)).unwrap()
            });
            assert!(weight > 0);
            assert_eq!(
                weight,
                cb::conv2d_backward_weight_scratch_bytes(&dev, &geo, precision)
            );
        }
    }
    for i in 0..16 {
        let case = conv_case(&mut rng, i, false);
        let geo = case.geo();
        for precision in [Precision::F32, Precision::F16, Precision::F16Packed] {
            let dtype = precision.dtype();
            let (_, xt) = upload(&dev, &mut rng, &case.x_shape, dtype);
            let (_, wt) = upload(&dev, &mut rng, &case.w_shape, dtype);
            let (_, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
            let p = case.params;
            let data = peak_of(&|| {
                cb::conv2d_backward_data(&dyt, &wt, case.x_shape, &p, Some(precision)).unwrap()
            });
            let weight = peak_of(&|| {
                cb::conv2d_backward_weight(&xt, &dyt, case.w_shape, &p, Some(precision)).unwrap()
            });
            let bias = peak_of(&|| {
                let db = dev.empty(&[geo.c_out], dtype).unwrap();
                cb::conv2d_backward_bias_into(&dyt, Some(precision), &db).unwrap();
                db
            });
            assert_eq!(bias, 0);
            assert_eq!(
                data.max(weight),
                cb::conv2d_backward_scratch_bytes(&dev, &geo, precision),
                "{case:?} {}",
                precision.name()
            );
        }
        let tcase = trans_case(&mut rng, i, false);
        let tgeo = tcase.geo();
        for precision in [Precision::F32, Precision::F16] {
            let dtype = precision.dtype();
            let (_, xt) = upload(&dev, &mut rng, &tcase.x_shape, dtype);
            let (_, wt) = upload(&dev, &mut rng, &tcase.w_shape, dtype);
            let (_, dyt) = upload(&dev, &mut rng, &tgeo.out_shape(), dtype);
            let p = tcase.params;
            let data = peak_of(&|| {
                cb::conv_transpose2d_backward_data(&dyt, &wt, tcase.x_shape, &p, Some(precision))
                    .unwrap()
            });
            let weight = peak_of(&|| {
                cb::conv_transpose2d_backward_weight(&xt, &dyt, tcase.w_shape, &p, Some(precision))
                    .unwrap()
            });
            assert_eq!(
                data,
                cb::conv_transpose2d_backward_data_scratch_bytes(&dev, &tgeo, precision),
                "{tcase:?} {}",
                precision.name()
            );
            assert_eq!(
                data.max(weight),
                cb::conv_transpose2d_backward_scratch_bytes(&dev, &tgeo, precision),
                "{tcase:?} {}",
                precision.name()
            );
        }
    }
}

/// Launches past 65,535 workgroups in one grid dimension.
#[test]
fn large_grids_fold() {
    let dev = common::device();
    let mut rng = common::rng(0xb00b);
    // db: one workgroup per channel pair, 70,000 of them.
    let c = 140_000;
    let (dy, dyt) = upload(&dev, &mut rng, &[2, c, 1, 1], DType::F32);
    let geo = Conv2dGeometry::new("t", &[2, 1, 1, 1], &[c, 1, 1, 1], &Default::default()).unwrap();
    let db = cb::conv2d_backward_bias(&dyt).unwrap();
    testing::compare(
        &db.to_f32_vec().unwrap(),
        &rcb::conv2d_backward_bias(&geo, &dy),
        DType::F32,
        common::sum_bound(DType::F32, 2),
    )
    .unwrap();

    // dw: depthwise 1x1 over 70,000 groups, one workgroup each.
    let c = 70_000;
    let params = Conv2dParams {
        groups: c,
        ..Default::default()
    };
    let geo = Conv2dGeometry::new("t", &[2, c, 2, 1], &[c, 1, 1, 1], &params).unwrap();
    let (x, xt) = upload(&dev, &mut rng, &[2, c, 2, 1], DType::F32);
    let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), DType::F32);
    let dw = cb::conv2d_backward_weight(&xt, &dyt, [c, 1, 1, 1], &params, None).unwrap();
    testing::compare(
        &dw.to_f32_vec().unwrap(),
        &rcb::conv2d_backward_weight(&geo, &x, &dy),
        DType::F32,
        common::sum_bound(DType::F32, 4),
    )
    .unwrap();

    // Data gradients: 4.2 M one-pixel items (rows 3 wide), 65,625 workgroups.
    let x_shape = [1, 1, 1_400_000, 3];
    let (w, wt) = upload(&dev, &mut rng, &[1, 1, 1, 1], DType::F32);
    let (dy, dyt) = upload(&dev, &mut rng, &x_shape, DType::F32);
    let geo = Conv2dGeometry::new("t", &x_shape, &[1, 1, 1, 1], &Default::default()).unwrap();
    let dx = cb::conv2d_backward_data(&dyt, &wt, x_shape, &Default::default(), None).unwrap();
    testing::compare(
        &dx.to_f32_vec().unwrap(),
        &rcb::conv2d_backward_data(&geo, &dy, &w),
        DType::F32,
        common::sum_bound(DType::F32, 1),
    )
    .unwrap();
    let tgeo =
        ConvTranspose2dGeometry::new("t", &x_shape, &[1, 1, 1, 1], &Default::default()).unwrap();
    let dx =
        cb::conv_transpose2d_backward_data(&dyt, &wt, x_shape, &Default::default(), None).unwrap();
    testing::compare(
        &dx.to_f32_vec().unwrap(),
        &rcb::conv_transpose2d_backward_data(&tgeo, &dy, &w),
        DType::F32,
        common::sum_bound(DType::F32, 1),
    )
    .unwrap();
}

/// Empty batches: data gradients are empty, parameter gradients zero.
#[test]
fn empty_batches_give_zero_gradients() {
    let dev = common::device();
    let p = Conv2dParams::default();
    let x = dev.tensor(&[0, 3, 6, 6], &[]).unwrap();
    let dy = dev.tensor(&[0, 4, 4, 4], &[]).unwrap();
    let w = dev.tensor(&[4, 3, 3, 3], &[0.5; 108]).unwrap();
    let dx = cb::conv2d_backward_data(&dy, &w, [0, 3, 6, 6], &p, None).unwrap();
    assert_eq!(dx.shape(), [0, 3, 6, 6]);
    let dw = cb::conv2d_backward_weight(&x, &dy, [4, 3, 3, 3], &p, None).unwrap();
    assert_eq!(dw.to_f32_vec().unwrap(), vec![0.0; 108]);
    let db = cb::conv2d_backward_bias(&dy).unwrap();
    assert_eq!(db.to_f32_vec().unwrap(), vec![0.0; 4]);
    let tp = ConvTranspose2dParams::default();
    let dyt = dev.tensor(&[0, 4, 8, 8], &[]).unwrap();
    let wt = dev.tensor(&[3, 4, 3, 3], &[0.5; 108]).unwrap();
    let dx = cb::conv_transpose2d_backward_data(&dyt, &wt, [0, 3, 6, 6], &tp, None).unwrap();
    assert_eq!(dx.shape(), [0, 3, 6, 6]);
    let dw = cb::conv_transpose2d_backward_weight(&x, &dyt, [3, 4, 3, 3], &tp, None).unwrap();
    assert_eq!(dw.to_f32_vec().unwrap(), vec![0.0; 108]);
    dev.check().unwrap();
}

#[test]
fn bad_inputs_are_typed_errors() {
    let dev = common::device();
    let t = |shape: &[usize]| {
        let n: usize = shape.iter().product();
        dev.tensor(shape, &vec![0.5; n]).unwrap()
    };
    let p = Conv2dParams::default();
    let w = t(&[4, 3, 3, 3]);

    // dy does not match the conv of x_shape with w.
    let err = cb::conv2d_backward_data(&t(&[1, 4, 5, 5]), &w, [1, 3, 8, 8], &p, None).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(
        err.to_string().contains("dy: expected [1, 4, 6, 6]"),
        "{err}"
    );
    let err =
        cb::conv2d_backward_weight(&t(&[1, 3, 8, 8]), &t(&[1, 5, 6, 6]), [4, 3, 3, 3], &p, None)
            .unwrap_err();
    assert!(
        err.to_string().contains("dy: expected [1, 4, 6, 6]"),
        "{err}"
    );

    // w's input channels do not match x_shape.
    let err = cb::conv2d_backward_data(&t(&[1, 4, 6, 6]), &w, [1, 5, 8, 8], &p, None).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("input channels"), "{err}");

    // Groups that do not divide the channels.
    let g = Conv2dParams {
        groups: 2,
        ..Default::default()
    };
    let err =
        cb::conv2d_backward_weight(&t(&[1, 3, 8, 8]), &t(&[1, 4, 6, 6]), [4, 1, 3, 3], &g, None)
            .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("groups"), "{err}");

    // Mixed dtypes.
    let dyh = dev
        .upload_f32(&[1, 4, 6, 6], DType::F16, &[0.5; 144])
        .unwrap();
    let err = cb::conv2d_backward_data(&dyh, &w, [1, 3, 8, 8], &p, None).unwrap_err();
    assert!(err.to_string().contains("float dtype"), "{err}");

    // Bias gradient of a non-4-D tensor.
    let err = cb::conv2d_backward_bias(&t(&[4, 36])).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");

    // Transposed: bad output_padding, dy shape, groups.
    let wt = t(&[3, 2, 3, 3]);
    let tp = ConvTranspose2dParams {
        stride: [2, 2],
        output_padding: [0, 2],
        ..Default::default()
    };
    let err = cb::conv_transpose2d_backward_data(&t(&[1, 2, 9, 9]), &wt, [1, 3, 4, 4], &tp, None)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("output_padding"), "{err}");
    let tp = ConvTranspose2dParams {
        stride: [2, 2],
        ..Default::default()
    };
    let err = cb::conv_transpose2d_backward_data(&t(&[1, 2, 8, 9]), &wt, [1, 3, 4, 4], &tp, None)
        .unwrap_err();
    assert!(
        err.to_string().contains("dy: expected [1, 2, 9, 9]"),
        "{err}"
    );
    let err = cb::conv_transpose2d_backward_weight(
        &t(&[1, 3, 4, 4]),
        &t(&[1, 2, 9, 9]),
        [3, 2, 3, 3],
        &ConvTranspose2dParams { groups: 2, ..tp },
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("divisible by groups"), "{err}");
    let err = cb::conv_transpose2d_backward_weight(
        &t(&[1, 3, 4, 4]),
        &t(&[1, 2, 9, 9]),
        [4, 2, 3, 3],
        &tp,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");

    // `_into` outputs of the wrong shape, or aliasing an input.
    let dy = t(&[1, 4, 6, 6]);
    let err = cb::conv2d_backward_weight_into(&t(&[1, 3, 8, 8]), &dy, &p, None, &t(&[4, 3, 3, 2]))
        .unwrap_err();
    assert!(
        err.to_string().contains("dy: expected [1, 4, 6, 7]"),
        "{err}"
    );
    let err = cb::conv2d_backward_bias_into(&dy, None, &t(&[5])).unwrap_err();
    assert!(err.to_string().contains("output: expected [4]"), "{err}");
    let err = cb::conv2d_backward_bias_into(&dy, None, &dy.reshape(&[144]).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let same = t(&[1, 1, 4, 4]);
    let one = t(&[1, 1, 1, 1]);
    let err = cb::conv2d_backward_data_into(&same, &one, &p, None, &same).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("shares storage"), "{err}");

    // Native f16 requested for f32 tensors.
    let err = cb::conv2d_backward_data(
        &t(&[1, 4, 6, 6]),
        &w,
        [1, 3, 8, 8],
        &p,
        Some(Precision::F16),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    dev.check().unwrap();
}

/// Both general routes of conv2d's data gradient agree with the reference where they
/// run (dilation, groups, asymmetric `same` padding, f32 and native f16), and
/// the forward-convolution route refuses strided problems with a typed error.
#[test]
fn data_gradient_routes_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(0xb00d);
    let cases = [
        ConvCase {
            x_shape: [2, 6, 14, 14],
            w_shape: [16, 6, 5, 5],
            params: Conv2dParams::default(),
        },
        ConvCase {
            x_shape: [1, 4, 9, 7],
            w_shape: [6, 2, 3, 3],
            params: Conv2dParams {
                padding: Padding::Same,
                dilation: [2, 1],
                groups: 2,
                ..Default::default()
            },
        },
        ConvCase {
            x_shape: [3, 3, 8, 8],
            w_shape: [5, 3, 4, 2],
            params: Conv2dParams {
                padding: Padding::Same,
                ..Default::default()
            },
        },
    ];
    for precision in [Precision::F32, Precision::F16] {
        if skip(&dev, precision) {
            continue;
        }
        let dtype = precision.dtype();
        for case in &cases {
            let geo = case.geo();
            let (w, wt) = upload(&dev, &mut rng, &case.w_shape, dtype);
            let (dy, dyt) = upload(&dev, &mut rng, &geo.out_shape(), dtype);
            let want = rcb::conv2d_backward_data(&geo, &dy, &w);
            // (forward_winograd, with its own bound, is swept above.)
            for route in [cb::data::TRANSPOSED, cb::data::FORWARD_CONV] {
                let p = DataGradProblem { geo, precision };
                assert!(route.check(&p, dev.caps()).is_ok());
                let dx = testing::poisoned(&dev, &case.x_shape, dtype).unwrap();
                cb::conv2d_backward_data_by(&dyt, &wt, &case.params, route, Some(precision), &dx)
                    .unwrap();
                let c = common::sum_bound(dtype, geo.cout_g() * geo.kh * geo.kw);
                testing::compare(&dx.to_f32_vec().unwrap(), &want, dtype, c).unwrap_or_else(|e| {
                    panic!("{case:?} {} {}: {e}", route.name, precision.name())
                });
            }
        }
    }
    let strided = Conv2dParams {
        stride: [2, 2],
        ..Default::default()
    };
    let geo = Conv2dGeometry::new("t", &[1, 2, 8, 8], &[3, 2, 3, 3], &strided).unwrap();
    let dy = dev.empty(&geo.out_shape(), DType::F32).unwrap();
    let w = dev.empty(&[3, 2, 3, 3], DType::F32).unwrap();
    let dx = dev.empty(&[1, 2, 8, 8], DType::F32).unwrap();
    let err = cb::conv2d_backward_data_by(&dy, &w, &strided, cb::data::FORWARD_CONV, None, &dx)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("forward_conv"), "{err}");
}
