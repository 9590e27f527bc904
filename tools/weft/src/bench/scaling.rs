//! `weft bench --suite scaling`: data-parallel training of LeNet-5 (global
//! batch 64) and ResNet-18 on 32² images (global batch 16), with 1, 2 and 4
//! workers in one process (a device each on the same adapter,
//! [`LocalGroup`]), exchanging gradients after the backward pass or in
//! buckets during it: images/s, the share of a step spent in the
//! all-reduce, how long the worker waited for the means after recording its
//! backward pass, and the bytes each worker moves per step.
//! On one CPU rasteriser the workers share the same cores, so the figure
//! is the data-parallel overhead, not a speed-up; on several GPUs it is
//! the scaling.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use weft::Device;
use weft::device::DeviceOptions;
use weft::graph::{
    Batch, Collective, DEFAULT_BUCKET_BYTES, LocalGroup, Loss, LrSchedule, Model, Optimizer,
    OptimizerKind, Trainer, models,
};

use super::BenchArgs;
use crate::Global;

/// A network the suite trains, at its global batch.
struct Workload {
    name: &'static str,
    build: fn() -> weft::Result<weft::graph::Graph>,
    /// Input `[C, H, W]` and classes.
    image: [usize; 3],
    classes: usize,
    global_batch: usize,
}

const WORKLOADS: [Workload; 2] = [
    Workload {
        name: "lenet5",
        build: models::lenet5,
        image: [1, 28, 28],
        classes: 10,
        global_batch: 64,
    },
    Workload {
        name: "resnet18-32",
        build: || models::resnet18(10, 32),
        image: [3, 32, 32],
        classes: 10,
        global_batch: 16,
    },
];

/// How the workers exchange gradients: after the backward pass, or in
/// buckets during it.
const EXCHANGES: [(&str, Option<u64>); 2] =
    [("after", None), ("buckets", Some(DEFAULT_BUCKET_BYTES))];

/// One row of the table.
#[derive(Debug, Clone, Copy)]
struct Row {
    workload: &'static str,
    global_batch: usize,
    exchange: &'static str,
    workers: usize,
    seconds_per_step: f64,
    reduce_seconds_per_step: f64,
    waited_seconds_per_step: f64,
    bytes_per_step: f64,
}

/// What rank 0 measured, per step.
struct Measured {
    seconds: f64,
    /// In the all-reduces (on whichever thread ran them).
    reduce_seconds: f64,
    /// Waiting for the means after the backward pass was recorded.
    waited_seconds: f64,
    bytes: f64,
}

/// A collective that adds up the time its all-reduces of host values take
/// (waiting for the other workers, the transfers and the sum; not the
/// readback before them, nor the backward pass it waits for).
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
    fn all_reduce_mean_values(&mut self, values: &mut [f32]) -> weft::Result<()> {
        let t0 = Instant::now();
        let r = self.inner.all_reduce_mean_values(values);
        *self.seconds.lock().unwrap_or_else(|e| e.into_inner()) += t0.elapsed().as_secs_f64();
        r
    }
    fn broadcast_values(&mut self, values: &mut [f32]) -> weft::Result<()> {
        self.inner.broadcast_values(values)
    }
    fn barrier(&mut self) -> weft::Result<()> {
        self.inner.barrier()
    }
    fn bytes_moved(&self) -> u64 {
        self.inner.bytes_moved()
    }
    fn overlaps(&self) -> bool {
        self.inner.overlaps()
    }
}

/// What one worker runs.
struct Job {
    workload: &'static Workload,
    bucket_bytes: Option<u64>,
    warmup: usize,
    runs: usize,
}

/// One worker's steps; rank 0 returns what it measured.
fn worker(
    collective: Box<dyn Collective>,
    options: DeviceOptions,
    job: &Job,
) -> weft::Result<Option<Measured>> {
    let (rank, workers) = (collective.rank(), collective.size());
    let w = job.workload;
    let dev = Device::new(options)?;
    let shard = w.global_batch / workers;
    let [c, h, wd] = w.image;
    let pixels: Vec<f32> = (0..shard * c * h * wd)
        .map(|i| ((i * 7919 + rank * 13) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let images = dev.tensor(&[shard, c, h, wd], &pixels)?;
    let labels: Vec<i32> = (0..shard)
        .map(|i| ((i + rank) % w.classes) as i32)
        .collect();
    let targets = dev.tensor_i32(&[shard], &labels)?;
    let model = Model::new(&dev, (w.build)()?, 0)?;
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
    let mut trainer = Trainer::new(model, opt, loss)
        .bucket_bytes(job.bucket_bytes)
        .with_collective(Box::new(timed))?;
    let step = |t: &mut Trainer| -> weft::Result<f64> {
        let batch = Batch {
            inputs: vec![images.clone()],
            targets: targets.clone(),
            mixup: None,
        };
        t.step(batch)?.loss.to_f32_vec()?;
        Ok(t.last_exchange().map_or(0.0, |x| x.waited_s))
    };
    for _ in 0..job.warmup {
        step(&mut trainer)?;
    }
    let c = trainer.collective_mut().expect("a collective");
    c.barrier()?;
    let bytes_before = c.bytes_moved();
    *seconds.lock().unwrap_or_else(|e| e.into_inner()) = 0.0;
    let t0 = Instant::now();
    let mut waited = 0.0;
    for _ in 0..job.runs {
        waited += step(&mut trainer)?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let bytes = trainer
        .collective_mut()
        .expect("a collective")
        .bytes_moved()
        - bytes_before;
    let reduce = *seconds.lock().unwrap_or_else(|e| e.into_inner());
    let n = job.runs as f64;
    Ok((rank == 0).then_some(Measured {
        seconds: elapsed / n,
        reduce_seconds: reduce / n,
        waited_seconds: waited / n,
        bytes: bytes as f64 / n,
    }))
}

fn measure(
    workers: usize,
    options: &DeviceOptions,
    job: Job,
) -> Result<Measured, Box<dyn std::error::Error>> {
    let group = LocalGroup::new(workers, Duration::from_secs(120))?;
    let job = Arc::new(job);
    let threads: Vec<_> = group
        .into_iter()
        .map(|c| {
            let options = options.clone();
            let job = job.clone();
            std::thread::spawn(move || worker(Box::new(c), options, &job))
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
    let (warmup, runs) = (args.warmup.max(2), args.runs.max(10));
    let mut rows = Vec::new();
    let chosen = WORKLOADS.iter().filter(|w| {
        args.networks.is_empty() || args.networks.iter().any(|n| w.name.contains(n.as_str()))
    });
    for w in chosen {
        eprintln!(
            "data-parallel {} training, global batch {} (Adam), one device per worker:",
            w.name, w.global_batch
        );
        for workers in [1, 2, 4] {
            // One worker exchanges nothing, whichever way.
            let exchanges = if workers == 1 {
                &[("none", None)][..]
            } else {
                &EXCHANGES[..]
            };
            for &(exchange, bucket_bytes) in exchanges {
                let job = Job {
                    workload: w,
                    bucket_bytes,
                    warmup,
                    runs,
                };
                let m = measure(workers, &options, job)?;
                eprintln!(
                    "  {workers} worker(s), exchange {exchange:<7}: {:>7.1} img/s {:>8.2} ms/step, all-reduce {:>5.1}% of a step, waited {:>7.2} ms after the pass, {:>6.2} MB moved per step by each worker",
                    w.global_batch as f64 / m.seconds,
                    1e3 * m.seconds,
                    100.0 * m.reduce_seconds / m.seconds,
                    1e3 * m.waited_seconds,
                    m.bytes / 1e6
                );
                rows.push(Row {
                    workload: w.name,
                    global_batch: w.global_batch,
                    exchange,
                    workers,
                    seconds_per_step: m.seconds,
                    reduce_seconds_per_step: m.reduce_seconds,
                    waited_seconds_per_step: m.waited_seconds,
                    bytes_per_step: m.bytes,
                });
            }
        }
    }
    if global.json {
        let out = json!({
            "command": "bench",
            "suite": "scaling",
            "adapter": device.caps().adapter.name,
            "bucket_bytes": DEFAULT_BUCKET_BYTES,
            "rows": rows.iter().map(|r| json!({
                "network": r.workload,
                "global_batch": r.global_batch,
                "exchange": r.exchange,
                "workers": r.workers,
                "images_per_s": r.global_batch as f64 / r.seconds_per_step,
                "seconds_per_step": r.seconds_per_step,
                "all_reduce_share": r.reduce_seconds_per_step / r.seconds_per_step,
                "waited_after_backward_s": r.waited_seconds_per_step,
                "bytes_per_step": r.bytes_per_step,
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
    }
    Ok(())
}
