//! Parameters at the API, drawn at random, valid and invalid: conv2d,
//! pooling and upsampling either match the f64 reference or return a typed
//! error (`InvalidArgument` or `Shape`) that names the parameter at fault;
//! never a panic or a wgpu validation error. Validity is decided here by
//! PyTorch's rules, written independently of weft's checks, and the counts
//! of cases tried are printed.
//!
//! `WEFT_PROPERTY_CASES` sets the cases per op (default 300).
//!
//! Bounds as in the op's own tests: f32 conv c = 2·√K + 4 (K terms per
//! output), pooling and upsampling c = 4 (at most a few roundings).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::kernels::conv::params::{Conv2dGeometry, Conv2dParams, Padding};
use weft::kernels::conv::{self, Conv2dSpec};
use weft::kernels::pool::{Pool2dParams, PoolKind};
use weft::kernels::upsample::{self, UpsampleMode};
use weft::kernels::{Activation, reference};
use weft::{DType, Device, Error};

fn cases() -> usize {
    std::env::var("WEFT_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// What a run of one op found.
#[derive(Default, Debug)]
struct Tally {
    matched: usize,
    refused: usize,
}

/// A small size, sometimes a boundary one.
fn size(rng: &mut ChaCha8Rng, max: usize) -> usize {
    match rng.random_range(0..10) {
        0 => 1,
        1 => max,
        _ => rng.random_range(1..=max),
    }
}

/// A parameter that is usually valid, sometimes 0 (invalid everywhere).
fn positive(rng: &mut ChaCha8Rng, max: usize) -> usize {
    if rng.random_bool(0.08) {
        0
    } else {
        rng.random_range(1..=max)
    }
}

/// Runs `f`, turning a panic into a test failure that names the case.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("panicked on {what}"))
}

impl Tally {
    /// Judges one case: a valid one must have run and pass `compare`, an
    /// invalid one must be refused naming one of `params`.
    fn judge(
        &mut self,
        what: &str,
        valid: bool,
        result: Result<Vec<f32>, Error>,
        params: &[&str],
        compare: impl FnOnce(&[f32]),
    ) {
        match (valid, result) {
            (true, Ok(got)) => {
                compare(&got);
                self.matched += 1;
            }
            (false, Err(e)) => {
                check_refusal(what, &e, params);
                self.refused += 1;
            }
            (true, Err(e)) => panic!("{what}: valid by PyTorch's rules, refused: {e}"),
            (false, Ok(_)) => panic!("{what}: invalid by PyTorch's rules, accepted"),
        }
    }
}

/// An invalid case's error: typed, and naming one of `params`.
fn check_refusal(what: &str, err: &Error, params: &[&str]) {
    let text = err.to_string();
    match err {
        Error::InvalidArgument { .. } | Error::Shape { .. } => {}
        other => panic!("{what}: expected a typed argument error, got {other:?}"),
    }
    assert!(
        params.iter().any(|p| text.contains(p)),
        "{what}: the error names none of {params:?}: {text}"
    );
}

#[test]
fn conv2d_parameters() {
    let dev: Device = common::device();
    let mut rng = common::rng(0xc0);
    let mut tally = Tally::default();
    for case in 0..cases() {
        let groups = positive(&mut rng, 3);
        let g = groups.max(1);
        let c = g * size(&mut rng, 3) + usize::from(rng.random_bool(0.1));
        let co = g * size(&mut rng, 3) + usize::from(rng.random_bool(0.1));
        let (h, w) = (size(&mut rng, 12), size(&mut rng, 12));
        let (kh, kw) = (size(&mut rng, 5), size(&mut rng, 5));
        let stride = [positive(&mut rng, 3), positive(&mut rng, 3)];
        let dilation = [positive(&mut rng, 2), positive(&mut rng, 2)];
        let same = rng.random_bool(0.15);
        let pad = [rng.random_range(0..=3), rng.random_range(0..=3)];
        let w_in = if rng.random_bool(0.05) {
            c / g + 1
        } else {
            c / g
        };
        let n = size(&mut rng, 2);
        let xs = [n, c, h, w];
        let ws = [co, w_in, kh, kw];
        let params = Conv2dParams {
            stride,
            padding: if same {
                Padding::Same
            } else {
                Padding::Explicit(pad)
            },
            dilation,
            groups,
        };
        let what = format!("case {case}: x {xs:?} w {ws:?} {params:?}");
        // PyTorch's rules.
        let eff = |k: usize, d: usize| d * (k - 1) + 1;
        // 'same' pads the dilated kernel's whole extent.
        let padded = |i: usize| {
            if same {
                [h, w][i] + dilation[i] * ([kh, kw][i] - 1)
            } else {
                [h, w][i] + 2 * pad[i]
            }
        };
        let valid = groups > 0
            && stride.iter().all(|&s| s > 0)
            && dilation.iter().all(|&d| d > 0)
            && c.is_multiple_of(groups)
            && co.is_multiple_of(groups)
            && w_in == c / groups
            && !(same && stride != [1, 1])
            && eff(kh, dilation[0].max(1)) <= padded(0)
            && eff(kw, dilation[1].max(1)) <= padded(1);
        let x_host = common::uniform(&mut rng, xs.iter().product(), -1.0, 1.0);
        let w_host = common::uniform(&mut rng, ws.iter().product(), -1.0, 1.0);
        let result = no_panic(&what, || {
            let x = dev.tensor(&xs, &x_host)?;
            let wt = dev.tensor(&ws, &w_host)?;
            let spec = Conv2dSpec {
                params,
                activation: Activation::None,
                variant: None,
                precision: None,
            };
            conv::conv2d(&x, &wt, None, &spec)?.to_f32_vec()
        });
        let params_named = [
            "groups", "stride", "dilation", "padding", "kernel", "weight", "channels", "input",
        ];
        tally.judge(&what, valid, result, &params_named, |got| {
            let geo = Conv2dGeometry::new("conv2d", &xs, &ws, &params).unwrap();
            let want = reference::conv::conv2d(&geo, &x_host, &w_host, None, Activation::None);
            let k = (c / g * kh * kw) as f64;
            common::check(got, &want, DType::F32, 2.0 * k.sqrt() + 4.0, &what);
        });
    }
    eprintln!("conv2d: {tally:?}");
    assert!(
        tally.matched > cases() / 5 && tally.refused > cases() / 10,
        "{tally:?}"
    );
}

#[test]
fn pool2d_parameters() {
    let dev = common::device();
    let mut rng = common::rng(0x90);
    let mut tally = Tally::default();
    for case in 0..cases() {
        let kind = if rng.random_bool(0.5) {
            PoolKind::Max
        } else {
            PoolKind::Avg
        };
        let (n, c, h, w) = (
            size(&mut rng, 2),
            size(&mut rng, 3),
            size(&mut rng, 12),
            size(&mut rng, 12),
        );
        let kernel = [positive(&mut rng, 4), positive(&mut rng, 4)];
        let stride = [positive(&mut rng, 3), positive(&mut rng, 3)];
        let dilation = if rng.random_bool(0.3) {
            [positive(&mut rng, 2), positive(&mut rng, 2)]
        } else {
            [1, 1]
        };
        let padding = [rng.random_range(0..=2), rng.random_range(0..=2)];
        let params = Pool2dParams {
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode: rng.random_bool(0.5),
            count_include_pad: rng.random_bool(0.5),
            divisor_override: None,
        };
        let what = format!("case {case}: {kind:?} x {:?} {params:?}", [n, c, h, w]);
        // PyTorch's pooling_output_shape and pool2d_shape_check.
        let out = |i: usize, size: usize| -> Option<i64> {
            let [k, s, p, d, size] =
                [kernel[i], stride[i], padding[i], dilation[i], size].map(|v| v as i64);
            let round = if params.ceil_mode { s - 1 } else { 0 };
            let mut o = (size + 2 * p - d * (k - 1) - 1 + round).div_euclid(s) + 1;
            if params.ceil_mode && (o - 1) * s >= size + p {
                o -= 1;
            }
            (o >= 1).then_some(o)
        };
        let valid = kernel
            .iter()
            .chain(&stride)
            .chain(&dilation)
            .all(|&v| v > 0)
            && (0..2).all(|i| padding[i] <= kernel[i] / 2)
            && (kind == PoolKind::Max || dilation == [1, 1])
            && out(0, h).is_some()
            && out(1, w).is_some();
        let x_host = common::uniform(&mut rng, n * c * h * w, -1.0, 1.0);
        let result = no_panic(&what, || {
            let x = dev.tensor(&[n, c, h, w], &x_host)?;
            weft::kernels::pool::forward::pool2d(&x, kind, &params, None)?.to_f32_vec()
        });
        let named = ["kernel", "stride", "dilation", "padding", "output"];
        tally.judge(&what, valid, result, &named, |got| {
            let want = reference::pool::pool2d(&x_host, [n, c, h, w], kind, &params);
            assert_eq!(got.len(), want.out.len(), "{what}");
            common::check(got, &want.out, DType::F32, 4.0, &what);
        });
    }
    eprintln!("pool2d: {tally:?}");
    assert!(
        tally.matched > cases() / 5 && tally.refused > cases() / 10,
        "{tally:?}"
    );
}

#[test]
fn upsample2d_parameters() {
    let dev = common::device();
    let mut rng = common::rng(0x05);
    let mut tally = Tally::default();
    for case in 0..cases() {
        let (n, c, h, w) = (
            size(&mut rng, 2),
            size(&mut rng, 3),
            size(&mut rng, 9),
            size(&mut rng, 9),
        );
        let out_hw = [positive(&mut rng, 20), positive(&mut rng, 20)];
        let mode = match rng.random_range(0..3) {
            0 => UpsampleMode::Nearest,
            1 => UpsampleMode::Bilinear {
                align_corners: false,
            },
            _ => UpsampleMode::Bilinear {
                align_corners: true,
            },
        };
        let what = format!("case {case}: {mode:?} x {:?} to {out_hw:?}", [n, c, h, w]);
        let valid = out_hw.iter().all(|&v| v > 0);
        let x_host = common::uniform(&mut rng, n * c * h * w, -1.0, 1.0);
        let result = no_panic(&what, || {
            let x = dev.tensor(&[n, c, h, w], &x_host)?;
            upsample::upsample2d(&x, out_hw, mode, None)?.to_f32_vec()
        });
        tally.judge(&what, valid, result, &["output", "size", "out"], |got| {
            let want =
                reference::upsample::upsample2d(&x_host, [n, c, h, w], out_hw, mode, DType::F32);
            common::check(got, &want, DType::F32, 4.0, &what);
        });
    }
    eprintln!("upsample2d: {tally:?}");
    assert!(
        tally.matched > cases() / 2 && tally.refused > 0,
        "{tally:?}"
    );
}
