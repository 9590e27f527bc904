//! Data-parallel training: `weft train --devices N` runs N workers in one
//! process, each a thread with a device of its own on the chosen adapter
//! ([`LocalGroup`]); `mpirun -n N weft train --distributed mpi` runs one
//! worker per process, on one machine or many (`MpiCollective`, feature
//! `mpi`). Each worker steps on its shard of every batch and the workers
//! average their gradients, so the run reaches the single-device run's
//! weights. Rank 0 alone shows progress, evaluates, and writes the
//! checkpoints and curves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use weft::data::{Loader, Mnist};
use weft::device::DeviceOptions;
use weft::graph::{
    Collective, ExchangeReport, LocalGroup, Loss, Model, Optimizer, Trainer, checkpoint,
};
use weft::{DType, Device};

use crate::Global;
use crate::chart::EpochPoint;
use crate::train::{self, Devices, TrainArgs};

/// What rank 0 reports at the end.
struct Summary {
    points: Vec<EpochPoint>,
    images: usize,
    seconds: f64,
    bytes_moved: u64,
    steps: usize,
    interrupted: bool,
    /// How the last step exchanged its gradients.
    exchange: Option<ExchangeReport>,
}

type WorkerResult = Result<Option<Summary>, String>;

/// `--batch` split over `workers` (`what` names them in the error).
fn check_split(args: &TrainArgs, workers: usize, what: &str) -> Result<(), String> {
    if !args.batch.is_multiple_of(workers) {
        return Err(format!(
            "--batch {} does not split evenly over {what}",
            args.batch
        ));
    }
    Ok(())
}

/// `--distributed mpi`: this process is one worker of the MPI job.
#[cfg(feature = "mpi")]
pub fn run_mpi(global: &Global, args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let collective = weft::graph::MpiCollective::init()?;
    let (rank, size) = (collective.rank(), collective.size());
    check_split(args, size, &format!("{size} MPI processes"))?;
    let mnist = crate::setup::mnist(args.data.as_deref(), !args.no_download)
        .map_err(|e| format!("rank {rank}: {e}"))?;
    let stop = train::stop_on_ctrl_c();
    let outcome = worker(
        rank,
        size,
        Box::new(collective),
        global.device_options()?,
        &mnist,
        args,
        &stop,
    )
    .map_err(|e| format!("rank {rank}: {e}"))?;
    if let Some(summary) = outcome {
        report(global, args, size, &summary, start.elapsed().as_secs_f64());
        if summary.interrupted {
            std::process::exit(130);
        }
    }
    Ok(())
}

/// `--distributed mpi` in a build without MPI.
#[cfg(not(feature = "mpi"))]
pub fn run_mpi(_: &Global, _: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    Err(
        "this weft was built without MPI: install an MPI library and libclang \
         (Debian: apt-get install libopenmpi-dev openmpi-bin libclang-dev) and build with \
         `cargo build --release -p weft-cli --features mpi`"
            .into(),
    )
}

pub fn run(global: &Global, args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let options = global.device_options()?;
    // One worker per GPU of the preferred kind, or several on one (a single
    // adapter, tests).
    let peers = weft::device::peer_adapters(&options);
    let workers = match args.devices {
        Devices::Count(n) => n,
        Devices::All => peers.len().max(1),
    };
    check_split(args, workers, &format!("{workers} devices"))?;
    let mnist = Arc::new(crate::setup::mnist(
        args.data.as_deref(),
        !args.no_download,
    )?);
    // A worker waits for the others as long as the GPU may take to show
    // progress, and a little more.
    let group = LocalGroup::new(workers, options.gpu_timeout + Duration::from_secs(30))?;
    let stop = train::stop_on_ctrl_c();
    let threads: Vec<_> = group
        .into_iter()
        .enumerate()
        .map(|(rank, collective)| {
            let options = match peers.len() {
                0 => options.clone(),
                n => peers[rank % n].clone(),
            };
            let (mnist, args, stop) = (mnist.clone(), args.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("weft-worker-{rank}"))
                .spawn(move || {
                    worker(
                        rank,
                        workers,
                        Box::new(collective),
                        options,
                        &mnist,
                        &args,
                        &stop,
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let results: Vec<WorkerResult> = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|_| Err("a worker panicked".into())))
        .collect();
    // The first failure that is not another worker's stopping is the cause.
    let failures: Vec<(usize, &String)> = results
        .iter()
        .enumerate()
        .filter_map(|(rank, r)| r.as_ref().err().map(|e| (rank, e)))
        .collect();
    if let Some((rank, cause)) = failures
        .iter()
        .find(|(_, e)| !e.contains("stopped ("))
        .or(failures.first())
    {
        return Err(format!("worker {rank}: {cause}").into());
    }
    let summary = results
        .into_iter()
        .next()
        .and_then(|r| r.ok().flatten())
        .ok_or("rank 0 reported nothing")?;
    report(
        global,
        args,
        workers,
        &summary,
        start.elapsed().as_secs_f64(),
    );
    if summary.interrupted {
        std::process::exit(130);
    }
    Ok(())
}

fn report(global: &Global, args: &TrainArgs, workers: usize, s: &Summary, seconds: f64) {
    let last = s.points.last();
    let accuracy = last.map_or(0.0, |p| p.test_accuracy);
    let images_per_s = s.images as f64 / s.seconds.max(1e-9);
    let per_step = s.bytes_moved as f64 / s.steps.max(1) as f64;
    if global.json {
        let out = json!({
            "command": "train",
            "model": args.model.name(),
            "devices": workers,
            "batch": args.batch,
            "epochs": last.map_or(0, |p| p.epoch),
            "test_accuracy": accuracy,
            "train_images_per_s": images_per_s,
            "bytes_moved_per_step": per_step,
            "buckets_per_step": s.exchange.map(|x| x.buckets),
            "buckets_during_backward": s.exchange.map(|x| x.during_backward),
            "seconds": seconds,
            "interrupted": s.interrupted,
            "checkpoint": args.out.display().to_string(),
        });
        println!("{out}");
    } else {
        eprintln!(
            "test accuracy {:.2}% after {} epoch(s) on {} devices; training {images_per_s:.0} img/s; \
             {:.2} MB moved per step by each worker; checkpoint {}; {seconds:.1} s",
            100.0 * accuracy,
            last.map_or(0, |p| p.epoch),
            workers,
            per_step / 1e6,
            args.out.display()
        );
    }
}

/// One worker: its device, model, loader shard and trainer, for every
/// epoch; rank 0 also evaluates and saves.
fn worker(
    rank: usize,
    workers: usize,
    collective: Box<dyn Collective>,
    options: DeviceOptions,
    mnist: &Mnist,
    args: &TrainArgs,
    stop: &AtomicBool,
) -> WorkerResult {
    let lead = rank == 0;
    let e = |e: weft::Error| e.to_string();
    let device = Device::new(options).map_err(e)?;
    let dtype = if args.fp16 { DType::F16 } else { DType::F32 };
    let mut model = Model::new(&device, args.model.build().map_err(e)?, args.seed).map_err(e)?;
    model
        .set_options(crate::setup::exec_options(dtype))
        .map_err(e)?;
    let shard = args.batch / workers;
    let mut train = Loader::new(&device, &mnist.train, shard, true, args.seed, dtype).map_err(e)?;
    train.augment = args
        .augment
        .augment(args.mixup)
        .map_err(|e| e.to_string())?;
    let global_batches = (mnist.train.count / args.batch).max(1);
    let steps_per_epoch = match args.limit {
        Some(l) => (l / args.batch).clamp(1, global_batches),
        None => global_batches,
    };
    let mut optimizer = Optimizer::new(
        &device,
        model.graph(),
        args.optim.kind(),
        train::schedule(args, steps_per_epoch),
    )
    .map_err(e)?;
    let (done, mut points) = match &args.resume {
        Some(path) => train::resume(path, args, dtype, &mut model, &mut optimizer)
            .map_err(|err| err.to_string())?,
        None => (0, Vec::new()),
    };
    train.set_epoch(done as u64);
    let loss = Loss::CrossEntropy {
        label_smoothing: args.label_smoothing,
    };
    let mut trainer = Trainer::new(model, optimizer, loss)
        .bucket_bytes(args.bucket_bytes())
        .with_collective(collective)
        .map_err(e)?;
    let mut test = if lead {
        let workers = format!("{workers} workers of {shard} images per step, on ");
        eprintln!("{}", train::banner(args, mnist, &device, &workers));
        Some(Loader::new(&device, &mnist.test, 256, false, 0, dtype).map_err(e)?)
    } else {
        None
    };
    let never = AtomicBool::new(false);
    let (mut images, mut seconds, mut steps, mut interrupted) = (0, 0.0, 0, false);
    for epoch in done + 1..=args.epochs {
        let bar = if lead {
            train::epoch_bar(epoch, args.epochs, steps_per_epoch)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let report = trainer
            .epoch(
                train.epoch_shard(Some(steps_per_epoch), rank, workers),
                |s| train::on_step(&bar, &never, s),
            )
            .map_err(e);
        bar.finish_and_clear();
        let report = report?;
        images += report.images * workers;
        seconds += report.seconds;
        steps += report.steps;
        if let Some(test) = &mut test {
            let eval = trainer.evaluate(test.epoch(None)).map_err(e)?;
            let point = EpochPoint {
                epoch,
                train_loss: report.mean_loss,
                // Rank 0's shard: an estimate of the whole batch's.
                train_accuracy: report.accuracy.unwrap_or(0.0),
                test_accuracy: eval.accuracy(),
            };
            eprintln!(
                "epoch {epoch:>3}/{}: loss {:.4}  train acc {:.2}% (rank 0's shard)  test acc {:.2}%  {:.0} img/s  ({:.1} s)",
                args.epochs,
                point.train_loss,
                100.0 * point.train_accuracy,
                100.0 * point.test_accuracy,
                (report.images * workers) as f64 / report.seconds.max(1e-9),
                report.seconds
            );
            points.push(point);
            let meta = train::metadata(args, epoch, eval.accuracy(), dtype, &points);
            checkpoint::save(&args.out, &trainer.model, Some(&trainer.optimizer), &meta)
                .map_err(e)?;
            train::write_chart(&args.out, args.model.name(), &points)
                .map_err(|err| err.to_string())?;
        }
        // Every worker must stop after the same epoch: they agree on
        // Ctrl-C through the collective (any worker that saw it stops all).
        if epoch < args.epochs {
            let seen = if stop.load(Ordering::SeqCst) {
                1.0
            } else {
                0.0
            };
            let mut flag = [seen];
            trainer
                .collective_mut()
                .ok_or("no collective")?
                .all_reduce_mean_values(&mut flag)
                .map_err(e)?;
            if flag[0] > 0.0 {
                interrupted = true;
                break;
            }
        }
    }
    if interrupted && lead {
        eprintln!(
            "stopped after the epoch; {} holds it (continue with `weft train --resume {}` and the same flags)",
            args.out.display(),
            args.out.display()
        );
    }
    let exchange = trainer.last_exchange();
    let bytes_moved = trainer.take_collective().map_or(0, |c| c.bytes_moved());
    Ok(lead.then_some(Summary {
        exchange,
        points,
        images,
        seconds,
        bytes_moved,
        steps,
        interrupted,
    }))
}
