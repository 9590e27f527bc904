//! Soak: long runs hold no more memory at the end than after warm-up.
//! Training steps of LeNet-5 and of a small residual network with batch
//! norm, and single-image inference calls, with the device pool's live and
//! held bytes and the process's resident set sampled as they run.
//!
//! CI runs a short version; `WEFT_SOAK_STEPS=20000 WEFT_SOAK_INFERENCES=100000`
//! is the long run recorded in docs/RELIABILITY.md.

mod common;

use std::ops::ControlFlow;

use weft::data::{Loader, Mnist};
use weft::graph::{Graph, Loss, LrSchedule, Model, Optimizer, OptimizerKind, Trainer, models};
use weft::{DType, Device};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set of the process, bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// One sample of what a long run could leak.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: usize,
    live: u64,
    held: u64,
    rss: u64,
}

fn sample(dev: &Device, at: usize) -> Sample {
    dev.sync().unwrap();
    let s = dev.pool_stats();
    Sample {
        at,
        live: s.live_bytes,
        held: s.held_bytes,
        rss: rss_bytes(),
    }
}

/// After the first sample past warm-up, live and held device bytes stay
/// exactly as they were, and the resident set grows by less than `rss_slack`.
fn assert_flat(what: &str, samples: &[Sample], rss_slack: u64) {
    let first = samples[1];
    let last = *samples.last().unwrap();
    eprintln!(
        "{what}: {} samples to {}; live {} -> {} B, held {} -> {} B, resident {:.1} -> {:.1} MB",
        samples.len(),
        last.at,
        first.live,
        last.live,
        first.held,
        last.held,
        first.rss as f64 / 1e6,
        last.rss as f64 / 1e6
    );
    for s in &samples[1..] {
        assert_eq!(s.live, first.live, "{what}: live bytes moved at {}", s.at);
        assert_eq!(s.held, first.held, "{what}: held bytes moved at {}", s.at);
    }
    let grown = last.rss.saturating_sub(first.rss);
    assert!(grown < rss_slack, "{what}: resident set grew {grown} bytes");
}

fn soak_training(name: &str, graph: Graph, steps: usize) {
    let dev = Device::from_env().unwrap();
    let mnist = Mnist::embedded().unwrap();
    let model = Model::new(&dev, graph, 1).unwrap();
    let opt = Optimizer::new(
        &dev,
        model.graph(),
        OptimizerKind::adam(1e-3),
        LrSchedule::Constant,
    )
    .unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let mut trainer = Trainer::new(model, opt, loss);
    let mut train = Loader::new(&dev, &mnist.train, 8, true, 1, DType::F32).unwrap();
    let warm_up = (steps / 10).max(50);
    let every = (steps / 20).max(10);
    let mut samples = Vec::new();
    let (mut done, mut last_loss) = (0usize, f64::NAN);
    while done < steps {
        let report = trainer
            .epoch(train.epoch(Some(steps - done)), |s| {
                last_loss = s.loss;
                let at = done + s.epoch_step + 1;
                if at == warm_up || (at > warm_up && at % every == 0) || at == steps {
                    samples.push(sample(&dev, at));
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        done += report.steps;
    }
    assert!(last_loss.is_finite());
    assert!(samples.len() >= 3, "{samples:?}");
    assert_flat(
        &format!("{name}, {steps} training steps"),
        &samples,
        32 << 20,
    );
}

/// One test, so that the resident set is this run's alone (tests of one
/// binary share the process).
#[test]
fn long_runs_hold_steady() {
    let steps = count("WEFT_SOAK_STEPS", 400);
    soak_training("LeNet-5", models::lenet5().unwrap(), steps);
    soak_training("small residual net", common::small_residual(), steps);
    soak_inference(count("WEFT_SOAK_INFERENCES", 2000));
}

fn soak_inference(calls: usize) {
    let dev = Device::from_env().unwrap();
    let mnist = Mnist::embedded().unwrap();
    let mut model = Model::new(&dev, models::lenet5().unwrap(), 2).unwrap();
    model.eval();
    let images: Vec<Vec<f32>> = (0..16)
        .map(|i| {
            mnist.test.images[i * 784..(i + 1) * 784]
                .iter()
                .map(|&p| p as f32 / 255.0)
                .collect()
        })
        .collect();
    let warm_up = (calls / 10).max(100);
    let every = (calls / 20).max(50);
    let mut samples = Vec::new();
    for i in 1..=calls {
        let x = dev.tensor(&[1, 1, 28, 28], &images[i % 16]).unwrap();
        let y = model.forward(&[&x]).unwrap();
        let logits = y[0].to_f32_vec().unwrap();
        assert!(logits.iter().all(|v| v.is_finite()));
        drop((x, y));
        if i == warm_up || (i > warm_up && i % every == 0) {
            samples.push(sample(&dev, i));
        }
    }
    assert_flat(
        &format!("LeNet-5, {calls} inference calls"),
        &samples,
        32 << 20,
    );
}
