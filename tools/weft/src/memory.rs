//! `weft memory`: planned, measured and keep-everything peak memory of a step.

use clap::Args;
use serde_json::json;
use weft::graph::{ExecOptions, Loss, LrSchedule, Model, Optimizer, OptimizerKind};
use weft::{DType, Device};

use crate::Global;
use crate::models::ModelName;

#[derive(Args, Debug)]
pub struct MemoryArgs {
    /// The network.
    #[arg(long, value_enum, default_value_t = ModelName::LENET5)]
    pub model: ModelName,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// A training step (SGD with momentum) instead of inference.
    #[arg(long)]
    pub train: bool,
    /// f16 activations and gradients.
    #[arg(long)]
    pub fp16: bool,
    /// Recompute block internals in backward (gradient checkpointing).
    #[arg(long)]
    pub checkpoint: bool,
    /// Parameters to freeze (comma-separated patterns, as `weft finetune
    /// --freeze`): no backward before the first trained layer, no gradients
    /// or optimizer state for frozen ones.
    #[arg(long, value_name = "PATTERNS")]
    pub freeze: Option<String>,
    /// Steps to run; the peak is over all of them. With `WEFT_PROFILE=1` the
    /// first step's timings include compiling the pipelines, later ones do not.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
}

pub fn run(global: &Global, args: &MemoryArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::new(global.device_options()?)?;
    let mut graph = args.model.build()?;
    if let Some(patterns) = &args.freeze {
        graph.freeze(&weft::graph::NamePatterns::parse(patterns)?)?;
    }
    let recompute = if args.checkpoint {
        crate::models::checkpoint_nodes(&graph)
    } else {
        Vec::new()
    };
    let out_shape = graph.shape(graph.outputs()[0]).to_vec();
    let in_shape = graph.shape(graph.inputs()[0]).to_vec();
    let mut model = Model::new(&device, graph, 0)?;
    let dtype = if args.fp16 { DType::F16 } else { DType::F32 };
    model.set_options(ExecOptions {
        recompute,
        ..crate::setup::exec_options(dtype)
    })?;
    let batched_in = [vec![args.batch], in_shape.clone()].concat();
    let n_in = crate::setup::device_elements(&device, "--batch", &batched_in)?;
    let batched_out = [vec![args.batch], out_shape.clone()].concat();
    crate::setup::device_elements(&device, "--batch", &batched_out)?;
    let x = device.upload_f32(
        &[vec![args.batch], in_shape.clone()].concat(),
        dtype,
        &vec![0.5; n_in],
    )?;
    let report = if args.train {
        model.train();
        let mut opt = Optimizer::new(
            &device,
            model.graph(),
            OptimizerKind::sgd(0.01, 0.9, 0.0),
            LrSchedule::Constant,
        )?;
        let (loss, targets) = if out_shape.len() == 1 {
            let t: Vec<i32> = (0..args.batch as i32)
                .map(|i| i % out_shape[0] as i32)
                .collect();
            (
                Loss::CrossEntropy {
                    label_smoothing: 0.0,
                },
                device.tensor_i32(&[args.batch], &t)?,
            )
        } else {
            let n = crate::setup::device_elements(&device, "--batch", &batched_out)?;
            let t = device.upload_f32(
                &[vec![args.batch], out_shape.clone()].concat(),
                dtype,
                &vec![1.0; n],
            )?;
            (Loss::BceWithLogits, t)
        };
        let report = model.plan_memory(args.batch, Some(loss), opt.state_bytes())?;
        device.sync()?;
        device.reset_peak();
        let live = device.pool_stats().live_bytes;
        for _ in 0..args.steps {
            let out = model.train_step(&[&x], &targets, &loss, &mut opt)?;
            device.sync()?;
            drop(out);
            if crate::setup::profile_launches() {
                crate::setup::print_launch_profile(&device);
            }
        }
        let peak = device.pool_stats().peak_live_bytes;
        report.with_measurement(live, peak)
    } else {
        model.eval();
        let report = model.plan_memory(args.batch, None, 0)?;
        device.sync()?;
        device.reset_peak();
        let live = device.pool_stats().live_bytes;
        for _ in 0..args.steps {
            let out = model.forward(&[&x])?;
            device.sync()?;
            drop(out);
            if crate::setup::profile_launches() {
                crate::setup::print_launch_profile(&device);
            }
        }
        let peak = device.pool_stats().peak_live_bytes;
        report.with_measurement(live, peak)
    };
    if global.json {
        println!(
            "{}",
            json!({
                "command": "memory",
                "model": args.model.name(),
                "batch": args.batch,
                "train": args.train,
                "fp16": args.fp16,
                "checkpoint": args.checkpoint,
                "weights_bytes": report.weights_bytes,
                "optimizer_bytes": report.optimizer_bytes,
                "input_bytes": report.input_bytes,
                "planned_peak_bytes": report.planned_peak,
                "measured_peak_bytes": report.measured_peak,
                "keep_everything_peak_bytes": report.keep_everything_peak,
            })
        );
    } else {
        println!(
            "{} ({} parameters)",
            args.model.name(),
            model.graph().parameter_count()
        );
        println!("{report}");
    }
    Ok(())
}
