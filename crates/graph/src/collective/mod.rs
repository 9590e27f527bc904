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
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod overlap;

pub use local::{LocalCollective, LocalGroup};
#[cfg(feature = "mpi")]
pub use mpi::MpiCollective;

use weft_device::{DType, Result, Tensor};

/// What data-parallel workers do together. Every worker calls the same
/// operations in the same order, with values of the same lengths.
///
/// A transport exchanges host values; the tensor forms stage through them.
/// It is `Send` so that a worker can hand it to a helper thread that
/// exchanges buckets of gradients while the backward pass goes on
/// ([`Trainer::bucket_bytes`](crate::Trainer::bucket_bytes)).
pub trait Collective: Send {
    /// This worker's index, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of workers.
    fn size(&self) -> usize;
    /// Replaces `values`, on every worker, by their element-wise mean over
    /// the workers (summed in f64 and rounded once, so every worker gets
    /// the same bits).
    fn all_reduce_mean_values(&mut self, values: &mut [f32]) -> Result<()>;
    /// Replaces `values` by rank 0's.
    fn broadcast_values(&mut self, values: &mut [f32]) -> Result<()>;
    /// Returns once every worker has called it.
    fn barrier(&mut self) -> Result<()>;
    /// Bytes this worker has sent and received so far.
    fn bytes_moved(&self) -> u64;
    /// Whether exchanges may run on a helper thread while this worker's
    /// thread computes (an MPI library without thread support says no).
    fn overlaps(&self) -> bool {
        true
    }

    /// Replaces every tensor, on every worker, by its mean over the workers.
    fn all_reduce_mean(&mut self, tensors: &[Tensor]) -> Result<()> {
        let mut values = download(tensors)?;
        self.all_reduce_mean_values(&mut values)?;
        upload(tensors, &values)
    }

    /// Replaces every tensor by rank 0's.
    fn broadcast(&mut self, tensors: &[Tensor]) -> Result<()> {
        let mut values = if self.rank() == 0 {
            download(tensors)?
        } else {
            vec![0.0; tensors.iter().map(Tensor::numel).sum()]
        };
        self.broadcast_values(&mut values)?;
        if self.rank() != 0 {
            upload(tensors, &values)?;
        }
        Ok(())
    }
}

/// Whether `tensors` can travel as one buffer: several f32 tensors of one
/// device.
fn one_buffer(tensors: &[Tensor]) -> bool {
    tensors.len() > 1
        && tensors
            .iter()
            .all(|t| t.dtype() == DType::F32 && t.device().same(tensors[0].device()))
}

/// `tensors` gathered into one f32 tensor on their device, so that they read
/// back in one transfer: a readback's fixed cost (a submission, a map, a
/// wait) dwarfs a gradient's bytes.
pub(crate) fn gather(tensors: &[Tensor]) -> Result<Tensor> {
    let dev = tensors[0].device();
    let total: usize = tensors.iter().map(Tensor::numel).sum();
    let flat = dev.empty(&[total], DType::F32)?;
    let mut at = 0;
    for t in tensors {
        dev.copy_elements(t, 0, &flat, at, t.numel())?;
        at += t.numel();
    }
    Ok(flat)
}

/// Host copies of `tensors`, one after another.
pub(crate) fn download(tensors: &[Tensor]) -> Result<Vec<f32>> {
    if !one_buffer(tensors) {
        let mut all = Vec::new();
        for t in tensors {
            all.extend(t.to_f32_vec()?);
        }
        return Ok(all);
    }
    gather(tensors)?.to_f32_vec()
}

/// Writes `values` (the tensors' elements one after another) back into
/// `tensors` (several f32 tensors: one upload, then device-side copies).
pub(crate) fn upload(tensors: &[Tensor], values: &[f32]) -> Result<()> {
    if !one_buffer(tensors) {
        let mut at = 0;
        for t in tensors {
            t.write_f32(&values[at..at + t.numel()])?;
            at += t.numel();
        }
        return Ok(());
    }
    let dev = tensors[0].device();
    let flat = dev.tensor(&[values.len()], values)?;
    let mut at = 0;
    for t in tensors {
        dev.copy_elements(&flat, at, t, 0, t.numel())?;
        at += t.numel();
    }
    Ok(())
}
