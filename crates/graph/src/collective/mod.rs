//! Data-parallel training: every worker holds the whole model, trains on its
//! shard of each batch, and the workers average their gradients before each
//! optimizer step, so that N workers reach the weights one worker reaches
//! with the N-times-larger batch.
//!
//! [`Collective`] is how workers exchange tensors, with two transports:
//! [`LocalGroup`] connects workers in one process (one device each, on one
//! adapter or several), staging through host memory and summing in rank
//! order; [`MpiCollective`] (feature `mpi`) connects processes on one or
//! many machines through MPI (`mpirun -n 4 weft train --distributed mpi`).

mod local;
#[cfg(feature = "mpi")]
mod mpi;

pub use local::{LocalCollective, LocalGroup};
#[cfg(feature = "mpi")]
pub use mpi::MpiCollective;

use weft_device::{DType, Result, Tensor};

/// What data-parallel workers do together. Every worker calls the same
/// operations in the same order, with tensors of the same shapes.
pub trait Collective {
    /// This worker's index, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of workers.
    fn size(&self) -> usize;
    /// Replaces every tensor, on every worker, by its mean over the workers.
    fn all_reduce_mean(&mut self, tensors: &[Tensor]) -> Result<()>;
    /// Replaces every tensor by rank 0's.
    fn broadcast(&mut self, tensors: &[Tensor]) -> Result<()>;
    /// Returns once every worker has called it.
    fn barrier(&mut self) -> Result<()>;
    /// Bytes this worker has sent and received so far.
    fn bytes_moved(&self) -> u64;
}

/// Host copies of a worker's tensors, one vector each.
pub(crate) type Contribution = Vec<Vec<f32>>;

/// Whether `tensors` can travel as one buffer: several f32 tensors of one
/// device.
fn one_buffer(tensors: &[Tensor]) -> bool {
    tensors.len() > 1
        && tensors
            .iter()
            .all(|t| t.dtype() == DType::F32 && t.device().same(tensors[0].device()))
}

/// Host copies of `tensors`. Several f32 tensors are first gathered into
/// one buffer on the device and read back in one transfer: a readback's
/// fixed cost (a submission, a map, a wait) dwarfs a gradient's bytes.
pub(crate) fn download(tensors: &[Tensor]) -> Result<Contribution> {
    if !one_buffer(tensors) {
        return tensors.iter().map(Tensor::to_f32_vec).collect();
    }
    let dev = tensors[0].device();
    let total: usize = tensors.iter().map(Tensor::numel).sum();
    let flat = dev.empty(&[total], DType::F32)?;
    let mut at = 0;
    for t in tensors {
        dev.copy_elements(t, 0, &flat, at, t.numel())?;
        at += t.numel();
    }
    let all = flat.to_f32_vec()?;
    let mut out = Vec::with_capacity(tensors.len());
    let mut at = 0;
    for t in tensors {
        out.push(all[at..at + t.numel()].to_vec());
        at += t.numel();
    }
    Ok(out)
}

/// Writes `values` back into `tensors` (several f32 tensors: one upload,
/// then device-side copies).
pub(crate) fn upload(tensors: &[Tensor], values: &Contribution) -> Result<()> {
    if !one_buffer(tensors) {
        for (t, v) in tensors.iter().zip(values.iter()) {
            t.write_f32(v)?;
        }
        return Ok(());
    }
    let dev = tensors[0].device();
    let all: Vec<f32> = values.iter().flatten().copied().collect();
    let flat = dev.tensor(&[all.len()], &all)?;
    let mut at = 0;
    for t in tensors {
        dev.copy_elements(&flat, at, t, 0, t.numel())?;
        at += t.numel();
    }
    Ok(())
}
