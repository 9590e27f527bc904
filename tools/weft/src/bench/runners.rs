//! Runners: a case's inputs on the device for one variant, checked against
//! the kernels' own CPU references (on a sample of elements for large
//! outputs) before they are timed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft::kernels::batch_norm::{self, BatchNormOutput, BatchNormSpec};
use weft::kernels::conv::backward::{data as data_grad, weight as weight_grad};
use weft::kernels::conv::params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams, Padding,
};
use weft::kernels::conv::{self, Conv2dSpec, ConvTranspose2dSpec};
use weft::kernels::filter::{self, Border, Rank};
use weft::kernels::gemm::{self, BiasMode, GemmDims, GemmSpec};
use weft::kernels::pool::{self, Pool2dParams, PoolKind};
use weft::kernels::reference::{self, RefOut};
use weft::kernels::{Activation, Precision, testing};
use weft::{DType, Device, Tensor};

use super::cases::{Case, Layout, Problem};

/// A prepared variant: inputs on the device, ready to check and run.
pub trait Runner {
    /// Compares the variant's output with the CPU reference; returns the worst
    /// error in units of ε·scale, or why it is wrong.
    fn check(&mut self) -> Result<f64, String>;
    /// Records one run on input set `i % SETS` (inputs rotate so caches do not
    /// flatter small shapes).
    fn run(&mut self, i: usize) -> weft::Result<()>;
}

/// Input sets a runner rotates through.
const SETS: usize = 3;
/// Output elements compared with the reference on large shapes.
const CHECK_SAMPLES: usize = 512;

/// The runner of `case` with the variant called `variant`.
pub fn prepare(
    case: &Case,
    dev: &Device,
    variant: &str,
    precision: Precision,
) -> weft::Result<Box<dyn Runner>> {
    Ok(match &case.problem {
        Problem::Gemm { m, n, k, layout } => Box::new(GemmRunner::new(
            dev,
            Problem::gemm_dims(*m, *n, *k, *layout),
            *layout,
            gemm::TABLE.by_name(variant)?,
            precision,
        )?),
        Problem::Conv(geo) => {
            let v = conv::forward::TABLE.by_name(variant)?;
            Box::new(ConvRunner::new(dev, ConvKind::Forward(*geo, v), precision)?)
        }
        Problem::ConvTranspose(geo) => {
            let v = conv::transpose::TABLE.by_name(variant)?;
            Box::new(ConvRunner::new(
                dev,
                ConvKind::Transposed(*geo, v),
                precision,
            )?)
        }
        Problem::ConvDataGrad(geo) => {
            let v = data_grad::TABLE.by_name(variant)?;
            Box::new(ConvRunner::new(
                dev,
                ConvKind::DataGrad(*geo, v),
                precision,
            )?)
        }
        Problem::ConvWeightGrad(geo) => {
            let v = weight_grad::TABLE.by_name(variant)?;
            Box::new(ConvRunner::new(
                dev,
                ConvKind::WeightGrad(*geo, v),
                precision,
            )?)
        }
        Problem::Pool {
            kind,
            shape,
            params,
        } => Box::new(PoolRunner::new(
            dev,
            *kind,
            *shape,
            *params,
            pool::forward::TABLE.by_name(variant)?,
            precision,
        )?),
        Problem::MaxPoolBackward { shape, params } => Box::new(MaxPoolBackwardRunner::new(
            dev,
            *shape,
            *params,
            pool::backward::TABLE.by_name(variant)?,
            precision,
        )?),
        Problem::BatchNorm { shape } => Box::new(BatchNormRunner::new(
            dev,
            *shape,
            batch_norm::TABLE.by_name(variant)?,
            precision,
        )?),
        Problem::BatchNormBackward { shape } => Box::new(BatchNormBackwardRunner::new(
            dev,
            *shape,
            batch_norm::BACKWARD_TABLE.by_name(variant)?,
            precision,
        )?),
        Problem::Correlate { shape, k } => Box::new(FilterRunner::new(
            dev,
            *shape,
            FilterOp::Correlate(*k, filter::CORRELATE_TABLE.by_name(variant)?),
        )?),
        Problem::Median { shape, radius } => Box::new(FilterRunner::new(
            dev,
            *shape,
            FilterOp::Median(*radius, filter::RANK_TABLE.by_name(variant)?),
        )?),
    })
}

/// Random inputs of `shape` in [-1, 1), rounded to `dtype`; a shape the
/// device could not hold is refused before its host values are made.
fn random_inputs(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    dtype: DType,
) -> weft::Result<Vec<f32>> {
    let len = crate::setup::device_elements(dev, "--shape", shape)?;
    Ok(testing::round_to(
        dtype,
        &(0..len)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<f32>>(),
    ))
}

/// `SETS` random tensors of `shape` on the device, and the first set's values.
fn input_sets(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    dtype: DType,
) -> weft::Result<(Vec<Tensor>, Vec<f32>)> {
    let mut sets = Vec::with_capacity(SETS);
    let mut first = Vec::new();
    for s in 0..SETS {
        let host = random_inputs(dev, rng, shape, dtype)?;
        sets.push(dev.upload_f32(shape, dtype, &host)?);
        if s == 0 {
            first = host;
        }
    }
    Ok((sets, first))
}

/// Indices of the output elements to check: all of them for small outputs, a
/// fixed random sample otherwise.
fn sample_indices(total: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    if total <= CHECK_SAMPLES {
        (0..total).collect()
    } else {
        (0..CHECK_SAMPLES)
            .map(|_| rng.random_range(0..total))
            .collect()
    }
}

/// Compares the sampled elements of `got` with `reference(e)` for each
/// sampled index `e`.
fn compare_sampled(
    got: &[f32],
    dtype: DType,
    c: f64,
    reference: impl Fn(usize) -> (f64, f64),
) -> Result<f64, String> {
    let mut want = RefOut::default();
    let mut sampled = Vec::new();
    for e in sample_indices(got.len()) {
        let (v, s) = reference(e);
        want.push(v, s);
        sampled.push(got[e]);
    }
    testing::compare(&sampled, &want, dtype, c).map(|r| r.max_err_eps)
}

/// The GEMM-style bound of the kernel test suites: c = 2·√K + 4 in f32 (K
/// summed terms), 2 in f16 (one rounding of an f32 sum).
fn sum_bound(dtype: DType, terms: usize) -> f64 {
    match dtype {
        DType::F16 => 2.0,
        _ => 2.0 * (terms as f64).sqrt() + 4.0,
    }
}

struct GemmRunner {
    a: Vec<Tensor>,
    b: Vec<Tensor>,
    host_a: Vec<f32>,
    host_b: Vec<f32>,
    out: Tensor,
    spec: GemmSpec,
    dims: GemmDims,
    dtype: DType,
}

impl GemmRunner {
    fn new(
        dev: &Device,
        dims: GemmDims,
        layout: Layout,
        variant: &'static gemm::GemmVariant,
        precision: Precision,
    ) -> weft::Result<GemmRunner> {
        let dtype = precision.dtype();
        let (m, n, k) = (dims.m, dims.n, dims.k);
        let a_shape = if layout.trans_a { [k, m] } else { [m, k] };
        let b_shape = if layout.trans_b { [n, k] } else { [k, n] };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (a, host_a) = input_sets(dev, &mut rng, &a_shape, dtype)?;
        let (b, host_b) = input_sets(dev, &mut rng, &b_shape, dtype)?;
        Ok(GemmRunner {
            a,
            b,
            host_a,
            host_b,
            out: dev.empty(&[m, n], dtype)?,
            spec: GemmSpec {
                trans_a: layout.trans_a,
                trans_b: layout.trans_b,
                variant: Some(variant),
                precision: Some(precision),
                ..Default::default()
            },
            dims,
            dtype,
        })
    }
}

impl Runner for GemmRunner {
    fn check(&mut self) -> Result<f64, String> {
        self.out = testing::poisoned(self.out.device(), self.out.shape(), self.dtype)
            .map_err(|e| e.to_string())?;
        gemm::gemm_into(&self.a[0], &self.b[0], None, &self.spec, &self.out)
            .map_err(|e| e.to_string())?;
        let got = self.out.to_f32_vec().map_err(|e| e.to_string())?;
        compare_sampled(&got, self.dtype, sum_bound(self.dtype, self.dims.k), |e| {
            reference::gemm::gemm_at(
                &self.dims,
                &self.host_a,
                &self.host_b,
                None,
                BiasMode::None,
                Activation::None,
                e,
            )
        })
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        let s = i % SETS;
        gemm::gemm_into(&self.a[s], &self.b[s], None, &self.spec, &self.out)
    }
}

#[derive(Clone, Copy)]
enum ConvKind {
    Forward(Conv2dGeometry, &'static conv::ConvVariant),
    Transposed(ConvTranspose2dGeometry, &'static conv::ConvTransposeVariant),
    /// conv2d's data gradient: `x` holds dy, `w` the weights.
    DataGrad(Conv2dGeometry, &'static data_grad::DataGradVariant),
    /// conv2d's weight gradient: `x` holds x, `w` holds dy.
    WeightGrad(Conv2dGeometry, &'static weight_grad::WeightGradVariant),
}

fn conv_params(g: &Conv2dGeometry) -> Conv2dParams {
    Conv2dParams {
        stride: g.stride,
        padding: Padding::Explicit([g.pad[0], g.pad[1]]),
        dilation: g.dilation,
        groups: g.groups,
    }
}

struct ConvRunner {
    kind: ConvKind,
    x: Vec<Tensor>,
    w: Vec<Tensor>,
    host_x: Vec<f32>,
    host_w: Vec<f32>,
    out: Tensor,
    precision: Precision,
}

impl ConvRunner {
    fn new(dev: &Device, kind: ConvKind, precision: Precision) -> weft::Result<ConvRunner> {
        let dtype = precision.dtype();
        let (x_shape, w_shape, out_shape) = match kind {
            ConvKind::Forward(g, _) => (g.in_shape(), g.weight_shape(), g.out_shape()),
            ConvKind::Transposed(g, _) => {
                ([g.n, g.c_in, g.h, g.w], g.weight_shape(), g.out_shape())
            }
            ConvKind::DataGrad(g, _) => (g.out_shape(), g.weight_shape(), g.in_shape()),
            ConvKind::WeightGrad(g, _) => (g.in_shape(), g.out_shape(), g.weight_shape()),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (x, host_x) = input_sets(dev, &mut rng, &x_shape, dtype)?;
        let (w, host_w) = input_sets(dev, &mut rng, &w_shape, dtype)?;
        Ok(ConvRunner {
            kind,
            x,
            w,
            host_x,
            host_w,
            out: dev.empty(&out_shape, dtype)?,
            precision,
        })
    }

    fn launch(&self, s: usize, out: &Tensor) -> weft::Result<()> {
        let precision = Some(self.precision);
        match self.kind {
            ConvKind::Forward(g, v) => {
                let spec = Conv2dSpec {
                    params: conv_params(&g),
                    variant: Some(v),
                    precision,
                    ..Default::default()
                };
                conv::conv2d_into(&self.x[s], &self.w[s], None, &spec, out)
            }
            ConvKind::Transposed(g, v) => {
                let spec = ConvTranspose2dSpec {
                    params: ConvTranspose2dParams {
                        stride: g.stride,
                        padding: g.padding,
                        output_padding: g.output_padding,
                        dilation: g.dilation,
                        groups: g.groups,
                    },
                    variant: Some(v),
                    precision,
                    ..Default::default()
                };
                conv::conv_transpose2d_into(&self.x[s], &self.w[s], None, &spec, out)
            }
            ConvKind::DataGrad(g, v) => conv::conv2d_backward_data_by(
                &self.x[s],
                &self.w[s],
                &conv_params(&g),
                v,
                precision,
                out,
            ),
            ConvKind::WeightGrad(g, v) => conv::conv2d_backward_weight_by(
                &self.x[s],
                &self.w[s],
                &conv_params(&g),
                v,
                precision,
                out,
            ),
        }
    }

    /// The reference value and scale of output element `e`.
    fn reference(&self, e: usize) -> (f64, f64) {
        let (x, w) = (&self.host_x, &self.host_w);
        let none = Activation::None;
        match self.kind {
            ConvKind::Forward(g, _) => reference::conv::conv2d_at(&g, x, w, None, none, e),
            ConvKind::Transposed(g, _) => {
                reference::conv_transpose::conv_transpose2d_at(&g, x, w, None, none, e)
            }
            ConvKind::DataGrad(g, _) => {
                reference::conv_backward::conv2d_backward_data_at(&g, x, w, e)
            }
            ConvKind::WeightGrad(g, _) => {
                reference::conv_backward::conv2d_backward_weight_at(&g, x, w, e)
            }
        }
    }

    /// Terms summed per output element.
    fn terms(&self) -> usize {
        match self.kind {
            ConvKind::Forward(g, _) => g.patch_len(),
            ConvKind::Transposed(g, _) => g.c_in / g.groups * g.kh * g.kw,
            ConvKind::DataGrad(g, _) => g.cout_g() * g.kh * g.kw,
            ConvKind::WeightGrad(g, _) => g.n * g.oh * g.ow,
        }
    }
}

impl Runner for ConvRunner {
    fn check(&mut self) -> Result<f64, String> {
        let dtype = self.precision.dtype();
        let out = testing::poisoned(self.out.device(), self.out.shape(), dtype)
            .map_err(|e| e.to_string())?;
        self.launch(0, &out).map_err(|e| e.to_string())?;
        let got = out.to_f32_vec().map_err(|e| e.to_string())?;
        // Winograd's transforms add terms: allow 4x the GEMM-style bound there.
        let winograd = matches!(self.kind, ConvKind::Forward(_, v) if v == conv::forward::WINOGRAD);
        let c = match (dtype, winograd) {
            (DType::F16, true) => 8.0,
            (_, true) => 4.0 * sum_bound(dtype, self.terms()),
            _ => sum_bound(dtype, self.terms()),
        };
        compare_sampled(&got, dtype, c, |e| self.reference(e))
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        self.launch(i % SETS, &self.out)
    }
}

struct PoolRunner {
    kind: PoolKind,
    shape: [usize; 4],
    params: Pool2dParams,
    x: Vec<Tensor>,
    host_x: Vec<f32>,
    out: Tensor,
    variant: &'static pool::forward::Pool2dVariant,
    precision: Precision,
}

impl PoolRunner {
    fn new(
        dev: &Device,
        kind: PoolKind,
        shape: [usize; 4],
        params: Pool2dParams,
        variant: &'static pool::forward::Pool2dVariant,
        precision: Precision,
    ) -> weft::Result<PoolRunner> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (x, host_x) = input_sets(dev, &mut rng, &shape, precision.dtype())?;
        let [oh, ow] = params.out_hw("bench", shape[2], shape[3])?;
        Ok(PoolRunner {
            kind,
            shape,
            params,
            x,
            host_x,
            out: dev.empty(&[shape[0], shape[1], oh, ow], precision.dtype())?,
            variant,
            precision,
        })
    }

    fn launch(&self, s: usize, out: &Tensor) -> weft::Result<()> {
        pool::pool2d_by(
            &self.x[s],
            self.kind,
            &self.params,
            Some(self.variant),
            Some(self.precision),
            out,
        )
    }
}

impl Runner for PoolRunner {
    fn check(&mut self) -> Result<f64, String> {
        let dtype = self.precision.dtype();
        let out = testing::poisoned(self.out.device(), self.out.shape(), dtype)
            .map_err(|e| e.to_string())?;
        self.launch(0, &out).map_err(|e| e.to_string())?;
        let got = out.to_f32_vec().map_err(|e| e.to_string())?;
        let want = reference::pool::pool2d(&self.host_x, self.shape, self.kind, &self.params).out;
        testing::compare(&got, &want, dtype, 4.0).map(|r| r.max_err_eps)
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        self.launch(i % SETS, &self.out)
    }
}

struct MaxPoolBackwardRunner {
    shape: [usize; 4],
    ohw: [usize; 2],
    params: Pool2dParams,
    dy: Vec<Tensor>,
    host_dy: Vec<f32>,
    indices: Tensor,
    host_indices: Vec<i32>,
    dx: Tensor,
    variant: &'static pool::backward::MaxPoolBackwardVariant,
    precision: Precision,
}

impl MaxPoolBackwardRunner {
    fn new(
        dev: &Device,
        shape: [usize; 4],
        params: Pool2dParams,
        variant: &'static pool::backward::MaxPoolBackwardVariant,
        precision: Precision,
    ) -> weft::Result<MaxPoolBackwardRunner> {
        let dtype = precision.dtype();
        let [n, c, h, w] = shape;
        let ohw = params.out_hw("bench", h, w)?;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // The indices of a real forward pass over random inputs.
        let x = dev.upload_f32(&shape, dtype, &random_inputs(dev, &mut rng, &shape, dtype)?)?;
        let (_, indices) = pool::max_pool2d_with_indices(&x, &params, Some(precision))?;
        let (dy, host_dy) = input_sets(dev, &mut rng, &[n, c, ohw[0], ohw[1]], dtype)?;
        Ok(MaxPoolBackwardRunner {
            shape,
            ohw,
            params,
            dy,
            host_dy,
            host_indices: indices.to_i32_vec()?,
            indices,
            dx: dev.empty(&shape, dtype)?,
            variant,
            precision,
        })
    }

    fn launch(&self, s: usize, dx: &Tensor) -> weft::Result<()> {
        pool::max_pool2d_backward_by(
            &self.dy[s],
            &self.indices,
            Some(&self.params),
            Some(self.variant),
            Some(self.precision),
            dx,
        )
    }
}

impl Runner for MaxPoolBackwardRunner {
    fn check(&mut self) -> Result<f64, String> {
        let dtype = self.precision.dtype();
        let dx = testing::poisoned(self.dx.device(), self.dx.shape(), dtype)
            .map_err(|e| e.to_string())?;
        self.launch(0, &dx).map_err(|e| e.to_string())?;
        let got = dx.to_f32_vec().map_err(|e| e.to_string())?;
        let want = reference::pool::max_pool2d_backward(
            &self.host_dy,
            &self.host_indices,
            self.shape,
            self.ohw,
        );
        let terms = self.params.kernel[0] * self.params.kernel[1];
        testing::compare(&got, &want, dtype, terms as f64 + 4.0).map(|r| r.max_err_eps)
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        self.launch(i % SETS, &self.dx)
    }
}

struct BatchNormRunner {
    shape: [usize; 4],
    x: Vec<Tensor>,
    host_x: Vec<f32>,
    gamma: Tensor,
    beta: Tensor,
    host_gamma: Vec<f32>,
    host_beta: Vec<f32>,
    running: (Tensor, Tensor),
    out: BatchNormOutput,
    spec: BatchNormSpec,
    variant: &'static batch_norm::BatchNormVariant,
}

impl BatchNormRunner {
    fn new(
        dev: &Device,
        shape: [usize; 4],
        variant: &'static batch_norm::BatchNormVariant,
        precision: Precision,
    ) -> weft::Result<BatchNormRunner> {
        let dtype = precision.dtype();
        let c = shape[1];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (x, host_x) = input_sets(dev, &mut rng, &shape, dtype)?;
        let host_gamma: Vec<f32> = (0..c).map(|_| rng.random_range(0.5..1.5)).collect();
        let host_beta: Vec<f32> = (0..c).map(|_| rng.random_range(-0.5..0.5)).collect();
        Ok(BatchNormRunner {
            shape,
            x,
            host_x,
            gamma: dev.tensor(&[c], &host_gamma)?,
            beta: dev.tensor(&[c], &host_beta)?,
            host_gamma,
            host_beta,
            running: (
                dev.tensor(&[c], &vec![0.0; c])?,
                dev.tensor(&[c], &vec![1.0; c])?,
            ),
            out: BatchNormOutput {
                y: dev.empty(&shape, dtype)?,
                save_mean: dev.empty(&[c], DType::F32)?,
                save_invstd: dev.empty(&[c], DType::F32)?,
            },
            spec: BatchNormSpec {
                precision: Some(precision),
                ..Default::default()
            },
            variant,
        })
    }

    fn launch(&self, s: usize, out: &BatchNormOutput) -> weft::Result<()> {
        let args = batch_norm::BatchNormArgs {
            x: &self.x[s],
            gamma: &self.gamma,
            beta: &self.beta,
            running_mean: &self.running.0,
            running_var: &self.running.1,
            out,
        };
        batch_norm::batch_norm_train_by(&args, &self.spec, self.variant)
    }
}

impl Runner for BatchNormRunner {
    fn check(&mut self) -> Result<f64, String> {
        let dev = self.gamma.device().clone();
        let dtype = self.out.y.dtype();
        let c = self.shape[1];
        let out = BatchNormOutput {
            y: testing::poisoned(&dev, &self.shape, dtype).map_err(|e| e.to_string())?,
            save_mean: testing::poisoned(&dev, &[c], DType::F32).map_err(|e| e.to_string())?,
            save_invstd: testing::poisoned(&dev, &[c], DType::F32).map_err(|e| e.to_string())?,
        };
        self.launch(0, &out).map_err(|e| e.to_string())?;
        let got = out.y.to_f32_vec().map_err(|e| e.to_string())?;
        let (want, _) = reference::batch_norm::train(
            &self.host_x,
            self.shape,
            &self.host_gamma,
            &self.host_beta,
            self.spec.eps,
            self.spec.activation,
        );
        let (bound, c) = testing::storage_bound(&want, dtype, 2.0);
        testing::compare(&got, &bound, dtype, c).map(|r| r.max_err_eps)
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        self.launch(i % SETS, &self.out)
    }
}

/// Batch norm's gradient by one row, against the f64 reference.
struct BatchNormBackwardRunner {
    shape: [usize; 4],
    x: Vec<Tensor>,
    host_x: Vec<f32>,
    dy: Tensor,
    host_dy: Vec<f32>,
    gamma: Tensor,
    host_gamma: Vec<f32>,
    stats: (Tensor, Tensor),
    host_stats: (Vec<f32>, Vec<f32>),
    grads: batch_norm::BatchNormGrads,
    precision: Precision,
    variant: &'static weft::kernels::registry::Variant<batch_norm::BatchNormBackwardProblem>,
}

impl BatchNormBackwardRunner {
    fn new(
        dev: &Device,
        shape: [usize; 4],
        variant: &'static weft::kernels::registry::Variant<batch_norm::BatchNormBackwardProblem>,
        precision: Precision,
    ) -> weft::Result<BatchNormBackwardRunner> {
        let dtype = precision.dtype();
        let c = shape[1];
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (x, host_x) = input_sets(dev, &mut rng, &shape, dtype)?;
        let host_dy = random_inputs(dev, &mut rng, &shape, dtype)?;
        let host_gamma: Vec<f32> = (0..c).map(|_| rng.random_range(0.5..1.5)).collect();
        // The saved statistics of the first input set, as the forward stores them.
        let (_, stats) = reference::batch_norm::train(
            &host_x,
            shape,
            &host_gamma,
            &host_gamma,
            1e-5,
            Activation::None,
        );
        let mean: Vec<f32> = stats.mean.value.iter().map(|&v| v as f32).collect();
        let invstd: Vec<f32> = stats.invstd.value.iter().map(|&v| v as f32).collect();
        Ok(BatchNormBackwardRunner {
            shape,
            dy: dev.upload_f32(&shape, dtype, &host_dy)?,
            x,
            host_x,
            host_dy,
            gamma: dev.tensor(&[c], &host_gamma)?,
            host_gamma,
            stats: (dev.tensor(&[c], &mean)?, dev.tensor(&[c], &invstd)?),
            host_stats: (mean, invstd),
            grads: batch_norm::BatchNormGrads {
                dx: dev.empty(&shape, dtype)?,
                dgamma: dev.empty(&[c], DType::F32)?,
                dbeta: dev.empty(&[c], DType::F32)?,
            },
            precision,
            variant,
        })
    }

    fn launch(&self, s: usize, grads: &batch_norm::BatchNormGrads) -> weft::Result<()> {
        let args = batch_norm::BatchNormBackwardArgs {
            dy: &self.dy,
            x: &self.x[s],
            gamma: &self.gamma,
            save_mean: &self.stats.0,
            save_invstd: &self.stats.1,
            grads,
        };
        batch_norm::batch_norm_backward_by(&args, Some(self.precision), self.variant)
    }
}

impl Runner for BatchNormBackwardRunner {
    fn check(&mut self) -> Result<f64, String> {
        let dev = self.gamma.device().clone();
        let dtype = self.grads.dx.dtype();
        let c = self.shape[1];
        let poisoned = |shape: &[usize], dtype| testing::poisoned(&dev, shape, dtype);
        let grads = batch_norm::BatchNormGrads {
            dx: poisoned(&self.shape, dtype).map_err(|e| e.to_string())?,
            dgamma: poisoned(&[c], DType::F32).map_err(|e| e.to_string())?,
            dbeta: poisoned(&[c], DType::F32).map_err(|e| e.to_string())?,
        };
        self.launch(0, &grads).map_err(|e| e.to_string())?;
        let got = grads.dx.to_f32_vec().map_err(|e| e.to_string())?;
        let (want, _, _) = reference::batch_norm::backward(
            &self.host_dy,
            &self.host_x,
            self.shape,
            &self.host_gamma,
            &self.host_stats.0,
            &self.host_stats.1,
        );
        let (bound, c) = testing::storage_bound(&want, dtype, 2.0);
        testing::compare(&got, &bound, dtype, c).map(|r| r.max_err_eps)
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        self.launch(i % SETS, &self.grads)
    }
}

/// An image tool and its variant.
enum FilterOp {
    /// A random `k × k` kernel.
    Correlate(usize, &'static filter::CorrelateVariant),
    /// Medians of `(2r+1)²` windows.
    Median(usize, &'static filter::RankVariant),
}

/// Reflect-101 borders, as OpenCV's default.
const BORDER: Border = Border::Reflect101;

struct FilterRunner {
    shape: [usize; 3],
    op: FilterOp,
    kernel: Vec<f32>,
    x: Vec<Tensor>,
    host_x: Vec<f32>,
}

impl FilterRunner {
    fn new(dev: &Device, shape: [usize; 3], op: FilterOp) -> weft::Result<FilterRunner> {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (x, host_x) = input_sets(dev, &mut rng, &shape, DType::F32)?;
        let kernel = match op {
            FilterOp::Correlate(k, _) => random_inputs(dev, &mut rng, &[k, k], DType::F32)?,
            FilterOp::Median(..) => Vec::new(),
        };
        Ok(FilterRunner {
            shape,
            op,
            kernel,
            x,
            host_x,
        })
    }

    fn launch(&self, s: usize) -> weft::Result<Tensor> {
        match self.op {
            FilterOp::Correlate(k, v) => {
                filter::correlate_by(&self.x[s], &self.kernel, k, k, BORDER, Some(v))
            }
            FilterOp::Median(r, v) => filter::rank_by(&self.x[s], r, Rank::Median, BORDER, Some(v)),
        }
    }
}

impl Runner for FilterRunner {
    fn check(&mut self) -> Result<f64, String> {
        let got = self
            .launch(0)
            .and_then(|y| y.to_f32_vec())
            .map_err(|e| e.to_string())?;
        let [c, h, w] = self.shape;
        match self.op {
            FilterOp::Correlate(k, _) => {
                let (value, scale) = reference::filter::correlate(
                    &self.host_x,
                    c,
                    [h, w],
                    &self.kernel,
                    [k, k],
                    BORDER,
                );
                compare_sampled(&got, DType::F32, sum_bound(DType::F32, k * k), |e| {
                    (value[e], scale[e])
                })
            }
            FilterOp::Median(r, _) => {
                // A selection: exact.
                let want =
                    reference::filter::rank(&self.host_x, c, [h, w], r, Rank::Median, BORDER);
                match got.iter().zip(&want).position(|(a, b)| a != b) {
                    None => Ok(0.0),
                    Some(e) => Err(format!("median {e}: {} instead of {}", got[e], want[e])),
                }
            }
        }
    }

    fn run(&mut self, i: usize) -> weft::Result<()> {
        self.launch(i % SETS).map(drop)
    }
}
