//! Gradients exchanged while the backward pass goes on.
//!
//! The backward pass produces parameter gradients from the last layer to the
//! first. [`Buckets`] gathers them, in that order, into buckets of about
//! `bucket_bytes`; as soon as a bucket is full its readback is submitted
//! (after the launches that computed it) and handed to a helper thread,
//! which waits for the copy, averages the values over the workers through
//! the [`Collective`], and sends them back. Meanwhile this thread records
//! and submits the rest of the backward pass. Once backward is done,
//! [`Buckets::finish`] writes each bucket's mean back into its gradients.
//!
//! Every worker forms the same buckets in the same order (the same network,
//! the same schedule), so their exchanges pair up. The mean of each element
//! does not depend on which bucket carried it: bucketed and unbucketed
//! exchanges give the same bits.
//!
//! Everything the helper thread does goes through one queue, in order, and
//! other exchanges during the pass (synchronised batch norm's statistics)
//! join the same queue through [`Link`], so the order is the same on every
//! worker and the collective is only ever used by one thread at a time.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use weft_device::{DType, Error, PendingRead, Result, Tensor};

use super::{Collective, gather, upload};

/// Work for the helper thread, run against the collective in queue order;
/// a failure's message stops the queue.
pub(crate) type Job =
    Box<dyn FnOnce(&mut dyn Collective) -> std::result::Result<(), String> + Send>;

/// The sending end of the helper thread's queue, with the first failure
/// the helper met (after which it takes no more jobs).
#[derive(Clone)]
pub(crate) struct Queue {
    jobs: Sender<Job>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Queue {
    fn push(&self, job: Job) -> Result<()> {
        self.jobs.send(job).map_err(|_| self.stopped())
    }

    /// Why the helper stopped.
    fn stopped(&self) -> Error {
        let failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        Error::invalid(
            "data parallel",
            "exchange",
            format!(
                "an earlier exchange of this step failed: {}",
                failure.as_deref().unwrap_or("the exchange thread stopped")
            ),
        )
    }

    fn receive<T>(&self, reply: &Receiver<Result<T>>) -> Result<T> {
        reply.recv().map_err(|_| self.stopped())?
    }
}

/// A queue and the receiving end to hand to [`serve`].
pub(crate) fn queue() -> (Queue, Receiver<Job>, Arc<Mutex<Option<String>>>) {
    let (jobs, rx) = channel();
    let failure = Arc::new(Mutex::new(None));
    (
        Queue {
            jobs,
            failure: failure.clone(),
        },
        rx,
        failure,
    )
}

/// Runs `jobs` in order until the queue closes. After a job fails the rest
/// are refused, with its error: a worker that missed one exchange must not
/// pair its next bucket with the other workers' previous one.
pub(crate) fn serve(
    collective: &mut dyn Collective,
    jobs: Receiver<Job>,
    failure: Arc<Mutex<Option<String>>>,
) {
    for job in jobs {
        if let Err(why) = job(collective) {
            *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
            // Dropping the queue drops the jobs behind and their reply
            // senders: their waiters report this failure.
            return;
        }
    }
}

/// Sends `r` to its waiter; a failure also stops the queue, with the same
/// message.
fn answer<T>(tx: &Sender<Result<T>>, r: Result<T>) -> std::result::Result<(), String> {
    let stop = r.as_ref().err().map(ToString::to_string);
    let _ = tx.send(r);
    stop.map_or(Ok(()), Err)
}

type Reply = Receiver<Result<Vec<f32>>>;

/// This thread's end of the helper's queue, as a [`Collective`]: each call
/// queues the exchange behind the buckets already sent and waits for it.
pub(crate) struct Link {
    queue: Queue,
    rank: usize,
    size: usize,
    bytes: u64,
}

impl Link {
    pub(crate) fn new(queue: Queue, rank: usize, size: usize) -> Link {
        Link {
            queue,
            rank,
            size,
            bytes: 0,
        }
    }

    /// Queues `f` over `values` and waits for the values it leaves.
    fn call(
        &mut self,
        values: &mut [f32],
        f: fn(&mut dyn Collective, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        let (tx, rx) = channel();
        let mut mine = values.to_vec();
        let job: Job = Box::new(move |c| {
            let before = c.bytes_moved();
            let r = f(c, &mut mine).map(|()| (mine, c.bytes_moved() - before));
            answer(&tx, r)
        });
        self.queue.push(job)?;
        let (out, bytes) = self.queue.receive(&rx)?;
        values.copy_from_slice(&out);
        self.bytes += bytes;
        Ok(())
    }
}

impl Collective for Link {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_mean_values(&mut self, values: &mut [f32]) -> Result<()> {
        self.call(values, |c, v| c.all_reduce_mean_values(v))
    }

    fn broadcast_values(&mut self, values: &mut [f32]) -> Result<()> {
        self.call(values, |c, v| c.broadcast_values(v))
    }

    fn barrier(&mut self) -> Result<()> {
        self.call(&mut [], |c, _| c.barrier())
    }

    fn bytes_moved(&self) -> u64 {
        self.bytes
    }
}

/// Gradients gathered into buckets, each exchanged on the helper thread as
/// soon as it is full (see the module's documentation).
pub(crate) struct Buckets {
    queue: Queue,
    limit: u64,
    open: Vec<Tensor>,
    open_bytes: u64,
    sent: Vec<(Vec<Tensor>, Reply)>,
}

impl Buckets {
    /// Buckets of at least `limit` bytes (the last one may be smaller).
    pub(crate) fn new(queue: Queue, limit: u64) -> Buckets {
        Buckets {
            queue,
            limit: limit.max(1),
            open: Vec::new(),
            open_bytes: 0,
            sent: Vec::new(),
        }
    }

    /// Adds a tensor whose value is final; sends the bucket once it is full.
    pub(crate) fn add(&mut self, t: Tensor) -> Result<()> {
        self.open_bytes += t.byte_size();
        self.open.push(t);
        if self.open_bytes >= self.limit {
            self.send()?;
        }
        Ok(())
    }

    /// Starts the open bucket's readback and queues its exchange.
    pub(crate) fn send(&mut self) -> Result<()> {
        if self.open.is_empty() {
            return Ok(());
        }
        let tensors = std::mem::take(&mut self.open);
        self.open_bytes = 0;
        let dev = tensors[0].device().clone();
        let same_device = tensors.iter().all(|t| t.device().same(&dev));
        let reads: Vec<PendingRead> =
            if same_device && tensors.iter().all(|t| t.dtype() == DType::F32) {
                // One transfer for the whole bucket.
                let flat = if tensors.len() == 1 {
                    tensors[0].clone()
                } else {
                    gather(&tensors)?
                };
                vec![dev.start_read(&flat)?]
            } else {
                tensors
                    .iter()
                    .map(|t| t.device().start_read(t))
                    .collect::<Result<_>>()?
            };
        let (tx, rx) = channel();
        let job: Job = Box::new(move |c| answer(&tx, mean_of(c, reads)));
        self.queue.push(job)?;
        self.sent.push((tensors, rx));
        Ok(())
    }

    /// How many buckets have been sent so far.
    pub(crate) fn sent(&self) -> usize {
        self.sent.len()
    }

    /// Sends what is left, waits for every bucket's mean and writes it back
    /// into the tensors it came from. Returns the number of buckets and the
    /// seconds spent waiting for their means.
    pub(crate) fn finish(mut self) -> Result<(usize, f64)> {
        self.send()?;
        let mut waited = 0.0;
        for (tensors, reply) in &self.sent {
            let t0 = web_time::Instant::now();
            let mean = self.queue.receive(reply)?;
            waited += t0.elapsed().as_secs_f64();
            upload(tensors, &mean)?;
        }
        Ok((self.sent.len(), waited))
    }
}

/// Runs on the helper thread: waits for a bucket's readbacks and averages
/// the values over the workers.
fn mean_of(c: &mut dyn Collective, reads: Vec<PendingRead>) -> Result<Vec<f32>> {
    let mut values = Vec::new();
    for read in reads {
        values.extend(read.wait_f32()?);
    }
    c.all_reduce_mean_values(&mut values)?;
    Ok(values)
}
