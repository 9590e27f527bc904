//! Whole-network figures: LeNet-5 training steps and inference, ResNet-18 and
//! U-Net forward passes — images per second (wall clock from a synced queue to
//! a synced queue, so host-side recording counts) and the pool's measured peak.

use std::time::Instant;

use weft::graph::{Graph, Loss, LrSchedule, Model, Optimizer, OptimizerKind, models};
use weft::{DType, Device, Tensor};

use super::BenchArgs;
use super::report::NetworkFigure;

fn input(dev: &Device, graph: &Graph, batch: usize) -> weft::Result<Tensor> {
    let shape = [vec![batch], graph.shape(graph.inputs()[0]).to_vec()].concat();
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    dev.upload_f32(&shape, DType::F32, &data)
}

/// Times `runs` calls of `step` after `warmup`, returning seconds per call and
/// the pool's peak over the timed calls.
fn time(
    dev: &Device,
    warmup: usize,
    runs: usize,
    mut step: impl FnMut() -> weft::Result<()>,
) -> weft::Result<(f64, u64)> {
    for _ in 0..warmup {
        step()?;
    }
    dev.sync()?;
    dev.reset_peak();
    let t0 = Instant::now();
    for _ in 0..runs {
        step()?;
    }
    dev.sync()?;
    Ok((
        t0.elapsed().as_secs_f64() / runs as f64,
        dev.pool_stats().peak_live_bytes,
    ))
}

fn training(
    dev: &Device,
    name: &str,
    graph: Graph,
    batch: usize,
    runs: usize,
) -> weft::Result<NetworkFigure> {
    let classes = graph.shape(graph.outputs()[0])[0];
    let x = input(dev, &graph, batch)?;
    let t: Vec<i32> = (0..batch).map(|i| (i % classes) as i32).collect();
    let targets = dev.tensor_i32(&[batch], &t)?;
    let mut model = Model::new(dev, graph, 0)?;
    let mut opt = Optimizer::new(
        dev,
        model.graph(),
        OptimizerKind::adam(1e-3),
        LrSchedule::Constant,
    )?;
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let (secs, peak) = time(dev, 2, runs, || {
        model
            .train_step(&[&x], &targets, &loss, &mut opt)
            .map(|_| ())
    })?;
    Ok(NetworkFigure {
        name: name.to_string(),
        batch,
        images_per_s: batch as f64 / secs,
        peak_bytes: peak,
        seconds_per_batch: secs,
    })
}

fn inference(
    dev: &Device,
    name: &str,
    graph: Graph,
    batch: usize,
    runs: usize,
) -> weft::Result<NetworkFigure> {
    let x = input(dev, &graph, batch)?;
    let mut model = Model::new(dev, graph, 0)?;
    model.eval();
    let (secs, peak) = time(dev, 1, runs, || model.forward(&[&x]).map(|_| ()))?;
    Ok(NetworkFigure {
        name: name.to_string(),
        batch,
        images_per_s: batch as f64 / secs,
        peak_bytes: peak,
        seconds_per_batch: secs,
    })
}

/// The network figures of `weft bench`.
pub fn measure(
    dev: &Device,
    args: &BenchArgs,
) -> Result<Vec<NetworkFigure>, Box<dyn std::error::Error>> {
    let runs = args.runs.max(3);
    let mut out = Vec::new();
    let report = |f: &NetworkFigure| {
        eprintln!(
            "  {:<34} batch {:>4} {:>10.1} img/s {:>10.2} ms/batch",
            f.name,
            f.batch,
            f.images_per_s,
            1e3 * f.seconds_per_batch
        )
    };
    for batch in [64, 256] {
        let f = training(dev, "lenet5 training step", models::lenet5()?, batch, runs)?;
        report(&f);
        out.push(f);
    }
    let f = inference(dev, "lenet5 inference", models::lenet5()?, 256, runs)?;
    report(&f);
    out.push(f);
    let f = inference(
        dev,
        "resnet18 forward 224x224",
        models::resnet18(1000, 224)?,
        8,
        3,
    )?;
    report(&f);
    out.push(f);
    let f = inference(
        dev,
        "unet forward 128x128",
        models::unet(3, 2, 64, 4, 128)?,
        1,
        3,
    )?;
    report(&f);
    out.push(f);
    Ok(out)
}
