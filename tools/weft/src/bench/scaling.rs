//! `weft bench --suite scaling`: data-parallel training of LeNet-5 at a
//! global batch of 64, with 1, 2 and 4 workers in one process (a device
//! each on the same adapter, [`LocalGroup`]): images/s, the share of a
//! step spent in the all-reduce, and the bytes each worker moves per step.
//! On one CPU rasteriser the workers share the same cores, so the figure
//! is the data-parallel overhead, not a speed-up; on several GPUs it is
//! the scaling.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use weft::device::DeviceOptions;
use weft::graph::{
    Batch, Collective, LocalGroup, Loss, LrSchedule, Model, Optimizer, OptimizerKind, Trainer,
    models,
};
use weft::{Device, Tensor};

use super::BenchArgs;
use crate::Global;

/// Global batch of every run.
const BATCH: usize = 64;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
struct Row {
    workers: usize,
    seconds_per_step: f64,
    reduce_seconds_per_step: f64,
    bytes_per_step: f64,
}

/// A collective that adds up the time its all-reduces take (waiting for
/// the other workers, the transfers and the sum; not the queued work before
/// it, which it waits for outside the clock).
struct Timed {
    inner: Box<dyn Collective>,
    seconds: Arc<Mutex<f64>>,
}

impl Collective for Timed {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn all_reduce_mean(&mut self, tensors: &[Tensor]) -> weft::Result<()> {
        // The backward pass finishes first: its time is not the exchange's.
        if let Some(t) = tensors.first() {
            t.device().sync()?;
        }
        let t0 = Instant::now();
        let r = self.inner.all_reduce_mean(tensors);
        *self.seconds.lock().unwrap_or_else(|e| e.into_inner()) += t0.elapsed().as_secs_f64();
        r
    }
    fn broadcast(&mut self, tensors: &[Tensor]) -> weft::Result<()> {
        self.inner.broadcast(tensors)
    }
    fn barrier(&mut self) -> weft::Result<()> {
        self.inner.barrier()
    }
    fn bytes_moved(&self) -> u64 {
        self.inner.bytes_moved()
    }
}

/// One worker's steps; rank 0 returns the row.
fn worker(
    collective: Box<dyn Collective>,
    options: DeviceOptions,
    warmup: usize,
    runs: usize,
) -> weft::Result<Option<Row>> {
    let (rank, workers) = (collective.rank(), collective.size());
    let dev = Device::new(options)?;
    let shard = BATCH / workers;
    let graph = models::lenet5()?;
    let pixels: Vec<f32> = (0..shard * 784)
        .map(|i| ((i * 7919 + rank * 13) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let images = dev.tensor(&[shard, 1, 28, 28], &pixels)?;
    let labels: Vec<i32> = (0..shard).map(|i| ((i + rank) % 10) as i32).collect();
    let targets = dev.tensor_i32(&[shard], &labels)?;
    let model = Model::new(&dev, graph, 0)?;
    let opt = Optimizer::new(
        &dev,
        model.graph(),
        OptimizerKind::adam(1e-3),
        LrSchedule::Constant,
    )?;
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let seconds = Arc::new(Mutex::new(0.0));
    let timed = Timed {
        inner: collective,
        seconds: seconds.clone(),
    };
    let mut trainer = Trainer::new(model, opt, loss).with_collective(Box::new(timed))?;
    let step = |t: &mut Trainer| -> weft::Result<()> {
        let batch = Batch {
            inputs: vec![images.clone()],
            targets: targets.clone(),
            mixup: None,
        };
        t.step(batch)?.loss.to_f32_vec().map(|_| ())
    };
    for _ in 0..warmup {
        step(&mut trainer)?;
    }
    let c = trainer.collective_mut().expect("a collective");
    c.barrier()?;
    let bytes_before = c.bytes_moved();
    *seconds.lock().unwrap_or_else(|e| e.into_inner()) = 0.0;
    let t0 = Instant::now();
    for _ in 0..runs {
        step(&mut trainer)?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let bytes = trainer
        .collective_mut()
        .expect("a collective")
        .bytes_moved()
        - bytes_before;
    let reduce = *seconds.lock().unwrap_or_else(|e| e.into_inner());
    Ok((rank == 0).then_some(Row {
        workers,
        seconds_per_step: elapsed / runs as f64,
        reduce_seconds_per_step: reduce / runs as f64,
        bytes_per_step: bytes as f64 / runs as f64,
    }))
}

fn measure_workers(
    workers: usize,
    options: &DeviceOptions,
    args: &BenchArgs,
) -> Result<Row, Box<dyn std::error::Error>> {
    let group = LocalGroup::new(workers, Duration::from_secs(120))?;
    let (warmup, runs) = (args.warmup.max(2), args.runs.max(10));
    let threads: Vec<_> = group
        .into_iter()
        .map(|c| {
            let options = options.clone();
            std::thread::spawn(move || worker(Box::new(c), options, warmup, runs))
        })
        .collect();
    let mut row = None;
    for t in threads {
        let r = t.join().map_err(|_| "a worker panicked")??;
        row = row.or(r);
    }
    Ok(row.ok_or("rank 0 reported nothing")?)
}

/// Runs the suite and prints the table (and the JSON object with `--json`).
pub fn run(
    global: &Global,
    args: &BenchArgs,
    device: &Device,
) -> Result<(), Box<dyn std::error::Error>> {
    let options = global.device_options()?;
    let mut rows = Vec::new();
    eprintln!(
        "data-parallel LeNet-5 training, global batch {BATCH} (Adam), one device per worker:"
    );
    for workers in [1, 2, 4] {
        let r = measure_workers(workers, &options, args)?;
        eprintln!(
            "  {} worker(s): {:>7.0} img/s {:>8.2} ms/step, all-reduce {:>5.1}% of a step, {:>6.2} MB moved per step by each worker",
            r.workers,
            BATCH as f64 / r.seconds_per_step,
            1e3 * r.seconds_per_step,
            100.0 * r.reduce_seconds_per_step / r.seconds_per_step,
            r.bytes_per_step / 1e6
        );
        rows.push(r);
    }
    if global.json {
        let out = json!({
            "command": "bench",
            "suite": "scaling",
            "adapter": device.caps().adapter.name,
            "global_batch": BATCH,
            "rows": rows.iter().map(|r| json!({
                "workers": r.workers,
                "images_per_s": BATCH as f64 / r.seconds_per_step,
                "seconds_per_step": r.seconds_per_step,
                "all_reduce_share": r.reduce_seconds_per_step / r.seconds_per_step,
                "bytes_per_step": r.bytes_per_step,
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
    }
    Ok(())
}
