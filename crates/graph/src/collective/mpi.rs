//! Workers in separate processes, on one machine or many, through MPI
//! (`mpirun -n 4 weft train --distributed mpi ...`): Open MPI or MPICH does
//! the transport; weft stages tensors through host memory, one message per
//! exchange.

use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use weft_device::{Error, Result};

use super::Collective;

// SAFETY: MPI is initialised with `MPI_THREAD_SERIALIZED` where the library
// offers it, which lets any thread call MPI as long as no two do at once;
// every call goes through `&mut self`, so calls are serialised. Where the
// library offers less, `overlaps()` is false and the trainer keeps every
// exchange on the thread that created the collective.
unsafe impl Send for MpiCollective {}

/// This process's place in the MPI job it was started in.
pub struct MpiCollective {
    world: SimpleCommunicator,
    bytes: u64,
    /// The library lets any one thread at a time call it
    /// (`MPI_THREAD_SERIALIZED` or more).
    serialized: bool,
    /// Finalises MPI when dropped, so it goes last.
    _universe: Universe,
}

impl MpiCollective {
    /// Joins the MPI job (a process started alone is a job of one). Errors if
    /// MPI was initialised already in this process.
    pub fn init() -> Result<MpiCollective> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| {
                Error::invalid(
                    "data parallel",
                    "mpi",
                    "MPI is initialised already in this process",
                )
            })?;
        Ok(MpiCollective {
            world: universe.world(),
            bytes: 0,
            serialized: threading >= Threading::Serialized,
            _universe: universe,
        })
    }

    /// The MPI library's own name and version.
    pub fn library_version() -> String {
        mpi::environment::library_version().unwrap_or_default()
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_mean_values(&mut self, values: &mut [f32]) -> Result<()> {
        // f64 on the wire: the sum rounds once, as the local transport's.
        let wide: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let mut sum = vec![0.0f64; wide.len()];
        self.world
            .all_reduce_into(&wide[..], &mut sum[..], SystemOperation::sum());
        self.bytes += 16 * wide.len() as u64;
        let n = self.size() as f64;
        for (v, s) in values.iter_mut().zip(sum) {
            *v = (s / n) as f32;
        }
        Ok(())
    }

    fn broadcast_values(&mut self, values: &mut [f32]) -> Result<()> {
        self.world.process_at_rank(0).broadcast_into(values);
        self.bytes += 4 * values.len() as u64;
        Ok(())
    }

    fn barrier(&mut self) -> Result<()> {
        self.world.barrier();
        Ok(())
    }

    fn bytes_moved(&self) -> u64 {
        self.bytes
    }

    fn overlaps(&self) -> bool {
        self.serialized
    }
}
