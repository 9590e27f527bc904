//! Whole-network figures: training steps and inference of LeNet-5, ResNet-18
//! and U-Net, inference of every other network of the zoo — images per second (wall clock from a synced queue to a synced
//! queue, so host-side recording counts), the achieved GFLOP/s (the graph's
//! forward FLOPs, 3x for a training step) and the pool's measured peak. With
//! `--precision f16` (or `f16-packed`) each network also runs with f16
//! activations and gradients (parameters stay f32), its figures labelled f16.

use std::time::Instant;

use weft::graph::{ExecOptions, Graph, Loss, LrSchedule, Model, Optimizer, OptimizerKind, models};
use weft::{DType, Device, Tensor};

use super::report::NetworkFigure;
use super::{BenchArgs, PrecisionArg};

fn input(dev: &Device, graph: &Graph, batch: usize, dtype: DType) -> weft::Result<Tensor> {
    let shape = [vec![batch], graph.shape(graph.inputs()[0]).to_vec()].concat();
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    dev.upload_f32(&shape, dtype, &data)
}

/// Times `runs` calls of `step` after `warmup`, returning seconds per call,
/// the bytes live before the timed calls and the pool's peak over them.
fn time(
    dev: &Device,
    warmup: usize,
    runs: usize,
    mut step: impl FnMut() -> weft::Result<()>,
) -> weft::Result<(f64, u64, u64)> {
    for _ in 0..warmup {
        step()?;
    }
    dev.sync()?;
    dev.reset_peak();
    let live = dev.pool_stats().live_bytes;
    let t0 = Instant::now();
    for _ in 0..runs {
        step()?;
    }
    dev.sync()?;
    Ok((
        t0.elapsed().as_secs_f64() / runs as f64,
        live,
        dev.pool_stats().peak_live_bytes,
    ))
}

/// A model of `graph` whose activations and gradients are stored as `dtype`.
fn model(dev: &Device, graph: Graph, dtype: DType) -> weft::Result<Model> {
    let mut model = Model::new(dev, graph, 0)?;
    let options = ExecOptions {
        dtype,
        ..model.options().clone()
    };
    model.set_options(options)?;
    Ok(model)
}

fn training(
    dev: &Device,
    name: &str,
    graph: Graph,
    batch: usize,
    runs: usize,
    dtype: DType,
) -> weft::Result<NetworkFigure> {
    let out_shape = graph.shape(graph.outputs()[0]).to_vec();
    let x = input(dev, &graph, batch, dtype)?;
    // Classifiers: class indices and cross-entropy; dense outputs (U-Net's
    // masks): float targets of the output's shape and BCE with logits.
    let (targets, loss) = if out_shape.len() == 1 {
        let t: Vec<i32> = (0..batch).map(|i| (i % out_shape[0]) as i32).collect();
        let ce = Loss::CrossEntropy {
            label_smoothing: 0.0,
        };
        (dev.tensor_i32(&[batch], &t)?, ce)
    } else {
        let shape = [vec![batch], out_shape.clone()].concat();
        let n: usize = shape.iter().product();
        let t: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
        (dev.tensor(&shape, &t)?, Loss::BceWithLogits)
    };
    let flops = 3.0 * graph.forward_flops() as f64;
    let mut model = model(dev, graph, dtype)?;
    let mut opt = Optimizer::new(
        dev,
        model.graph(),
        OptimizerKind::adam(1e-3),
        LrSchedule::Constant,
    )?;
    let (secs, live, peak) = time(dev, 2, runs, || {
        model
            .train_step(&[&x], &targets, &loss, &mut opt)
            .map(|_| ())
    })?;
    let plan = model.plan_memory(batch, Some(loss), opt.state_bytes())?;
    Ok(NetworkFigure {
        name: name.to_string(),
        batch,
        images_per_s: batch as f64 / secs,
        planned_peak_bytes: plan.with_measurement(live, peak).planned_peak,
        peak_bytes: peak,
        seconds_per_batch: secs,
        gflop_s: flops * batch as f64 / secs / 1e9,
    })
}

fn inference(
    dev: &Device,
    name: &str,
    graph: Graph,
    batch: usize,
    runs: usize,
    dtype: DType,
) -> weft::Result<NetworkFigure> {
    let x = input(dev, &graph, batch, dtype)?;
    let flops = graph.forward_flops() as f64;
    let mut model = model(dev, graph, dtype)?;
    model.eval();
    let (secs, live, peak) = time(dev, 1, runs, || model.forward(&[&x]).map(|_| ()))?;
    let plan = model.plan_memory(batch, None, 0)?;
    Ok(NetworkFigure {
        name: name.to_string(),
        batch,
        images_per_s: batch as f64 / secs,
        planned_peak_bytes: plan.with_measurement(live, peak).planned_peak,
        peak_bytes: peak,
        seconds_per_batch: secs,
        gflop_s: flops * batch as f64 / secs / 1e9,
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
            "  {:<34} batch {:>4} {:>10.1} img/s {:>10.2} ms/batch {:>7.2} GFLOP/s",
            f.name,
            f.batch,
            f.images_per_s,
            1e3 * f.seconds_per_batch,
            f.gflop_s
        )
    };
    // The slow networks take fewer timed runs: one ResNet-18 training step
    // is seconds on a CPU rasteriser.
    let few = args.runs.clamp(1, 3);
    let resnet = || models::resnet18(1000, 224);
    let unet = || models::unet(3, 2, 64, 4, 128);
    let mobilenet = || models::mobilenet_v1(1000, 224);
    let jobs: Vec<(&str, usize, bool, Graph, usize)> = vec![
        ("lenet5 training step", 64, true, models::lenet5()?, runs),
        ("lenet5 training step", 256, true, models::lenet5()?, runs),
        ("lenet5 inference", 256, false, models::lenet5()?, runs),
        ("resnet18 inference 224x224", 1, false, resnet()?, few),
        ("resnet18 inference 224x224", 8, false, resnet()?, few),
        ("resnet18 training step 224x224", 8, true, resnet()?, few),
        ("unet inference 128x128", 1, false, unet()?, few),
        ("unet training step 128x128", 1, true, unet()?, few),
        (
            "vgg16 inference 224x224",
            1,
            false,
            models::vgg16(1000, 224)?,
            few,
        ),
        (
            "mobilenet-v1 inference 224x224",
            1,
            false,
            mobilenet()?,
            few,
        ),
        (
            "mobilenet-v1 inference 224x224",
            8,
            false,
            mobilenet()?,
            few,
        ),
    ];
    // The rest of the zoo: one inference figure each at its usual size.
    let mut jobs: Vec<(String, usize, bool, Graph, usize)> = jobs
        .into_iter()
        .map(|(name, batch, train, graph, runs)| (name.to_string(), batch, train, graph, runs))
        .collect();
    for name in [
        "alexnet",
        "vgg11",
        "vgg11-bn",
        "vgg16-bn",
        "resnet34",
        "resnet50",
        "mobilenet-v2",
        "googlenet",
    ] {
        let entry = models::entry(name)?;
        let label = format!("{name} inference {0}x{0}", entry.size);
        let graph = entry.build(entry.classes, entry.size)?;
        jobs.push((label, 1, false, graph, few));
    }
    let wanted = |name: &str| {
        args.networks.is_empty() || args.networks.iter().any(|w| name.contains(w.as_str()))
    };
    // Storage dtypes: f32, and f16 when any f16 precision is asked for.
    let mut dtypes = vec![];
    if args.precision.contains(&PrecisionArg::F32) {
        dtypes.push(DType::F32);
    }
    if args.precision.iter().any(|&p| p != PrecisionArg::F32) {
        dtypes.push(DType::F16);
    }
    for (name, batch, train, graph, runs) in jobs {
        if !wanted(&name) {
            continue;
        }
        for &dtype in &dtypes {
            let name = if dtype == DType::F32 {
                name.clone()
            } else {
                format!("{name} f16")
            };
            let graph = graph.clone();
            let f = if train {
                training(dev, &name, graph, batch, runs, dtype)?
            } else {
                inference(dev, &name, graph, batch, runs, dtype)?
            };
            report(&f);
            out.push(f);
        }
    }
    Ok(out)
}
