//! Synchronised batch norm (PyTorch's `SyncBatchNorm`): training-mode batch
//! norm over the whole global batch of several data-parallel workers.
//!
//! Forward: each worker's per-channel count, mean and variance (from the
//! ordinary training kernel, run on scratch copies of the running
//! statistics) are exchanged as count-weighted sums, so the global mean
//! and biased variance follow exactly; the output is the evaluation kernel
//! with those statistics, and the running statistics move with the global
//! mean and the unbiased global variance.
//!
//! Backward: the ordinary gradient with the global statistics gives this
//! worker's Σdy and Σdy·x̂ (as dβ and dγ) and its dx over its own shard;
//! the sums are exchanged, and dx is corrected from the local to the global
//! normalisation: dx += γ·r·[(S1ₗ/Nₗ − S1/N) + x̂·(S2ₗ/Nₗ − S2/N)], an
//! affine function of x per channel. dγ and dβ stay this worker's (the
//! trainer averages parameter gradients as for any layer).
//!
//! The exchanges go through host memory: 2·C + 1 values each way, per layer
//! and step.

use weft_device::{DType, Error, Result, Tensor};
use weft_kernels::batch_norm::{self, BatchNormSpec};
use weft_kernels::elementwise;

use crate::collective::Collective;

/// The checks shared by both passes.
fn check(x: &Tensor) -> Result<[usize; 4]> {
    if x.dtype() != DType::F32 {
        return Err(Error::invalid(
            "sync_batch_norm",
            "dtype",
            format!(
                "synchronised batch norm runs on f32 activations, got {}",
                x.dtype()
            ),
        ));
    }
    <[usize; 4]>::try_from(x.shape()).map_err(|_| {
        Error::shape(
            "sync_batch_norm",
            format!("expected NCHW, got {:?}", x.shape()),
        )
    })
}

/// Replaces `values` by their sum over the workers.
fn all_reduce_sum(c: &mut dyn Collective, values: &[f32]) -> Result<Vec<f64>> {
    let mut mean = values.to_vec();
    c.all_reduce_mean_values(&mut mean)?;
    let workers = c.size() as f64;
    Ok(mean.iter().map(|&v| v as f64 * workers).collect())
}

/// Forward in training mode: returns the output and the global mean and
/// invstd (saved for backward), updating the running statistics.
pub(crate) fn forward(
    spec: &BatchNormSpec,
    x: &Tensor,
    [gamma, beta, running_mean, running_var]: [&Tensor; 4],
    c: &mut dyn Collective,
) -> Result<(Tensor, [Tensor; 2])> {
    let [n, ch, h, w] = check(x)?;
    let dev = x.device();
    // This worker's moments; the scratch buffers keep the running
    // statistics from moving with them.
    let (scratch_mean, scratch_var) =
        (dev.empty(&[ch], DType::F32)?, dev.empty(&[ch], DType::F32)?);
    dev.copy(running_mean, &scratch_mean)?;
    dev.copy(running_var, &scratch_var)?;
    let local = batch_norm::batch_norm_train(x, gamma, beta, &scratch_mean, &scratch_var, spec)?;
    let mean = local.save_mean.to_f32_vec()?;
    let invstd = local.save_invstd.to_f32_vec()?;
    let count = (n * h * w) as f64;
    let eps = spec.eps as f64;
    let mut sums = Vec::with_capacity(2 * ch + 1);
    sums.extend(mean.iter().map(|&m| (count * m as f64) as f32));
    sums.extend(mean.iter().zip(&invstd).map(|(&m, &r)| {
        let var = (1.0 / (r as f64 * r as f64) - eps).max(0.0);
        (count * (var + m as f64 * m as f64)) as f32
    }));
    sums.push(count as f32);
    let total = all_reduce_sum(c, &sums)?;
    let big_n = total[2 * ch];
    let g_mean: Vec<f64> = (0..ch).map(|k| total[k] / big_n).collect();
    let g_var: Vec<f64> = (0..ch)
        .map(|k| (total[ch + k] / big_n - g_mean[k] * g_mean[k]).max(0.0))
        .collect();

    // Running statistics: the global mean and the unbiased global variance.
    let m = spec.momentum as f64;
    let unbias = if big_n > 1.0 {
        big_n / (big_n - 1.0)
    } else {
        1.0
    };
    let rm: Vec<f32> = running_mean
        .to_f32_vec()?
        .iter()
        .zip(&g_mean)
        .map(|(&r, &g)| ((1.0 - m) * r as f64 + m * g) as f32)
        .collect();
    let rv: Vec<f32> = running_var
        .to_f32_vec()?
        .iter()
        .zip(&g_var)
        .map(|(&r, &v)| ((1.0 - m) * r as f64 + m * v * unbias) as f32)
        .collect();
    running_mean.write_f32(&rm)?;
    running_var.write_f32(&rv)?;

    let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let mean_t = dev.tensor(&[ch], &to32(&g_mean))?;
    let var_t = dev.tensor(&[ch], &to32(&g_var))?;
    let invstd_t = dev.tensor(
        &[ch],
        &g_var
            .iter()
            .map(|&v| (1.0 / (v + eps).sqrt()) as f32)
            .collect::<Vec<f32>>(),
    )?;
    let y = batch_norm::batch_norm_eval(x, gamma, beta, &mean_t, &var_t, spec)?;
    Ok((y, [mean_t, invstd_t]))
}

/// Backward of [`forward`] (after the activation's gradient): dx over the
/// global batch, this worker's dγ and dβ.
pub(crate) fn backward(
    dz: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    [mean, invstd]: [&Tensor; 2],
    c: &mut dyn Collective,
) -> Result<(Tensor, Tensor, Tensor)> {
    let [n, ch, h, w] = check(x)?;
    let (dx, dgamma, dbeta) = batch_norm::batch_norm_backward(dz, x, gamma, mean, invstd)?;
    let (s1, s2) = (dbeta.to_f32_vec()?, dgamma.to_f32_vec()?);
    let local_n = (n * h * w) as f64;
    let mut sums = Vec::with_capacity(2 * ch + 1);
    sums.extend(&s1);
    sums.extend(&s2);
    sums.push(local_n as f32);
    let total = all_reduce_sum(c, &sums)?;
    let big_n = total[2 * ch];
    let (g, r, mu) = (
        gamma.to_f32_vec()?,
        invstd.to_f32_vec()?,
        mean.to_f32_vec()?,
    );
    // dx += a + b·x̂ = (a − b·r·μ) + (b·r)·x per channel.
    let (mut slope, mut offset) = (vec![0f32; ch], vec![0f32; ch]);
    for k in 0..ch {
        let gr = g[k] as f64 * r[k] as f64;
        let a = gr * (s1[k] as f64 / local_n - total[k] / big_n);
        let b = gr * (s2[k] as f64 / local_n - total[ch + k] / big_n);
        slope[k] = (b * r[k] as f64) as f32;
        offset[k] = (a - b * r[k] as f64 * mu[k] as f64) as f32;
    }
    let dev = x.device();
    let slope = dev.tensor(&[1, ch, 1, 1], &slope)?;
    let offset = dev.tensor(&[1, ch, 1, 1], &offset)?;
    let correction = elementwise::add(&elementwise::mul(x, &slope)?, &offset)?;
    elementwise::accumulate(&dx, &correction)?;
    Ok((dx, dgamma, dbeta))
}
