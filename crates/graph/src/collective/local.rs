//! Workers in one process: one device each (on one adapter or several),
//! exchanging through host memory, summing in rank order.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use web_time::Instant;

use weft_device::{Error, Result};

use super::Collective;

/// One worker's values in an exchange.
type Contribution = Vec<f32>;

/// The rendezvous the workers of a [`LocalGroup`] share.
struct Rendezvous {
    size: usize,
    timeout: Duration,
    state: Mutex<Round>,
    turned: Condvar,
}

#[derive(Default)]
struct Round {
    /// Rounds completed.
    generation: u64,
    /// This round's contributions, by rank.
    slots: Vec<Option<Contribution>>,
    /// The last completed round's result.
    result: Arc<Contribution>,
    /// A worker that left the group, and why.
    left: Option<(usize, String)>,
}

/// Workers in one process: [`LocalGroup::new`] hands out one
/// [`LocalCollective`] per worker, each to be moved to its worker's thread.
pub struct LocalGroup;

impl LocalGroup {
    /// `size` connected workers. A worker that waits longer than `timeout`
    /// for the others reports which ranks it was waiting for.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(size: usize, timeout: Duration) -> Result<Vec<LocalCollective>> {
        if size == 0 {
            return Err(Error::invalid(
                "data parallel",
                "workers",
                "at least one worker is needed",
            ));
        }
        let shared = Arc::new(Rendezvous {
            size,
            timeout,
            state: Mutex::new(Round {
                slots: vec![None; size],
                ..Round::default()
            }),
            turned: Condvar::new(),
        });
        Ok((0..size)
            .map(|rank| LocalCollective {
                rank,
                shared: shared.clone(),
                bytes: 0,
            })
            .collect())
    }
}

/// One worker's end of a [`LocalGroup`]. When a worker stops (it failed,
/// or it returned early) its end is dropped, and every other worker's next
/// exchange is an error naming its rank, rather than a hang.
pub struct LocalCollective {
    rank: usize,
    shared: Arc<Rendezvous>,
    bytes: u64,
}

fn lock(m: &Mutex<Round>) -> MutexGuard<'_, Round> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocalCollective {
    /// Deposits `mine`, waits for every worker's, and returns what
    /// `combine` (run once, by the last worker to arrive, over the
    /// contributions in rank order) made of them.
    fn exchange(
        &mut self,
        mine: Contribution,
        combine: impl FnOnce(Vec<Contribution>) -> Contribution,
    ) -> Result<Arc<Contribution>> {
        let r = &*self.shared;
        let mut s = lock(&r.state);
        if let Some((rank, why)) = &s.left {
            return Err(worker_lost(*rank, why));
        }
        let generation = s.generation;
        s.slots[self.rank] = Some(mine);
        if s.slots.iter().all(Option::is_some) {
            let all: Vec<Contribution> = s
                .slots
                .iter_mut()
                .map(|c| c.take().unwrap_or_default())
                .collect();
            s.result = Arc::new(combine(all));
            s.generation += 1;
            r.turned.notify_all();
            return Ok(s.result.clone());
        }
        let start = Instant::now();
        while s.generation == generation {
            if let Some((rank, why)) = &s.left {
                return Err(worker_lost(*rank, why));
            }
            let waited = start.elapsed();
            if waited >= r.timeout {
                let missing: Vec<String> = s
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_none())
                    .map(|(i, _)| i.to_string())
                    .collect();
                return Err(Error::invalid(
                    "data parallel",
                    "workers",
                    format!(
                        "rank {} waited {:.0} s for rank(s) {} to reach the same exchange",
                        self.rank,
                        waited.as_secs_f64(),
                        missing.join(", ")
                    ),
                ));
            }
            s = r
                .turned
                .wait_timeout(s, r.timeout - waited)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(s.result.clone())
    }
}

/// Workers that disagree on an exchange's length called different
/// operations: an error rather than a panic in `copy_from_slice`.
fn check_len(got: &[f32], want: usize) -> Result<()> {
    if got.len() == want {
        return Ok(());
    }
    Err(Error::invalid(
        "data parallel",
        "workers",
        format!(
            "the workers exchanged {} values where this one gave {want}: they are not running the same network",
            got.len()
        ),
    ))
}

fn worker_lost(rank: usize, why: &str) -> Error {
    Error::invalid(
        "data parallel",
        "workers",
        format!("worker {rank} stopped ({why}); the others stop too"),
    )
}

fn byte_count(c: &[f32]) -> u64 {
    4 * c.len() as u64
}

impl Collective for LocalCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn all_reduce_mean_values(&mut self, values: &mut [f32]) -> Result<()> {
        self.bytes += 2 * byte_count(values);
        let n = self.shared.size as f64;
        let mean = self.exchange(values.to_vec(), |all| {
            // Summed in rank order, in f64, then rounded once: the same
            // result on every worker and in every run.
            if all.iter().any(|c| c.len() != all[0].len()) {
                return Vec::new();
            }
            (0..all[0].len())
                .map(|i| (all.iter().map(|c| c[i] as f64).sum::<f64>() / n) as f32)
                .collect()
        })?;
        check_len(&mean, values.len())?;
        values.copy_from_slice(&mean);
        Ok(())
    }

    fn broadcast_values(&mut self, values: &mut [f32]) -> Result<()> {
        let mine = if self.rank == 0 {
            values.to_vec()
        } else {
            Vec::new()
        };
        let first = self.exchange(mine, |mut all| std::mem::take(&mut all[0]))?;
        self.bytes += byte_count(&first);
        if self.rank != 0 {
            check_len(&first, values.len())?;
            values.copy_from_slice(&first);
        }
        Ok(())
    }

    fn barrier(&mut self) -> Result<()> {
        self.exchange(Vec::new(), |_| Vec::new()).map(|_| ())
    }

    fn bytes_moved(&self) -> u64 {
        self.bytes
    }
}

impl Drop for LocalCollective {
    fn drop(&mut self) {
        // After the last exchange nobody waits any more, so this only
        // matters to workers still exchanging: this one stopped early.
        let why = if std::thread::panicking() {
            "it panicked"
        } else {
            "it returned early, after an error or with fewer steps"
        };
        let mut s = lock(&self.shared.state);
        s.left.get_or_insert((self.rank, why.to_string()));
        self.shared.turned.notify_all();
    }
}
