//! A subset of the kernel suite, runnable where the test crates are not (a
//! browser): GEMM, conv2d, pooling and softmax on fresh random inputs,
//! outputs poisoned with NaN before each run, compared with weft's f64 CPU
//! references under the bounds the native suites use: c = 2·√K + 4 machine
//! epsilons of the summed magnitudes for GEMM and conv2d (K terms per
//! output), 4 for pooling, 2 for softmax.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft::kernels::conv::params::{Conv2dGeometry, Conv2dParams, Padding};
use weft::kernels::conv::{self, Conv2dSpec};
use weft::kernels::gemm::{self, BiasMode, GemmDims, GemmSpec};
use weft::kernels::pool::{Pool2dParams, PoolKind};
use weft::kernels::reference::{self, RefOut};
use weft::kernels::{Activation, softmax, testing};
use weft::{DType, Device, Result};

/// One checked case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub op: &'static str,
    /// The case's shapes and parameters.
    pub case: String,
    /// Elements compared.
    pub elements: usize,
    /// Largest error as a share of the bound (passing: ≤ 1).
    pub worst_of_bound: f64,
    /// The first mismatches, empty when the case passed.
    pub failure: Option<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// `got` against `want` within `c`, as a [`Check`].
fn judge(op: &'static str, case: String, got: &[f32], want: &RefOut, c: f64) -> Check {
    let (worst, failure) = match testing::compare(got, want, DType::F32, c) {
        Ok(r) => (r.max_err_eps / c, None),
        Err(e) => (f64::INFINITY, Some(e)),
    };
    Check {
        op,
        case,
        elements: got.len(),
        worst_of_bound: worst,
        failure,
    }
}

/// Compiles every shader weft ships that the device's features allow, one at
/// a time with an awaited round trip after each, so that a compiler error
/// (which a browser reports only after control returns to the page) is
/// pinned on its shader, and retires the table rows that use a failed one
/// ([`weft::kernels::registry::compile_and_retire`]): those ops run their
/// other rows. Returns how many compiled, each failure, and the rows retired.
pub async fn compile_all(device: &Device) -> (usize, Vec<String>, Vec<String>) {
    let prepared = weft::kernels::registry::compile_and_retire(device).await;
    let failures = prepared
        .failed
        .into_iter()
        .map(|(shader, reason)| format!("{shader}: {reason}"))
        .collect();
    (prepared.compiled, failures, prepared.retired)
}

/// Runs `cases` random cases of each op from `seed`.
pub async fn run(device: &Device, seed: u64, cases: usize) -> Result<Vec<Check>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut checks = Vec::new();
    for _ in 0..cases {
        checks.push(gemm_case(device, &mut rng).await?);
        checks.push(conv_case(device, &mut rng).await?);
        checks.push(pool_case(device, &mut rng).await?);
        checks.push(softmax_case(device, &mut rng).await?);
    }
    Ok(checks)
}

async fn gemm_case(dev: &Device, rng: &mut ChaCha8Rng) -> Result<Check> {
    let (m, n, k) = (
        rng.random_range(1..=96),
        rng.random_range(1..=96),
        rng.random_range(1..=160),
    );
    let (a, b) = (uniform(rng, m * k), uniform(rng, k * n));
    let at = dev.tensor(&[m, k], &a)?;
    let bt = dev.tensor(&[k, n], &b)?;
    let out = testing::poisoned(dev, &[m, n], DType::F32)?;
    gemm::gemm_into(&at, &bt, None, &GemmSpec::default(), &out)?;
    let got = dev.read_f32_async(&out).await?;
    let dims = GemmDims::infer(&[m, k], &[k, n], false, false)?;
    let want = reference::gemm::gemm(&dims, &a, &b, None, BiasMode::None, Activation::None);
    let c = 2.0 * (k as f64).sqrt() + 4.0;
    Ok(judge("gemm", format!("{m}x{k} · {k}x{n}"), &got, &want, c))
}

async fn conv_case(dev: &Device, rng: &mut ChaCha8Rng) -> Result<Check> {
    let (n, c, co) = (
        rng.random_range(1..=2),
        rng.random_range(1..=8),
        rng.random_range(1..=8),
    );
    let k = [1, 3, 5][rng.random_range(0..3)];
    let (h, w) = (rng.random_range(k..=20), rng.random_range(k..=20));
    let params = Conv2dParams {
        stride: [rng.random_range(1..=2); 2],
        padding: Padding::Explicit([rng.random_range(0..=k / 2); 2]),
        ..Conv2dParams::default()
    };
    let (xs, ws) = ([n, c, h, w], [co, c, k, k]);
    let (x, wv) = (
        uniform(rng, xs.iter().product()),
        uniform(rng, ws.iter().product()),
    );
    let geo = Conv2dGeometry::new("conv2d", &xs, &ws, &params)?;
    let xt = dev.tensor(&xs, &x)?;
    let wt = dev.tensor(&ws, &wv)?;
    let out = testing::poisoned(dev, &[n, co, geo.oh, geo.ow], DType::F32)?;
    let spec = Conv2dSpec {
        params,
        activation: Activation::None,
        variant: None,
        precision: None,
    };
    conv::conv2d_into(&xt, &wt, None, &spec, &out)?;
    let got = dev.read_f32_async(&out).await?;
    let want = reference::conv::conv2d(&geo, &x, &wv, None, Activation::None);
    let terms = (c * k * k) as f64;
    let case = format!("x {xs:?} w {ws:?} {params:?}");
    Ok(judge("conv2d", case, &got, &want, 2.0 * terms.sqrt() + 4.0))
}

async fn pool_case(dev: &Device, rng: &mut ChaCha8Rng) -> Result<Check> {
    let kind = if rng.random_bool(0.5) {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    let shape = [
        rng.random_range(1..=2),
        rng.random_range(1..=6),
        rng.random_range(4..=24),
        rng.random_range(4..=24),
    ];
    let kernel = rng.random_range(2..=3);
    let params = Pool2dParams {
        stride: [rng.random_range(1..=2); 2],
        padding: [rng.random_range(0..=kernel / 2); 2],
        ..Pool2dParams::new([kernel; 2])
    };
    let [n, c, h, w] = shape;
    let [oh, ow] = params.out_hw("pool2d", h, w)?;
    let x = uniform(rng, shape.iter().product());
    let xt = dev.tensor(&shape, &x)?;
    let out = testing::poisoned(dev, &[n, c, oh, ow], DType::F32)?;
    weft::kernels::pool::forward::pool2d_into(&xt, kind, &params, None, &out)?;
    let got = dev.read_f32_async(&out).await?;
    let want = reference::pool::pool2d(&x, shape, kind, &params).out;
    Ok(judge(
        "pool2d",
        format!("{kind:?} {shape:?} {params:?}"),
        &got,
        &want,
        4.0,
    ))
}

async fn softmax_case(dev: &Device, rng: &mut ChaCha8Rng) -> Result<Check> {
    let shape = [rng.random_range(1..=16), rng.random_range(1..=300)];
    let x: Vec<f32> = uniform(rng, shape[0] * shape[1])
        .iter()
        .map(|v| v * 8.0)
        .collect();
    let xt = dev.tensor(&shape, &x)?;
    let out = testing::poisoned(dev, &shape, DType::F32)?;
    softmax::softmax_into(&xt, 1, &out)?;
    let got = dev.read_f32_async(&out).await?;
    let want = reference::softmax::softmax(&x, &shape, 1, false);
    Ok(judge(
        "softmax",
        format!("{shape:?} axis 1"),
        &got,
        &want,
        2.0,
    ))
}
