//! Data-parallel training in one process: 2 and 4 workers, each on a device
//! of its own (several devices on one adapter), each stepping on its shard
//! of the batch with gradients averaged before the update, end with the
//! weights of one worker trained on the combined batch. Every worker ends
//! with the same weights, bit for bit. With mixup, one worker in the
//! data-parallel path matches the plain trainer (the mixup objective goes
//! through the exchange unchanged). A worker that fails makes the others
//! stop with an error naming it, rather than hang. With synchronised batch
//! norm, workers on a residual network with batch norm reach the single worker's
//! weights and running statistics (per-worker statistics do not). Gradients
//! exchanged in buckets during the backward pass give the bits of one
//! exchange after it.
//!
//! Bound: after 6 steps, |w_parallel − w_single| ≤ 1e-5 · (1 + |w_single|).
//! The two runs differ only in summation order (each worker's gradient is a
//! mean over its shard, then the means are averaged in f64), a few f32
//! roundings per gradient element, relative ~1e-7, which the updates carry
//! into the weights at about the learning rate's scale; 1e-5 leaves a wide
//! margin while a wrong average (a sum, a missed worker, a stale gradient)
//! moves weights by 1e-3 or more.

mod common;

use std::ops::ControlFlow;
use std::time::Duration;

use weft::data::{Loader, Mnist};
use weft::graph::{
    DEFAULT_BUCKET_BYTES, ExchangeReport, Graph, LocalGroup, Loss, LrSchedule, Model, Optimizer,
    OptimizerKind, Trainer, models,
};
use weft::{DType, Device, Error};

const GLOBAL_BATCH: usize = 32;
const STEPS: usize = 6;

fn trainer(dev: &Device, seed: u64, kind: OptimizerKind) -> Trainer {
    trainer_of(dev, models::lenet5().unwrap(), seed, kind)
}

fn trainer_of(dev: &Device, graph: Graph, seed: u64, kind: OptimizerKind) -> Trainer {
    let model = Model::new(dev, graph, seed).unwrap();
    let opt = Optimizer::new(dev, model.graph(), kind, LrSchedule::Constant).unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    Trainer::new(model, opt, loss)
}

fn weights(t: &Trainer) -> Vec<Vec<f32>> {
    t.model
        .params()
        .iter()
        .map(|p| p.to_f32_vec().unwrap())
        .collect()
}

/// A worker's loader: its share of the global batch, the common seed.
fn shard_loader(dev: &Device, mnist: &Mnist, workers: usize) -> Result<Loader, Error> {
    Loader::new(
        dev,
        &mnist.train,
        GLOBAL_BATCH / workers,
        true,
        7,
        DType::F32,
    )
}

/// One worker on the whole batch.
fn single(kind: OptimizerKind) -> Vec<Vec<f32>> {
    let dev = Device::from_env().unwrap();
    let mnist = Mnist::embedded().unwrap();
    let mut t = trainer(&dev, 1, kind);
    let mut loader = Loader::new(&dev, &mnist.train, GLOBAL_BATCH, true, 7, DType::F32).unwrap();
    let r = t
        .epoch(loader.epoch(Some(STEPS)), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(r.steps, STEPS);
    weights(&t)
}

/// A worker's weights and the bytes it moved, or its error.
type WorkerOutcome = Result<(Vec<Vec<f32>>, u64), Error>;

/// `workers` workers, each on `GLOBAL_BATCH / workers` samples of every
/// batch, in threads; worker `fail_at` (if any) fails at that step. Returns
/// each worker's weights or error, and the bytes each moved.
fn parallel(
    workers: usize,
    kind: OptimizerKind,
    fail_at: Option<(usize, usize)>,
    bucket_bytes: Option<u64>,
) -> Vec<WorkerOutcome> {
    let group = LocalGroup::new(workers, Duration::from_secs(30)).unwrap();
    let handles: Vec<_> = group
        .into_iter()
        .enumerate()
        .map(|(rank, collective)| {
            std::thread::spawn(move || -> WorkerOutcome {
                let dev = Device::from_env()?;
                let mnist = Mnist::embedded()?;
                // Other seeds than rank 0's: the broadcast must make them equal.
                let mut t = trainer(&dev, 1 + 100 * rank as u64, kind)
                    .bucket_bytes(bucket_bytes)
                    .with_collective(Box::new(collective))?;
                assert_eq!(t.worker(), (rank, workers));
                let mut seen = 0;
                t = t.with_batch_hook(move |_| {
                    seen += 1;
                    match fail_at {
                        Some((r, step)) if r == rank && seen == step => {
                            Err(Error::invalid("test", "worker", "a deliberate failure"))
                        }
                        _ => Ok(()),
                    }
                });
                let mut loader = shard_loader(&dev, &mnist, workers)?;
                let r = t.epoch(loader.epoch_shard(Some(STEPS), rank, workers), |_| {
                    ControlFlow::Continue(())
                })?;
                assert_eq!(r.steps, STEPS);
                assert!(r.mean_loss.is_finite());
                let bytes = t.take_collective().map_or(0, |c| c.bytes_moved());
                Ok((weights(&t), bytes))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn assert_close(got: &[Vec<f32>], want: &[Vec<f32>], what: &str) -> f64 {
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        for (&a, &b) in g.iter().zip(w) {
            let err = (a as f64 - b as f64).abs() / (1.0 + (b as f64).abs());
            worst = worst.max(err);
        }
    }
    assert!(worst <= 1e-5, "{what}: relative difference {worst:e}");
    worst
}

#[test]
fn workers_reach_the_weights_of_one_worker_with_the_whole_batch() {
    for kind in [
        OptimizerKind::sgd(0.05, 0.9, 0.0),
        OptimizerKind::adam(1e-3),
    ] {
        let want = single(kind);
        for workers in [2, 4] {
            let results = parallel(workers, kind, None, Some(DEFAULT_BUCKET_BYTES));
            let results: Vec<(Vec<Vec<f32>>, u64)> =
                results.into_iter().map(Result::unwrap).collect();
            for (rank, (w, _)) in results.iter().enumerate().skip(1) {
                assert!(
                    w.iter()
                        .flatten()
                        .zip(results[0].0.iter().flatten())
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "rank {rank} differs from rank 0"
                );
            }
            let worst = assert_close(
                &results[0].0,
                &want,
                &format!("{workers} workers, {kind:?}"),
            );
            let params: u64 = want.iter().map(|w| 4 * w.len() as u64).sum();
            eprintln!(
                "{workers} workers, {kind:?}: max relative difference {worst:.1e}; rank 0 moved {} bytes ({:.1}× the parameters per step)",
                results[0].1,
                results[0].1 as f64 / params as f64 / STEPS as f64
            );
        }
    }
}

#[test]
fn a_failing_worker_stops_the_others_with_its_rank() {
    // One exchange after the pass, and buckets in flight on the helper
    // threads when the worker fails.
    for bucket_bytes in [None, Some(256)] {
        let results = parallel(
            3,
            OptimizerKind::sgd(0.05, 0.0, 0.0),
            Some((1, 3)),
            bucket_bytes,
        );
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("a deliberate failure"), "{err}");
        for rank in [0, 2] {
            let err = results[rank].as_ref().unwrap_err().to_string();
            assert!(
                err.contains("worker 1 stopped"),
                "buckets {bucket_bytes:?}, rank {rank}: {err}"
            );
        }
    }
}

/// Mixup through the data-parallel path: a group of one worker draws the
/// same batches, partners and λ as the plain trainer and must reach its
/// weights; two workers (each mixing its own shard) stay bit-identical.
#[test]
fn mixup_goes_through_the_exchange() {
    let mnist = Mnist::embedded().unwrap();
    let kind = OptimizerKind::sgd(0.05, 0.9, 0.0);
    let plain = {
        let dev = Device::from_env().unwrap();
        let mut t = trainer(&dev, 1, kind);
        let mut loader =
            Loader::new(&dev, &mnist.train, GLOBAL_BATCH, true, 7, DType::F32).unwrap();
        loader.augment.mixup = 0.4;
        t.epoch(loader.epoch(Some(STEPS)), |_| ControlFlow::Continue(()))
            .unwrap();
        weights(&t)
    };
    let run = |workers: usize| -> Vec<Vec<Vec<f32>>> {
        let group = LocalGroup::new(workers, Duration::from_secs(30)).unwrap();
        let handles: Vec<_> = group
            .into_iter()
            .enumerate()
            .map(|(rank, c)| {
                std::thread::spawn(move || {
                    let dev = Device::from_env().unwrap();
                    let mnist = Mnist::embedded().unwrap();
                    let mut t = trainer(&dev, 1, kind).with_collective(Box::new(c)).unwrap();
                    let mut loader = shard_loader(&dev, &mnist, workers).unwrap();
                    loader.augment.mixup = 0.4;
                    let r = t
                        .epoch(loader.epoch_shard(Some(STEPS), rank, workers), |_| {
                            ControlFlow::Continue(())
                        })
                        .unwrap();
                    assert!(r.mean_loss.is_finite());
                    weights(&t)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    };
    let one = run(1);
    let worst = assert_close(&one[0], &plain, "mixup, one worker");
    eprintln!("mixup, one worker vs the plain trainer: max relative difference {worst:.1e}");
    let two = run(2);
    assert!(
        two[1]
            .iter()
            .flatten()
            .zip(two[0].iter().flatten())
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "mixup: rank 1 differs from rank 0"
    );
}

/// Every worker's weights (running statistics included) and last exchange
/// after `STEPS` steps of `workers` workers on `graph()`, with synchronised
/// batch norm if `sync`, exchanging gradients in buckets of `bucket_bytes`
/// (`None`: once, after the backward pass).
fn run_workers(
    workers: usize,
    graph: fn() -> Graph,
    sync: bool,
    bucket_bytes: Option<u64>,
) -> Vec<(Vec<Vec<f32>>, ExchangeReport)> {
    let kind = OptimizerKind::sgd(0.05, 0.9, 0.0);
    let group = LocalGroup::new(workers, Duration::from_secs(30)).unwrap();
    let handles: Vec<_> = group
        .into_iter()
        .enumerate()
        .map(|(rank, collective)| {
            std::thread::spawn(move || -> Result<_, Error> {
                let dev = Device::from_env()?;
                let mnist = Mnist::embedded()?;
                let mut t = trainer_of(&dev, graph(), 1 + rank as u64, kind)
                    .sync_batch_norm(sync)
                    .bucket_bytes(bucket_bytes)
                    .with_collective(Box::new(collective))?;
                let mut loader = shard_loader(&dev, &mnist, workers)?;
                t.epoch(loader.epoch_shard(Some(STEPS), rank, workers), |_| {
                    ControlFlow::Continue(())
                })?;
                Ok((
                    weights(&t),
                    t.last_exchange().expect("a data-parallel step"),
                ))
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect()
}

/// Rank 0's weights on the batch-norm network; `sync` turns synchronised
/// batch norm on.
fn bn_parallel(workers: usize, sync: bool) -> Vec<Vec<f32>> {
    run_workers(workers, common::small_residual, sync, None)
        .swap_remove(0)
        .0
}

fn same_bits(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Gradients exchanged in buckets while the backward pass goes on (256-byte
/// buckets: one per large tensor or a few small ones, so that LeNet-5 sends
/// 8 and the residual network 4) give the same bits as one exchange after the
/// pass: each element's mean does not depend on the bucket that carried
/// it. With synchronised batch norm the statistics' exchanges share the
/// helper thread's queue with the buckets. Every bucket but the last (which
/// carries the loss) leaves while backward is still being recorded.
#[test]
fn bucketed_exchange_gives_the_bits_of_one_exchange() {
    // (name, network, synchronised batch norm)
    type Net = (&'static str, fn() -> Graph, bool);
    let nets: [Net; 2] = [
        ("LeNet-5", || models::lenet5().unwrap(), false),
        (
            "residual, synchronised batch norm",
            common::small_residual,
            true,
        ),
    ];
    for (name, graph, sync) in nets {
        for workers in [2, 4] {
            let after = run_workers(workers, graph, sync, None);
            let buckets = run_workers(workers, graph, sync, Some(256));
            for (rank, ((a, ra), (b, rb))) in after.iter().zip(&buckets).enumerate() {
                assert!(
                    same_bits(a, b),
                    "{name}, {workers} workers, rank {rank}: bucketed weights differ"
                );
                assert!(
                    same_bits(a, &after[0].0),
                    "{name}: rank {rank} differs from rank 0"
                );
                assert_eq!((ra.buckets, ra.during_backward), (1, 0), "{name}");
                assert!(
                    rb.buckets >= 4 && rb.during_backward == rb.buckets - 1,
                    "{name}, rank {rank}: {rb:?}"
                );
            }
            eprintln!(
                "{name}, {workers} workers: {} buckets (waited {:.1} ms after the pass) give the bits of one exchange (waited {:.1} ms)",
                buckets[0].1.buckets,
                1e3 * buckets[0].1.waited_s,
                1e3 * after[0].1.waited_s
            );
        }
    }
}

/// Bound for the synchronised runs: 1e-4 · (1 + |w|) after 6 steps. The
/// statistics travel through the host and come back as the evaluation
/// kernel's input (a few f32 roundings more than the single worker's fused
/// pass, about 1e-7 relative after the updates); per-worker statistics move
/// the weights by about 1e-2, so the bound tells the two apart.
#[test]
fn synchronised_batch_norm_reaches_the_weights_of_the_whole_batch() {
    let dev = Device::from_env().unwrap();
    let mnist = Mnist::embedded().unwrap();
    let mut t = trainer_of(
        &dev,
        common::small_residual(),
        1,
        OptimizerKind::sgd(0.05, 0.9, 0.0),
    );
    let mut loader = Loader::new(&dev, &mnist.train, GLOBAL_BATCH, true, 7, DType::F32).unwrap();
    t.epoch(loader.epoch(Some(STEPS)), |_| ControlFlow::Continue(()))
        .unwrap();
    let want = weights(&t);
    let diff = |got: &[Vec<f32>]| {
        got.iter()
            .flatten()
            .zip(want.iter().flatten())
            .map(|(&a, &b)| (a as f64 - b as f64).abs() / (1.0 + (b as f64).abs()))
            .fold(0.0f64, f64::max)
    };
    for workers in [2, 4] {
        let synced = diff(&bn_parallel(workers, true));
        let separate = diff(&bn_parallel(workers, false));
        eprintln!(
            "{workers} workers: synchronised batch norm within {synced:.1e} of one worker, per-worker statistics {separate:.1e}"
        );
        assert!(
            synced <= 1e-4,
            "{workers} workers, synchronised: {synced:e}"
        );
        assert!(
            separate > 10.0 * synced.max(1e-6),
            "{workers} workers: per-worker statistics match too well ({separate:e})"
        );
    }
}
