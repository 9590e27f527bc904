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

use weft_device::{Result, Tensor};

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

/// Host copies of `tensors`.
pub(crate) fn download(tensors: &[Tensor]) -> Result<Contribution> {
    tensors.iter().map(Tensor::to_f32_vec).collect()
}

/// Writes `values` back into `tensors`.
pub(crate) fn upload(tensors: &[Tensor], values: &Contribution) -> Result<()> {
    for (t, v) in tensors.iter().zip(values.iter()) {
        t.write_f32(v)?;
    }
    Ok(())
}
