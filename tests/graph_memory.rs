//! Memory plans: the peak the schedule predicts equals the peak the device pool
//! measures during a real step, for LeNet-5, ResNet-18, the U-Net and the rest
//! of the zoo, in
//! inference and training, at f32 and f16, with and without recomputation.

mod common;

use weft::graph::{
    ExecOptions, Graph, Loss, LrSchedule, MemoryReport, Model, NamePatterns, Optimizer,
    OptimizerKind, models,
};
use weft::{DType, Device};

/// Plans and runs one step; returns the report with the measurement.
fn measure(
    dev: &Device,
    graph: Graph,
    batch: usize,
    train: bool,
    dtype: DType,
    recompute: Vec<String>,
) -> MemoryReport {
    measure_with(dev, graph, batch, train, dtype, recompute, None)
}

/// [`measure`] with a given loss for training (by default cross-entropy for
/// classifiers, BCE with logits for dense outputs); its targets are drawn to
/// fit it.
fn measure_with(
    dev: &Device,
    graph: Graph,
    batch: usize,
    train: bool,
    dtype: DType,
    recompute: Vec<String>,
    loss: Option<Loss>,
) -> MemoryReport {
    let in_shape = graph.shape(graph.inputs()[0]).to_vec();
    let out_shape = graph.shape(graph.outputs()[0]).to_vec();
    let mut model = Model::new(dev, graph, 1).unwrap();
    model
        .set_options(ExecOptions {
            dtype,
            recompute,
            ..Default::default()
        })
        .unwrap();
    let n: usize = batch * in_shape.iter().product::<usize>();
    let x = dev
        .upload_f32(&[vec![batch], in_shape].concat(), dtype, &vec![0.25; n])
        .unwrap();
    dev.sync().unwrap();
    if train {
        model.train();
        let mut opt = Optimizer::new(
            dev,
            model.graph(),
            OptimizerKind::adam(1e-3),
            LrSchedule::Constant,
        )
        .unwrap();
        let (loss, targets) = if let Some(loss @ Loss::CrossEntropy { .. }) = loss {
            // Per-pixel class indices.
            let pixels = batch * out_shape[1] * out_shape[2];
            let t: Vec<i32> = (0..pixels as i32)
                .map(|i| i % out_shape[0] as i32)
                .collect();
            let shape = [batch, out_shape[1], out_shape[2]];
            (loss, dev.tensor_i32(&shape, &t).unwrap())
        } else if let Some(loss) = loss {
            let m: usize = batch * out_shape.iter().product::<usize>();
            let t = dev
                .upload_f32(&[vec![batch], out_shape].concat(), dtype, &vec![0.5; m])
                .unwrap();
            (loss, t)
        } else if out_shape.len() == 1 {
            let t: Vec<i32> = (0..batch as i32).map(|i| i % out_shape[0] as i32).collect();
            (
                Loss::CrossEntropy {
                    label_smoothing: 0.0,
                },
                dev.tensor_i32(&[batch], &t).unwrap(),
            )
        } else {
            let m: usize = batch * out_shape.iter().product::<usize>();
            let t = dev
                .upload_f32(&[vec![batch], out_shape].concat(), dtype, &vec![1.0; m])
                .unwrap();
            (Loss::BceWithLogits, t)
        };
        let report = model
            .plan_memory(batch, Some(loss), opt.state_bytes())
            .unwrap();
        dev.sync().unwrap();
        dev.reset_peak();
        let live = dev.pool_stats().live_bytes;
        let out = model.train_step(&[&x], &targets, &loss, &mut opt).unwrap();
        assert!(out.loss.to_f32_vec().unwrap()[0].is_finite());
        report.with_measurement(live, dev.pool_stats().peak_live_bytes)
    } else {
        model.eval();
        let report = model.plan_memory(batch, None, 0).unwrap();
        dev.sync().unwrap();
        dev.reset_peak();
        let live = dev.pool_stats().live_bytes;
        let out = model.forward(&[&x]).unwrap();
        assert!(out[0].to_f32_vec().unwrap().iter().all(|v| v.is_finite()));
        report.with_measurement(live, dev.pool_stats().peak_live_bytes)
    }
}

fn assert_exact(name: &str, r: &MemoryReport) {
    eprintln!("{name}: {r}");
    assert_eq!(
        r.resident_bytes, 0,
        "{name}: the test device holds nothing else"
    );
    assert_eq!(
        Some(r.planned_peak),
        r.measured_peak,
        "{name}: planned vs measured"
    );
    assert!(
        r.planned_peak < r.keep_everything_peak,
        "{name}: liveness saves nothing"
    );
}

/// A private device per test: peak statistics are device-wide.
fn device() -> Device {
    Device::from_env().unwrap()
}

#[test]
fn lenet5_plan_is_exact() {
    let dev = device();
    for &(train, dtype) in &[
        (false, DType::F32),
        (true, DType::F32),
        (false, DType::F16),
        (true, DType::F16),
    ] {
        let r = measure(
            &dev,
            models::lenet5().unwrap(),
            64,
            train,
            dtype,
            Vec::new(),
        );
        assert_exact(&format!("lenet5 train={train} {dtype}"), &r);
        if !train {
            // A chain holds its weights, its input, and at most two consecutive
            // activations (conv1's output and pool1's) at a time.
            let act = |c: usize, h: usize| dtype.storage_bytes(64 * c * h * h);
            assert_eq!(
                r.planned_peak,
                r.weights_bytes + r.input_bytes + act(6, 28) + act(6, 14)
            );
        }
    }
}

#[test]
fn resnet18_plan_is_exact() {
    let dev = device();
    // Inference folds batch norm into the convolutions, at f32 and f16.
    for (train, dtype) in [(false, DType::F32), (false, DType::F16), (true, DType::F32)] {
        let r = measure(
            &dev,
            models::resnet18(10, 64).unwrap(),
            2,
            train,
            dtype,
            Vec::new(),
        );
        assert_exact(&format!("resnet18 train={train} {dtype}"), &r);
    }
}

#[test]
fn unet_plan_is_exact() {
    let dev = device();
    for train in [false, true] {
        let r = measure(
            &dev,
            models::unet(3, 2, 16, 3, 32).unwrap(),
            2,
            train,
            DType::F32,
            Vec::new(),
        );
        assert_exact(&format!("unet train={train}"), &r);
    }
}

/// The rest of the zoo at small sizes: inverted residuals (ReLU6, residual
/// adds), Inception modules (four-way concats, ceil-mode pools), bottlenecks,
/// batch-norm VGG, AlexNet's large strided stem; inference and training.
#[test]
fn zoo_plans_are_exact() {
    let dev = device();
    for (name, size) in [
        ("mobilenet-v2", 64),
        ("googlenet", 64),
        ("resnet50", 64),
        ("vgg11-bn", 64),
        ("alexnet", 127),
    ] {
        for train in [false, true] {
            let graph = models::build(name, Some(10), Some(size)).unwrap();
            let r = measure(&dev, graph, 2, train, DType::F32, Vec::new());
            assert_exact(&format!("{name} train={train}"), &r);
        }
    }
}

/// Fine-tuning ResNet-18: the frozen layers keep no activations for backward,
/// get no gradients and no Adam state; the plan is still exact. With only the
/// head trained a step holds about what inference holds.
#[test]
fn frozen_backbone_plans_exactly_and_holds_less() {
    let dev = device();
    let full = measure(
        &dev,
        models::resnet18(10, 64).unwrap(),
        2,
        true,
        DType::F32,
        Vec::new(),
    );
    let mut g = models::resnet18(10, 64).unwrap();
    let patterns = NamePatterns::parse("conv1.*,bn1.*,layer*").unwrap();
    g.freeze(&patterns).unwrap();
    let trained = g.trained_parameter_count() as u64;
    assert_eq!(trained, 512 * 10 + 10);
    let r = measure(&dev, g, 2, true, DType::F32, Vec::new());
    assert_exact("resnet18 frozen but fc", &r);
    assert_eq!(
        r.optimizer_bytes,
        2 * 4 * trained,
        "Adam state for trained parameters only"
    );
    assert!(
        r.planned_peak < full.planned_peak,
        "frozen {} vs full {}",
        r.planned_peak,
        full.planned_peak
    );
    // What the step itself adds on top of weights, optimizer state and inputs.
    let step =
        |r: &MemoryReport| r.planned_peak - r.weights_bytes - r.optimizer_bytes - r.input_bytes;
    eprintln!("step bytes: frozen {} vs full {}", step(&r), step(&full));
    assert!(
        step(&r) * 4 < step(&full),
        "activations of frozen layers are not kept"
    );
}

/// Segmentation and regression objectives on the U-Net: per-pixel
/// cross-entropy, MSE and L1, at f32 and f16.
#[test]
fn dense_losses_plan_exactly() {
    let dev = device();
    for loss in [
        Loss::CrossEntropy {
            label_smoothing: 0.0,
        },
        Loss::Mse,
        Loss::L1,
    ] {
        for dtype in [DType::F32, DType::F16] {
            let g = models::unet(3, 3, 8, 2, 32).unwrap();
            let r = measure_with(&dev, g, 2, true, dtype, Vec::new(), Some(loss));
            assert_exact(&format!("unet {loss:?} {dtype}"), &r);
        }
    }
}

#[test]
fn recomputation_trades_compute_for_memory_exactly() {
    let dev = device();
    let g = models::resnet18(10, 64).unwrap();
    let inner: Vec<String> = g
        .nodes()
        .iter()
        .filter(|n| {
            n.name.starts_with("layer")
                && (n.name.contains(".conv") || n.name.contains(".bn") || n.name.ends_with("relu1"))
        })
        .map(|n| n.name.clone())
        .collect();
    let plain = measure(
        &dev,
        models::resnet18(10, 64).unwrap(),
        4,
        true,
        DType::F32,
        Vec::new(),
    );
    let ckpt = measure(
        &dev,
        models::resnet18(10, 64).unwrap(),
        4,
        true,
        DType::F32,
        inner,
    );
    assert_exact("resnet18 checkpointed", &ckpt);
    assert!(
        ckpt.planned_peak < plain.planned_peak,
        "{} vs {}",
        ckpt.planned_peak,
        plain.planned_peak
    );
}

#[test]
fn f16_activations_roughly_halve_the_dynamic_peak() {
    // At a batch where activations, not weights, dominate.
    let dev = device();
    let f32r = measure(
        &dev,
        models::lenet5().unwrap(),
        512,
        true,
        DType::F32,
        Vec::new(),
    );
    let f16r = measure(
        &dev,
        models::lenet5().unwrap(),
        512,
        true,
        DType::F16,
        Vec::new(),
    );
    assert_exact("lenet5 f16", &f16r);
    let dynamic =
        |r: &MemoryReport| r.planned_peak - r.weights_bytes - r.optimizer_bytes - r.input_bytes;
    let ratio = dynamic(&f16r) as f64 / dynamic(&f32r) as f64;
    eprintln!("f16 / f32 dynamic peak: {ratio:.2}");
    // Max-pool indices stay 32-bit and weight gradients f32: a bit above one half.
    assert!(ratio < 0.65, "{ratio}");
}

#[test]
fn resnet18_training_keeps_at_most_half_of_everything() {
    // Planning only: the batch where activations, not weights, dominate.
    let dev = common::device();
    let mut model = Model::new(&dev, models::resnet18(1000, 224).unwrap(), 0).unwrap();
    model.train();
    let opt_bytes = model.weights_bytes() - 4 * 2 * (64 + 128 * 2 + 256 * 2 + 512 * 2 + 64) as u64;
    let r = model
        .plan_memory(
            32,
            Some(Loss::CrossEntropy {
                label_smoothing: 0.0,
            }),
            opt_bytes,
        )
        .unwrap();
    eprintln!("{r}");
    assert!(
        r.savings_ratio() <= 0.5,
        "planned is {:.0}% of keep-everything",
        100.0 * r.savings_ratio()
    );
}

#[test]
fn every_layer_kind_plans_exactly() {
    use weft::graph::layers::{
        Act, AdaptiveAvgPool2d, Add, AvgPool2d, BatchNorm2d, Boxed, Concat, Conv2d,
        ConvTranspose2d, Dropout, Flatten, GlobalAvgPool, Linear, LocalResponseNorm, MaxPool2d,
        MaxUnpool2d, Mul, PRelu, Permute, Sigmoid, Upsample,
    };
    let build = || {
        let mut g = Graph::new();
        let x = g.input("x", &[3, 16, 16]).unwrap();
        let a = g
            .chain(
                x,
                [
                    ("conv", Conv2d::new(3, 8, 3).padding(1).boxed()),
                    ("bn", BatchNorm2d::new(8).boxed()),
                    ("prelu", PRelu::new(8).boxed()),
                ],
            )
            .unwrap();
        let p = g.add("pool", MaxPool2d::new(2).boxed(), &[a]).unwrap();
        let q = g
            .add("mix", Conv2d::new(8, 8, 3).padding(1).boxed(), &[p])
            .unwrap();
        let u = g
            .add("unpool", MaxUnpool2d::new(2).boxed(), &[q, a])
            .unwrap();
        let t = g
            .add("up", ConvTranspose2d::new(8, 8, 2).stride(2).boxed(), &[p])
            .unwrap();
        let s = g.add("sum", Add.boxed(), &[u, t]).unwrap();
        let d = g.add("drop", Dropout::new(0.3).boxed(), &[s]).unwrap();
        let e = g
            .add("gelu", Act(weft::kernels::Activation::Gelu).boxed(), &[d])
            .unwrap();
        // Products (hard-swish written out, a squeeze-and-excitation gate),
        // local response norm and a permutation.
        let h = g
            .add(
                "hsig",
                Act(weft::kernels::Activation::HardSigmoid(0.2, 0.5)).boxed(),
                &[e],
            )
            .unwrap();
        let m = g.add("hswish", Mul.boxed(), &[e, h]).unwrap();
        let sq = g.add("squeeze", GlobalAvgPool.boxed(), &[m]).unwrap();
        let gate = g.add("gate", Sigmoid.boxed(), &[sq]).unwrap();
        let se = g.add("excite", Mul.boxed(), &[m, gate]).unwrap();
        // Broadcasting arithmetic: a per-sample plane gate divided into and
        // subtracted from the right side.
        let plane = g.add("plane", Conv2d::new(8, 1, 1).boxed(), &[se]).unwrap();
        let pg = g.add("plane_gate", Sigmoid.boxed(), &[plane]).unwrap();
        use weft::kernels::elementwise::BinaryOp;
        let pos = g.add("positive", Sigmoid.boxed(), &[se]).unwrap();
        let dv = g
            .add(
                "divide",
                weft::graph::layers::Binary::new(BinaryOp::Div).boxed(),
                &[pg, pos],
            )
            .unwrap();
        let se = g
            .add(
                "subtract",
                weft::graph::layers::Binary::new(BinaryOp::Sub).boxed(),
                &[dv, sq],
            )
            .unwrap();
        // Constants: c − x per channel, x·c per row, c / x of a sigmoid.
        use weft::graph::layers::ConstantBinary;
        let se = g
            .add(
                "c_minus",
                ConstantBinary::new(BinaryOp::Sub, &[1, 8, 1, 1], true).boxed(),
                &[se],
            )
            .unwrap();
        let se = g
            .add(
                "times_c",
                ConstantBinary::new(BinaryOp::Mul, &[1, 1, 16, 1], false)
                    .fill(0.5)
                    .boxed(),
                &[se],
            )
            .unwrap();
        let sp = g.add("c_positive", Sigmoid.boxed(), &[se]).unwrap();
        let se = g
            .add(
                "c_over",
                ConstantBinary::new(BinaryOp::Div, &[1, 1, 1, 1], true).boxed(),
                &[sp],
            )
            .unwrap();
        let n = g
            .add("lrn", LocalResponseNorm::new(3).boxed(), &[se])
            .unwrap();
        let r = g
            .add("permute", Permute::new(&[0, 2, 1]).boxed(), &[n])
            .unwrap();
        let v = g.add("avg", AvgPool2d::new(2).boxed(), &[r]).unwrap();
        let w = g
            .add("upsample", Upsample::bilinear(2, false).boxed(), &[v])
            .unwrap();
        let c = g.add("cat", Concat.boxed(), &[w, a]).unwrap();
        // A dense layer over rows (the last dimension), an adaptive pool.
        let rows = g.shape(c)[2];
        let c = g
            .chain(
                c,
                [
                    ("rowwise", Linear::new(rows, 6).boxed()),
                    ("adaptive", AdaptiveAvgPool2d::new([3, 4]).boxed()),
                ],
            )
            .unwrap();
        let y = g
            .chain(
                c,
                [
                    ("gap", GlobalAvgPool.boxed()),
                    ("flatten", Flatten.boxed()),
                    ("fc", Linear::new(16, 5).boxed()),
                ],
            )
            .unwrap();
        g.set_outputs(&[y]);
        g
    };
    let dev = device();
    for train in [false, true] {
        for dtype in [DType::F32, DType::F16] {
            let r = measure(&dev, build(), 3, train, dtype, Vec::new());
            assert_exact(&format!("assorted train={train} {dtype}"), &r);
        }
    }
}

/// A device memory budget (here lowered to 24 MiB) refuses, before anything
/// is allocated, a model whose weights exceed it and a step whose plan
/// exceeds it, naming the planned bytes and the budget; a step within it
/// runs and peaks within it; a lone allocation past it is the same typed
/// error rather than a driver failure.
#[test]
fn plans_over_the_memory_budget_are_refused_before_allocating() {
    use weft::device::DeviceOptions;
    let budget = 24u64 << 20;
    let dev = Device::new(DeviceOptions {
        memory_budget: Some(budget),
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    assert_eq!(dev.memory_budget(), Some(budget));
    let over = |e: weft::Error| match e {
        weft::Error::OverBudget {
            needed, budget: b, ..
        } => {
            assert_eq!(b, budget);
            assert!(needed > budget);
            needed
        }
        other => panic!("expected OverBudget, got {other:?}"),
    };

    // ResNet-18's 46.8 MB of weights: refused with nothing allocated.
    let err = Model::new(&dev, models::resnet18(10, 224).unwrap(), 0)
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.starts_with("model: needs")
            && msg.contains("memory budget of 25165824 bytes (24.0 MiB)"),
        "{msg}"
    );
    over(err);
    assert_eq!(dev.pool_stats().allocations, 0);

    // LeNet-5 fits, but a training step at batch 1024 plans ~90 MB.
    let (mut model, mut opt) = common::lenet5_adam(&dev, 0);
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let step = |model: &mut Model, opt: &mut Optimizer, batch: usize| {
        let x = dev
            .tensor(&[batch, 1, 28, 28], &vec![0.5; batch * 784])
            .unwrap();
        let t = dev
            .tensor_i32(
                &[batch],
                &(0..batch as i32).map(|i| i % 10).collect::<Vec<_>>(),
            )
            .unwrap();
        let before = dev.pool_stats();
        let r = model
            .train_step(&[&x], &t, &loss, opt)
            .map(|o| o.loss.to_f32_vec().unwrap());
        (r, before, dev.pool_stats())
    };
    let (r, before, after) = step(&mut model, &mut opt, 1024);
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("training step at batch 1024") && msg.contains("nothing was allocated"),
        "{msg}"
    );
    let needed = over(err);
    let plan = model
        .plan_memory(1024, Some(loss), opt.state_bytes())
        .unwrap();
    assert!(
        needed >= plan.planned_peak,
        "{needed} < {}",
        plan.planned_peak
    );
    assert_eq!(
        (after.allocations, after.requests, after.live_bytes),
        (before.allocations, before.requests, before.live_bytes),
        "the refused step allocated"
    );
    // Inference plans far less than training: batch 256 runs.
    model.eval();
    let x = dev
        .tensor(&[256, 1, 28, 28], &vec![0.5; 256 * 784])
        .unwrap();
    let y = model.forward(&[&x]).unwrap();
    assert_eq!(y[0].shape(), [256, 10]);
    drop((x, y));
    model.train();
    // A step within the budget runs, and peaks within it.
    dev.reset_peak();
    let (r, ..) = step(&mut model, &mut opt, 64);
    assert!(r.unwrap()[0].is_finite());
    assert!(dev.pool_stats().peak_live_bytes <= budget);
    // A lone allocation past the budget.
    let err = dev
        .empty(&[(budget / 4 + 1) as usize], DType::F32)
        .unwrap_err();
    assert!(err.to_string().starts_with("allocate: needs"), "{err}");
    over(err);

    for (text, bytes) in [
        ("512MiB", Some(512u64 << 20)),
        ("2 GiB", Some(2 << 30)),
        ("1.5GB", Some(1_500_000_000)),
        ("4096", Some(4096)),
        ("12 parsecs", None),
        ("", None),
    ] {
        assert_eq!(weft::device::parse_bytes(text), bytes, "{text}");
    }
}

/// Branches the loss does not read (an auxiliary head that is a second
/// output, a layer no output reads) run forward and are skipped backward,
/// their parameters left without a gradient, as in PyTorch: a training
/// step runs, its plan is exact, the trained layers move and the skipped
/// ones keep their weights.
#[test]
fn branches_the_loss_does_not_read_are_skipped_backward() {
    use weft::graph::layers::{Boxed, Conv2d, Flatten, GlobalAvgPool, Linear, Relu};
    let build = || {
        let mut g = Graph::new();
        let x = g.input("x", &[3, 8, 8]).unwrap();
        let a = g
            .chain(
                x,
                [
                    ("conv", Conv2d::new(3, 4, 3).padding(1).boxed()),
                    ("relu", Relu.boxed()),
                ],
            )
            .unwrap();
        let o = g
            .chain(
                a,
                [
                    ("flatten", Flatten.boxed()),
                    ("fc", Linear::new(4 * 8 * 8, 5).boxed()),
                ],
            )
            .unwrap();
        let aux = g
            .chain(
                a,
                [
                    ("aux_conv", Conv2d::new(4, 4, 1).boxed()),
                    ("aux_pool", GlobalAvgPool.boxed()),
                    ("aux_flatten", Flatten.boxed()),
                    ("aux_fc", Linear::new(4, 5).boxed()),
                ],
            )
            .unwrap();
        g.add("unused", Conv2d::new(4, 2, 1).boxed(), &[a]).unwrap();
        g.set_outputs(&[o, aux]);
        g
    };
    let dev = device();
    for dtype in [DType::F32, DType::F16] {
        let r = measure(&dev, build(), 4, true, dtype, Vec::new());
        assert_exact(&format!("unread branches {dtype}"), &r);
    }
    // Trained layers move, skipped ones do not.
    let mut model = Model::new(&dev, build(), 3).unwrap();
    let mut opt = Optimizer::new(
        &dev,
        model.graph(),
        OptimizerKind::sgd(0.1, 0.0, 0.0),
        LrSchedule::Constant,
    )
    .unwrap();
    let before: Vec<Vec<f32>> = model
        .params()
        .iter()
        .map(|p| p.to_f32_vec().unwrap())
        .collect();
    let x = dev.tensor(&[2, 3, 8, 8], &vec![0.5; 2 * 192]).unwrap();
    let t = dev.tensor_i32(&[2], &[1, 3]).unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    model.train_step(&[&x], &t, &loss, &mut opt).unwrap();
    let names: Vec<String> = model
        .graph()
        .params()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    for ((p, old), name) in model.params().iter().zip(&before).zip(&names) {
        let moved = p.to_f32_vec().unwrap() != *old;
        let skipped = name.starts_with("aux_") || name.starts_with("unused");
        assert_eq!(moved, !skipped, "{name}");
    }
}
