//! Workers in separate processes, on one machine or many, through MPI
//! (`mpirun -n 4 weft train --distributed mpi ...`): Open MPI or MPICH does
//! the transport; weft stages tensors through host memory, one message per
//! exchange.

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use weft_device::{Error, Result, Tensor};

use super::{Collective, Contribution, download, upload};

/// This process's place in the MPI job it was started in.
pub struct MpiCollective {
    world: SimpleCommunicator,
    bytes: u64,
    /// Finalises MPI when dropped, so it goes last.
    _universe: Universe,
}

impl MpiCollective {
    /// Joins the MPI job (a process started alone is a job of one). Errors if
    /// MPI was initialised already in this process.
    pub fn init() -> Result<MpiCollective> {
        let universe = mpi::initialize().ok_or_else(|| {
            Error::invalid(
                "data parallel",
                "mpi",
                "MPI is initialised already in this process",
            )
        })?;
        Ok(MpiCollective {
            world: universe.world(),
            bytes: 0,
            _universe: universe,
        })
    }

    /// The MPI library's own name and version.
    pub fn library_version() -> String {
        mpi::environment::library_version().unwrap_or_default()
    }
}

/// `values` flattened, and each vector's length.
fn flatten(values: &Contribution) -> (Vec<f64>, Vec<usize>) {
    let lens = values.iter().map(Vec::len).collect();
    let flat = values.iter().flatten().map(|&v| v as f64).collect();
    (flat, lens)
}

/// `flat` cut back into vectors of `lens`, as f32.
fn unflatten(flat: &[f64], lens: &[usize]) -> Contribution {
    let mut out = Vec::with_capacity(lens.len());
    let mut at = 0;
    for &n in lens {
        out.push(flat[at..at + n].iter().map(|&v| v as f32).collect());
        at += n;
    }
    out
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_mean(&mut self, tensors: &[Tensor]) -> Result<()> {
        // f64 on the wire: the sum rounds once, as the local transport's.
        let (flat, lens) = flatten(&download(tensors)?);
        let mut sum = vec![0.0f64; flat.len()];
        self.world
            .all_reduce_into(&flat[..], &mut sum[..], SystemOperation::sum());
        self.bytes += 16 * flat.len() as u64;
        let n = self.size() as f64;
        sum.iter_mut().for_each(|v| *v /= n);
        upload(tensors, &unflatten(&sum, &lens))
    }

    fn broadcast(&mut self, tensors: &[Tensor]) -> Result<()> {
        let mut values: Vec<f32> = if self.rank() == 0 {
            download(tensors)?.into_iter().flatten().collect()
        } else {
            vec![0.0; tensors.iter().map(Tensor::numel).sum()]
        };
        self.world
            .process_at_rank(0)
            .broadcast_into(&mut values[..]);
        self.bytes += 4 * values.len() as u64;
        if self.rank() != 0 {
            let mut at = 0;
            for t in tensors {
                let n = t.numel();
                t.write_f32(&values[at..at + n])?;
                at += n;
            }
        }
        Ok(())
    }

    fn barrier(&mut self) -> Result<()> {
        self.world.barrier();
        Ok(())
    }

    fn bytes_moved(&self) -> u64 {
        self.bytes
    }
}
