//! Training: reproducibility, checkpoints (names, atomic writes, mismatch
//! reports, optimizer state), the [`Trainer`] (a short LeNet-5 run on the
//! shipped MNIST subset that must end far above chance with its memory as
//! planned, early stops, batch hooks, divergence), user layers that break
//! their contract, and profile and memory events.

mod common;

use std::ops::ControlFlow;
use std::path::PathBuf;

use weft::data::{Loader, Mnist};
use weft::graph::layer::{Backward, Forward};
use weft::graph::layers::{BatchNorm2d, Boxed, Conv2d, Dropout, Flatten, Linear, Relu};
use weft::graph::{
    EventSink, ExecEvent, ExecOptions, Graph, Layer, Loss, LrSchedule, Model, NamePatterns,
    Optimizer, OptimizerKind, Shape, Trainer, checkpoint, models,
};
use weft::{DType, Device, Tensor};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weft-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn weights(model: &Model) -> Vec<Vec<u32>> {
    model
        .params()
        .iter()
        .map(|t| {
            t.to_f32_vec()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect()
}

/// Trains `steps` LeNet-5 steps on the embedded subset from `seed`.
fn train_lenet(dev: &Device, seed: u64, steps: usize, kind: OptimizerKind) -> (Model, Optimizer) {
    let mnist = Mnist::embedded().unwrap();
    let mut model = Model::new(dev, models::lenet5().unwrap(), seed).unwrap();
    let mut opt = Optimizer::new(dev, model.graph(), kind, LrSchedule::Constant).unwrap();
    let mut loader = Loader::new(dev, &mnist.train, 32, true, seed, DType::F32).unwrap();
    let order = loader.epoch_order();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    for chunk in loader.chunks(&order).into_iter().take(steps) {
        let b = loader.batch(&chunk).unwrap();
        model
            .train_step(&[&b.images], &b.targets, &loss, &mut opt)
            .unwrap();
    }
    (model, opt)
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let dev = common::device();
    for kind in [
        OptimizerKind::sgd(0.05, 0.9, 1e-4),
        OptimizerKind::adamw(1e-3, 0.01),
    ] {
        let (a, _) = train_lenet(&dev, 3, 6, kind);
        let (b, _) = train_lenet(&dev, 3, 6, kind);
        assert_eq!(weights(&a), weights(&b), "{kind:?}");
        let (c, _) = train_lenet(&dev, 4, 6, kind);
        assert_ne!(weights(&a), weights(&c));
    }
}

/// A LeNet-5 trainer on the embedded subset.
fn lenet_trainer(dev: &Device, seed: u64, kind: OptimizerKind) -> Trainer {
    let model = Model::new(dev, models::lenet5().unwrap(), seed).unwrap();
    let opt = Optimizer::new(dev, model.graph(), kind, LrSchedule::Constant).unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    Trainer::new(model, opt, loss)
}

#[test]
fn short_training_on_the_subset_learns() {
    // A device of its own: its pool's peak is this test's alone.
    let dev = Device::from_env().unwrap();
    let mnist = Mnist::embedded().unwrap();
    let mut trainer = lenet_trainer(&dev, 1, OptimizerKind::adam(2e-3)).measure_memory_at(1);
    let mut train = Loader::new(&dev, &mnist.train, 32, true, 1, DType::F32).unwrap();
    let mut steps = Vec::new();
    let report = trainer
        .epoch(train.epoch(Some(150)), |s| {
            steps.push(*s);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(
        (report.steps, report.images, report.stopped),
        (150, 4800, false)
    );
    assert_eq!(trainer.epochs(), 1);
    // Step reports count up, and the running mean is the mean of the losses.
    assert!(
        steps
            .iter()
            .enumerate()
            .all(|(i, s)| s.epoch_step == i && s.step == i + 1)
    );
    let mean = steps.iter().map(|s| s.loss).sum::<f64>() / 150.0;
    assert!((mean - report.mean_loss).abs() < 1e-9 * mean.abs().max(1.0));
    let first: f64 = steps[..10].iter().map(|s| s.loss).sum::<f64>() / 10.0;
    let last: f64 = steps[140..].iter().map(|s| s.loss).sum::<f64>() / 10.0;
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    // The measured step's peak matches the plan.
    let m = report.memory.expect("step 1 was measured");
    let plan = trainer
        .model
        .plan_memory(32, Some(trainer.loss), trainer.optimizer.state_bytes())
        .unwrap()
        .with_measurement(m.live_before, m.peak);
    assert_eq!(Some(plan.planned_peak), plan.measured_peak, "{plan}");
    let mut test = Loader::new(&dev, &mnist.test, 250, false, 0, DType::F32).unwrap();
    let eval = trainer.evaluate(test.epoch(None)).unwrap();
    assert_eq!(eval.images, 1000);
    assert_eq!(eval.confusion.len(), 10);
    assert_eq!(eval.confusion.iter().flatten().sum::<u64>(), 1000);
    eprintln!("test accuracy after 150 steps of 32: {}", eval.accuracy());
    assert!(eval.accuracy() >= 0.9, "{}", eval.accuracy());
    assert!(
        trainer.model.is_training(),
        "evaluation restores training mode"
    );
}

/// The async forms (what a browser page awaits) are the blocking forms'
/// body: the same steps give bit-identical weights, losses and evaluations.
#[test]
fn async_epochs_and_evaluations_match_the_blocking_forms() {
    let dev = Device::from_env().unwrap();
    let mnist = Mnist::embedded().unwrap();
    let run = |asynchronous: bool| {
        let mut trainer = lenet_trainer(&dev, 7, OptimizerKind::adam(1e-3)).measure_memory_at(2);
        let mut train = Loader::new(&dev, &mnist.train, 16, true, 3, DType::F32).unwrap();
        let mut test = Loader::new(&dev, &mnist.test, 100, false, 0, DType::F32).unwrap();
        let mut losses = Vec::new();
        let on_step = |s: &weft::graph::StepReport| {
            losses.push(s.loss);
            ControlFlow::Continue(())
        };
        let (report, eval) = if asynchronous {
            pollster::block_on(async {
                let report = trainer.epoch_async(train.epoch(Some(12)), on_step).await?;
                let eval = trainer.evaluate_async(test.epoch(Some(3))).await?;
                weft::Result::Ok((report, eval))
            })
        } else {
            trainer
                .epoch(train.epoch(Some(12)), on_step)
                .and_then(|r| Ok((r, trainer.evaluate(test.epoch(Some(3)))?)))
        }
        .unwrap();
        (report, eval, losses, weights(&trainer.model))
    };
    let (blocking, awaited) = (run(false), run(true));
    assert_eq!(blocking.0.steps, 12);
    assert_eq!(awaited.0.steps, 12);
    assert_eq!(blocking.0.memory, awaited.0.memory, "the measured step");
    assert!(blocking.0.memory.is_some());
    assert_eq!(blocking.2, awaited.2, "losses");
    assert_eq!(blocking.0.accuracy, awaited.0.accuracy);
    assert_eq!(blocking.1.images, 300);
    assert_eq!(blocking.1.confusion, awaited.1.confusion);
    assert_eq!(blocking.3, awaited.3, "weights");
}

#[test]
fn trainer_stops_when_asked_and_runs_its_hooks() {
    let dev = common::device();
    let mnist = Mnist::embedded().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let mut trainer =
        lenet_trainer(&dev, 2, OptimizerKind::sgd(0.05, 0.9, 0.0)).with_batch_hook(move |b| {
            assert_eq!(b.len(), 16);
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
    let mut train = Loader::new(&dev, &mnist.train, 16, true, 2, DType::F32).unwrap();
    let report = trainer
        .epoch(train.epoch(None), |s| {
            if s.epoch_step == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert!(report.stopped);
    assert_eq!((report.steps, report.images), (3, 48));
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(trainer.epochs(), 0, "a stopped epoch does not count");
    assert_eq!(trainer.optimizer.steps(), 3);
}

#[test]
fn diverging_training_is_a_typed_error() {
    let dev = common::device();
    let mnist = Mnist::embedded().unwrap();
    // A hook that poisons the inputs: the first loss is NaN.
    let mut trainer = lenet_trainer(&dev, 3, OptimizerKind::adam(1e-3))
        .with_batch_hook(|b| weft::kernels::elementwise::fill(&b.inputs[0], f32::NAN));
    let mut train = Loader::new(&dev, &mnist.train, 8, true, 3, DType::F32).unwrap();
    let err = trainer
        .epoch(train.epoch(Some(4)), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(matches!(err, weft::Error::Diverged { .. }), "{err}");
    assert!(err.to_string().contains("epoch 1, step 0"), "{err}");
}

/// A user-written layer whose forward forgets its output.
#[derive(Debug, Clone)]
struct Forgetful;

impl Layer for Forgetful {
    fn kind(&self) -> &'static str {
        "Forgetful"
    }
    fn infer(&self, _name: &str, inputs: &[Shape]) -> weft::Result<Shape> {
        Ok(inputs[0].clone())
    }
    fn forward(&self, _cx: &mut Forward<'_>) -> weft::Result<()> {
        Ok(())
    }
    fn backward(&self, _cx: &mut Backward<'_>) -> weft::Result<()> {
        Ok(())
    }
}

/// A user-written layer whose output has the wrong shape.
#[derive(Debug, Clone)]
struct Misshapen;

impl Layer for Misshapen {
    fn kind(&self) -> &'static str {
        "Misshapen"
    }
    fn infer(&self, _name: &str, inputs: &[Shape]) -> weft::Result<Shape> {
        Ok(inputs[0].clone())
    }
    fn forward(&self, cx: &mut Forward<'_>) -> weft::Result<()> {
        cx.output = Some(cx.device.empty(&[1, 2, 3], cx.dtype)?);
        Ok(())
    }
    fn backward(&self, _cx: &mut Backward<'_>) -> weft::Result<()> {
        Ok(())
    }
}

/// A user-written layer whose backward forgets the input gradient, or
/// makes one of the wrong shape.
#[derive(Debug, Clone)]
struct CarelessBackward {
    wrong_shape: bool,
}

impl Layer for CarelessBackward {
    fn kind(&self) -> &'static str {
        "CarelessBackward"
    }
    fn infer(&self, _name: &str, inputs: &[Shape]) -> weft::Result<Shape> {
        Ok(inputs[0].clone())
    }
    fn forward(&self, cx: &mut Forward<'_>) -> weft::Result<()> {
        let x = &cx.inputs[0];
        let y = cx.device.empty(x.shape(), cx.dtype)?;
        cx.device.copy(x, &y)?;
        cx.output = Some(y);
        Ok(())
    }
    fn backward(&self, cx: &mut Backward<'_>) -> weft::Result<()> {
        if self.wrong_shape {
            cx.input_grads = vec![Some(cx.device.empty(&[3], cx.dtype)?)];
        }
        Ok(())
    }
}

#[test]
fn user_layers_that_break_their_contract_are_typed_errors() {
    let dev = common::device();
    for (layer, needle) in [
        (Forgetful.boxed(), "without setting an output"),
        (Misshapen.boxed(), "the graph expects [2, 4]"),
    ] {
        let mut g = Graph::new();
        let x = g.input("x", &[4]).unwrap();
        let y = g.add("mine", layer, &[x]).unwrap();
        g.set_outputs(&[y]);
        let mut model = Model::new(&dev, g, 0).unwrap();
        let input = dev.tensor(&[2, 4], &[0.5; 8]).unwrap();
        let err = model.forward(&[&input]).unwrap_err().to_string();
        assert!(err.contains("layer \"mine\""), "{err}");
        assert!(err.contains(needle), "{err}");
    }
    // In training, between two linear layers (so that its input needs a
    // gradient): a backward that sets none, or one of the wrong shape.
    for (wrong_shape, needle) in [
        (false, "set no gradient for input 0"),
        (
            true,
            "produced [3] f32 as the gradient of input 0, expected [2, 4] f32",
        ),
    ] {
        let mut g = Graph::new();
        let x = g.input("x", &[4]).unwrap();
        let y = g
            .chain(
                x,
                [
                    ("fc1", Linear::new(4, 4).boxed()),
                    ("mine", CarelessBackward { wrong_shape }.boxed()),
                    ("fc2", Linear::new(4, 3).boxed()),
                ],
            )
            .unwrap();
        g.set_outputs(&[y]);
        let mut model = Model::new(&dev, g, 0).unwrap();
        let mut opt = Optimizer::new(
            &dev,
            model.graph(),
            OptimizerKind::sgd(0.1, 0.0, 0.0),
            LrSchedule::Constant,
        )
        .unwrap();
        let input = dev.tensor(&[2, 4], &[0.5; 8]).unwrap();
        let targets = dev.tensor_i32(&[2], &[0, 2]).unwrap();
        let loss = Loss::CrossEntropy {
            label_smoothing: 0.0,
        };
        let err = model
            .train_step(&[&input], &targets, &loss, &mut opt)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer \"mine\" (CarelessBackward)"), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn profile_and_memory_events_reach_the_sink() {
    let dev = common::device();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = events.clone();
    let sink = EventSink::new(move |e: &ExecEvent<'_>| {
        let line = match *e {
            ExecEvent::Profile {
                phase,
                node,
                seconds,
            } => {
                assert!(seconds >= 0.0);
                format!("profile {phase:?} {node}")
            }
            ExecEvent::Memory {
                node,
                planned,
                live,
                peak,
                ..
            } => {
                assert!(live <= peak);
                format!("memory {planned} {node}")
            }
        };
        log.lock().unwrap().push(line);
    });
    let mut model = Model::new(&dev, models::lenet5().unwrap(), 0).unwrap();
    model
        .set_options(ExecOptions {
            profile: true,
            trace_memory: true,
            sink: Some(sink),
            ..ExecOptions::default()
        })
        .unwrap();
    model.eval();
    let x = dev.tensor(&[2, 1, 28, 28], &vec![0.1; 2 * 784]).unwrap();
    model.forward(&[&x]).unwrap();
    let forwards: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("profile Forward"))
        .cloned()
        .collect();
    let layers = model
        .graph()
        .nodes()
        .iter()
        .filter(|n| n.layer.is_some())
        .count();
    // Fusion folds activations into their producers: at most one per layer.
    assert!(
        !forwards.is_empty() && forwards.len() <= layers,
        "{forwards:?}"
    );
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("memory false"))
    );
    events.lock().unwrap().clear();
    model.plan_memory(2, None, 0).unwrap();
    let planned = events.lock().unwrap().clone();
    assert!(
        !planned.is_empty() && planned.iter().all(|l| l.starts_with("memory true")),
        "{planned:?}"
    );
    // Without a sink nothing is made, even with the flags on.
    model
        .set_options(ExecOptions {
            profile: true,
            trace_memory: true,
            ..ExecOptions::default()
        })
        .unwrap();
    events.lock().unwrap().clear();
    model.forward(&[&x]).unwrap();
    assert!(events.lock().unwrap().is_empty());
}

#[test]
fn checkpoints_round_trip_with_pytorch_names() {
    let dev = common::device();
    let dir = scratch("roundtrip");
    let path = dir.join("m.safetensors");
    // A net with batch norm, so running statistics and num_batches_tracked are saved.
    let mut g = Graph::new();
    let x = g.input("x", &[1, 8, 8]).unwrap();
    let y = g
        .chain(
            x,
            [
                ("conv", Conv2d::new(1, 3, 3).boxed()),
                ("bn", BatchNorm2d::new(3).boxed()),
                ("relu", Relu.boxed()),
                ("flatten", Flatten.boxed()),
                ("drop", Dropout::new(0.2).boxed()),
                ("fc", Linear::new(3 * 6 * 6, 4).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    let build = || {
        let mut g2 = Graph::new();
        let x = g2.input("x", &[1, 8, 8]).unwrap();
        let y = g2
            .chain(
                x,
                [
                    ("conv", Conv2d::new(1, 3, 3).boxed()),
                    ("bn", BatchNorm2d::new(3).boxed()),
                    ("relu", Relu.boxed()),
                    ("flatten", Flatten.boxed()),
                    ("drop", Dropout::new(0.2).boxed()),
                    ("fc", Linear::new(3 * 6 * 6, 4).boxed()),
                ],
            )
            .unwrap();
        g2.set_outputs(&[y]);
        g2
    };
    let mut model = Model::new(&dev, g, 7).unwrap();
    let mut opt = Optimizer::new(
        &dev,
        model.graph(),
        OptimizerKind::adam(1e-2),
        LrSchedule::Constant,
    )
    .unwrap();
    let mut rng = common::rng(8);
    let xb = dev
        .tensor(&[5, 1, 8, 8], &common::uniform(&mut rng, 320, -1.0, 1.0))
        .unwrap();
    let t = dev.tensor_i32(&[5], &[0, 1, 2, 3, 1]).unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    for _ in 0..3 {
        model.train_step(&[&xb], &t, &loss, &mut opt).unwrap();
    }
    checkpoint::save(&path, &model, Some(&opt), &[("weft.model", "test".into())]).unwrap();

    // The header names what PyTorch's state_dict would.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !n.starts_with("optimizer."))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bn.bias",
            "bn.num_batches_tracked",
            "bn.running_mean",
            "bn.running_var",
            "bn.weight",
            "conv.bias",
            "conv.weight",
            "fc.bias",
            "fc.weight"
        ]
    );
    let nbt = st.tensor("bn.num_batches_tracked").unwrap();
    assert_eq!(i64::from_le_bytes(nbt.data().try_into().unwrap()), 3);

    let mut fresh = Model::new(&dev, build(), 99).unwrap();
    let mut fresh_opt = Optimizer::new(
        &dev,
        fresh.graph(),
        OptimizerKind::adam(1e-2),
        LrSchedule::Constant,
    )
    .unwrap();
    let loaded = checkpoint::load(&path, &mut fresh, Some(&mut fresh_opt)).unwrap();
    assert_eq!(
        loaded.metadata.get("weft.model").map(String::as_str),
        Some("test")
    );
    assert_eq!(weights(&fresh), weights(&model));
    assert_eq!(fresh_opt.steps(), 3);
    assert_eq!(fresh.rng_state(), model.rng_state());
    for ((na, ta), (nb, tb)) in opt
        .state_tensors(model.graph())
        .iter()
        .zip(fresh_opt.state_tensors(fresh.graph()).iter())
    {
        assert_eq!(na, nb);
        assert_eq!(ta.to_f32_vec().unwrap(), tb.to_f32_vec().unwrap(), "{na}");
    }
    // Training continues identically from the loaded state.
    model.train_step(&[&xb], &t, &loss, &mut opt).unwrap();
    fresh.train_step(&[&xb], &t, &loss, &mut fresh_opt).unwrap();
    assert_eq!(weights(&fresh), weights(&model));
    // Evaluation uses the restored running statistics.
    model.eval();
    fresh.eval();
    let a: Vec<Tensor> = model.forward(&[&xb]).unwrap();
    let b: Vec<Tensor> = fresh.forward(&[&xb]).unwrap();
    assert_eq!(a[0].to_f32_vec().unwrap(), b[0].to_f32_vec().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mismatched_checkpoints_are_reported_and_leave_the_model_alone() {
    let dev = common::device();
    let dir = scratch("mismatch");
    let path = dir.join("lenet.safetensors");
    let model = Model::new(&dev, models::lenet5().unwrap(), 1).unwrap();
    checkpoint::save(&path, &model, None, &[]).unwrap();
    // A network with a wider fc1 and an extra layer.
    let mut g = Graph::new();
    let x = g.input("image", &[1, 28, 28]).unwrap();
    let y = g
        .chain(
            x,
            [
                ("conv1", Conv2d::new(1, 6, 5).padding(2).boxed()),
                ("flatten", Flatten.boxed()),
                ("fc1", Linear::new(6 * 28 * 28, 120).boxed()),
                ("extra", Linear::new(120, 10).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    let mut other = Model::new(&dev, g, 2).unwrap();
    let before = weights(&other);
    let err = checkpoint::load(&path, &mut other, None)
        .unwrap_err()
        .to_string();
    for needle in [
        "fc1.weight: expected shape [120, 4704], file has [120, 400]",
        "missing extra.weight",
        "unexpected conv2.weight",
        "lenet.safetensors",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert_eq!(
        weights(&other),
        before,
        "a failed load must not change the model"
    );
    // Corrupt files are typed errors.
    std::fs::write(&path, b"not a checkpoint").unwrap();
    let err = checkpoint::load(&path, &mut other, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid safetensors file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Transfer learning's loads: a ResNet-18-style checkpoint for 1000 classes
/// into a 10-class model (head skipped, kept as initialised), non-strict
/// loads listing what was missing and left over, loads from memory, and
/// `num_batches_tracked` written as int32.
#[test]
fn non_strict_and_skipping_loads_report_what_they_did() {
    use safetensors::tensor::{Dtype, TensorView};
    let dev = common::device();
    let dir = scratch("non-strict");
    let path = dir.join("resnet.safetensors");
    let source = Model::new(&dev, models::resnet18(1000, 32).unwrap(), 1).unwrap();
    checkpoint::save(&path, &source, None, &[]).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let mut target = Model::new(&dev, models::resnet18(10, 32).unwrap(), 2).unwrap();
    let head_before = target.param("fc.weight").unwrap().to_f32_vec().unwrap();
    // Strict: the head's shapes differ, named in the error.
    let err = checkpoint::load(&path, &mut target, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fc.weight: expected shape [10, 512], file has [1000, 512]"),
        "{err}"
    );
    // Skipping the head: everything else loads, the head keeps its values.
    let options = checkpoint::LoadOptions {
        strict: true,
        skip: NamePatterns::parse("fc.*").unwrap(),
    };
    let loaded = checkpoint::load_bytes(&bytes, &path, &mut target, None, &options).unwrap();
    assert_eq!(loaded.skipped, ["fc.weight", "fc.bias"]);
    assert!(loaded.missing.is_empty() && loaded.unexpected.is_empty());
    assert_eq!(
        target.param("fc.weight").unwrap().to_f32_vec().unwrap(),
        head_before
    );
    for name in ["conv1.weight", "layer4.1.bn2.running_var"] {
        assert_eq!(
            target.param(name).unwrap().to_f32_vec().unwrap(),
            source.param(name).unwrap().to_f32_vec().unwrap(),
            "{name}"
        );
    }

    // A file with an int32 num_batches_tracked, a tensor the model lacks, and
    // without layer4.1.conv2.weight: strict refuses, non-strict reports.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "layer4.1.conv2.weight")
        .map(|(name, t)| {
            if name.ends_with("num_batches_tracked") {
                (name, Dtype::I32, vec![], 7i32.to_le_bytes().to_vec())
            } else {
                (name, t.dtype(), t.shape().to_vec(), t.data().to_vec())
            }
        })
        .collect();
    tensors.push((
        "aux.weight".into(),
        Dtype::F32,
        vec![1],
        1f32.to_le_bytes().to_vec(),
    ));
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let edited = safetensors::serialize(views, None).unwrap();
    let mut model = Model::new(&dev, models::resnet18(1000, 32).unwrap(), 3).unwrap();
    let err = checkpoint::load_bytes(&edited, &path, &mut model, None, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing layer4.1.conv2.weight") && err.contains("unexpected aux.weight"),
        "{err}"
    );
    let options = checkpoint::LoadOptions {
        strict: false,
        ..Default::default()
    };
    let kept = model
        .param("layer4.1.conv2.weight")
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let loaded = checkpoint::load_bytes(&edited, &path, &mut model, None, &options).unwrap();
    assert_eq!(loaded.missing, ["layer4.1.conv2.weight"]);
    assert_eq!(loaded.unexpected, ["aux.weight"]);
    assert_eq!(
        model
            .param("layer4.1.conv2.weight")
            .unwrap()
            .to_f32_vec()
            .unwrap(),
        kept
    );
    assert_eq!(model.batches_tracked(model.graph().find("bn1").unwrap()), 7);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Parameter groups: plain SGD moves each parameter by lr·scale·grad, so with
/// the same gradients a group at scale 0.5 moves exactly half as far (powers
/// of two: bit-exact) and one at scale 0 not at all.
#[test]
fn discriminative_learning_rates_scale_each_group() {
    let dev = common::device();
    let x = dev
        .tensor(
            &[4, 1, 28, 28],
            &common::uniform(&mut common::rng(5), 4 * 784, 0.0, 1.0),
        )
        .unwrap();
    let t = dev.tensor_i32(&[4], &[1, 2, 3, 4]).unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let mut model = Model::new(&dev, models::lenet5().unwrap(), 9).unwrap();
    let before = weights(&model);
    let (_, grads) = model.gradients(&[&x], &t, &loss).unwrap();
    let mut opt = Optimizer::new(
        &dev,
        model.graph(),
        OptimizerKind::sgd(0.25, 0.0, 0.0),
        LrSchedule::Constant,
    )
    .unwrap();
    assert_eq!(
        opt.set_lr_scale(&NamePatterns::parse("conv*").unwrap(), 0.5)
            .unwrap(),
        4
    );
    assert_eq!(
        opt.set_lr_scale(&NamePatterns::parse("conv1.bias").unwrap(), 0.0)
            .unwrap(),
        1
    );
    assert!(
        opt.set_lr_scale(&NamePatterns::parse("head.*").unwrap(), 1.0)
            .is_err()
    );
    assert!(
        opt.set_lr_scale(&NamePatterns::parse("fc1.*").unwrap(), f32::NAN)
            .is_err()
    );
    assert_eq!(opt.lr_scale("conv2.weight"), Some(0.5));
    model.train_step(&[&x], &t, &loss, &mut opt).unwrap();
    let after = weights(&model);
    let names: Vec<String> = model
        .graph()
        .params()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    for (i, name) in names.iter().enumerate() {
        let g = grads[i].as_ref().unwrap().to_f32_vec().unwrap();
        let scale = opt.lr_scale(name).unwrap();
        for (k, &gk) in g.iter().enumerate() {
            let p0 = f32::from_bits(before[i][k]);
            let want = p0 - 0.25 * scale * gk;
            assert_eq!(
                f32::from_bits(after[i][k]),
                want,
                "{name}[{k}] at scale {scale}"
            );
        }
    }
}

#[test]
fn saves_are_atomic() {
    let dev = common::device();
    let dir = scratch("atomic");
    let path = dir.join("m.safetensors");
    let model = Model::new(&dev, models::lenet5().unwrap(), 1).unwrap();
    checkpoint::save(&path, &model, None, &[]).unwrap();
    let good = std::fs::read(&path).unwrap();
    // The new file is written beside the target and renamed over it only when
    // complete: when the final step fails (here the target is a directory), the
    // error names the file and nothing is left behind.
    let blocked = dir.join("blocked.safetensors");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    let err = checkpoint::save(&blocked, &model, None, &[]).unwrap_err();
    assert!(err.to_string().contains("blocked.safetensors"), "{err}");
    assert!(blocked.join("keep").exists());
    let err = checkpoint::save(&dir.join("missing/m.safetensors"), &model, None, &[]).unwrap_err();
    assert!(err.to_string().contains("m.safetensors"), "{err}");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "temporary files left behind: {names:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the previous checkpoint changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_norm_modes_follow_pytorch() {
    let dev = common::device();
    let mut g = Graph::new();
    let x = g.input("x", &[2, 3, 3]).unwrap();
    let y = g
        .add("bn", BatchNorm2d::new(2).momentum(0.5).boxed(), &[x])
        .unwrap();
    g.set_outputs(&[y]);
    let mut model = Model::new(&dev, g, 0).unwrap();
    let data: Vec<f32> = (0..36)
        .map(|i| (i as f32 * 0.37).sin() * 2.0 + 1.0)
        .collect();
    let xt = dev.tensor(&[2, 2, 3, 3], &data).unwrap();
    model.train();
    model.forward(&[&xt]).unwrap();
    let rm = model
        .param("bn.running_mean")
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let rv = model.param("bn.running_var").unwrap().to_f32_vec().unwrap();
    for c in 0..2 {
        let vals: Vec<f64> = (0..2)
            .flat_map(|n| (0..9).map(move |s| (n * 2 + c) * 9 + s))
            .map(|i| data[i] as f64)
            .collect();
        let mean = vals.iter().sum::<f64>() / 18.0;
        let var_unbiased = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 17.0;
        assert!(
            (rm[c] as f64 - 0.5 * mean).abs() < 1e-5,
            "{c}: {} vs {}",
            rm[c],
            0.5 * mean
        );
        assert!((rv[c] as f64 - (0.5 + 0.5 * var_unbiased)).abs() < 1e-5);
    }
    // Eval mode normalises with the running statistics.
    model.eval();
    let y = model.forward(&[&xt]).unwrap()[0].to_f32_vec().unwrap();
    let want = (data[0] as f64 - rm[0] as f64) / (rv[0] as f64 + 1e-5).sqrt();
    assert!((y[0] as f64 - want).abs() < 1e-5, "{} vs {want}", y[0]);
}

#[test]
fn initialisers_are_seeded_and_follow_their_distribution() {
    use weft::graph::Init;
    let dev = common::device();
    let mut a = Model::new(&dev, models::resnet18(10, 32).unwrap(), 0).unwrap();
    let mut b = Model::new(&dev, models::resnet18(10, 32).unwrap(), 0).unwrap();
    let kaiming = |p: &weft::graph::Param| {
        (p.name.ends_with("conv1.weight") || p.name.ends_with("conv2.weight")).then(|| {
            Init::KaimingNormal {
                fan: p.decl.shape[0] * p.decl.shape[2] * p.decl.shape[3],
            }
        })
    };
    a.initialize(5, kaiming).unwrap();
    b.initialize(5, kaiming).unwrap();
    assert_eq!(weights(&a), weights(&b));
    let w = a
        .param("layer3.0.conv2.weight")
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let std = (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    let want = (2.0 / (256.0 * 9.0f64)).sqrt();
    assert!((std / want - 1.0).abs() < 0.02, "std {std} vs {want}");
    let x = |p: &weft::graph::Param| {
        (p.name == "fc.weight").then_some(Init::XavierUniform {
            fan_in: 512,
            fan_out: 10,
        })
    };
    a.initialize(6, x).unwrap();
    let fc = a.param("fc.weight").unwrap().to_f32_vec().unwrap();
    let bound = (6.0f32 / 522.0).sqrt();
    assert!(fc.iter().all(|v| v.abs() <= bound) && fc.iter().any(|v| v.abs() > 0.9 * bound));
}
