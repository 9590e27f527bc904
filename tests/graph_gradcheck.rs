//! Gradients of every layer's backward pass, and of a whole small network
//! (conv, batch norm, relu, pooling, residual add, concat, dense, loss), checked
//! by central finite differences of the f64 host reference.
//!
//! For each trainable tensor, sampled elements' GPU gradients (f32, fused and
//! unfused execution) are compared with (L(p+h) − L(p−h)) / 2h computed in f64
//! with h = 1e-6: the normwise relative error max|g − fd| / max(max|fd|, 1e-3)
//! must not exceed 1e-3 (f32 arithmetic on the GPU contributes ~1e-6 of it).
//! The floor makes gradients that are truly zero (a bias in front of batch
//! norm) compare absolutely, within 1e-6.

mod common;

use weft::kernels::elementwise::BinaryOp;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::graph::layers::{
    Act, Add, AvgPool2d, BatchNorm2d, Binary, Boxed, Concat, ConstantBinary, Conv2d,
    ConvTranspose2d, Flatten, GlobalAvgPool, Linear, LocalResponseNorm, MaxPool2d, MaxUnpool2d,
    Mul, PRelu, Permute, Relu, Reshape, Sigmoid, Softmax, Upsample,
};
use weft::graph::{ExecOptions, Graph, HostArray, Layer, Loss, Model, NamePatterns, reference};
use weft::kernels::Activation;

const BATCH: usize = 4;
const CLASSES: usize = 5;

/// Checks the gradients of `graph` (input `[BATCH] + in_shape`, output
/// `[BATCH, CLASSES]` logits) at a random point.
fn check(name: &str, graph: Graph, rng: &mut ChaCha8Rng) {
    let dev = common::device();
    let in_shape = graph.shape(graph.inputs()[0]).to_vec();
    let n_in: usize = BATCH * in_shape.iter().product::<usize>();
    let x = common::uniform(rng, n_in, -1.0, 1.0);
    let targets: Vec<i64> = (0..BATCH)
        .map(|_| rng.random_range(0..CLASSES as i64))
        .collect();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.1,
    };
    let host_graph = graph.clone();
    let mut model = Model::new(&dev, graph, rng.random()).unwrap();
    // Running statistics away from their (0, 1) start, so that frozen batch
    // norms (which normalise with them) are exercised; training-mode batch
    // norms ignore them.
    for p in host_graph.params() {
        let n: usize = p.decl.shape.iter().product();
        if p.name.ends_with("running_mean") {
            model
                .set_param(&p.name, &common::uniform(rng, n, -0.5, 0.5))
                .unwrap();
        } else if p.name.ends_with("running_var") {
            model
                .set_param(&p.name, &common::uniform(rng, n, 0.5, 2.0))
                .unwrap();
        }
    }
    let params: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|t| t.to_f32_vec().unwrap().iter().map(|&v| v as f64).collect())
        .collect();
    let xt = dev
        .tensor(&[vec![BATCH], in_shape.clone()].concat(), &x)
        .unwrap();
    let tt = dev
        .tensor_i32(
            &[BATCH],
            &targets.iter().map(|&t| t as i32).collect::<Vec<_>>(),
        )
        .unwrap();
    let x64 = HostArray::new(
        [vec![BATCH], in_shape].concat(),
        x.iter().map(|&v| v as f64).collect(),
    );
    let f = |p: &[Vec<f64>]| -> f64 {
        let out = reference::forward(&host_graph, p, std::slice::from_ref(&x64)).unwrap();
        reference::cross_entropy(&out[0], &targets, 0.1)
    };
    let base_loss = f(&params);
    for fuse in [true, false] {
        model
            .set_options(ExecOptions {
                fuse,
                ..Default::default()
            })
            .unwrap();
        // Buffers (running statistics) change with every training forward; the
        // reference uses batch statistics, so they do not affect the loss.
        let (gpu_loss, grads) = model.gradients(&[&xt], &tt, &loss).unwrap();
        let gpu_loss = gpu_loss.to_f32_vec().unwrap()[0] as f64;
        assert!(
            (gpu_loss - base_loss).abs() <= 1e-5 * base_loss.abs().max(1.0),
            "{name}: loss {gpu_loss} vs {base_loss}"
        );
        for (i, p) in host_graph.params().iter().enumerate() {
            if p.frozen {
                assert!(
                    grads[i].is_none(),
                    "{name}: frozen {} got a gradient",
                    p.name
                );
            }
            if !p.is_trained() {
                continue;
            }
            let g = grads[i]
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: no gradient for {}", p.name));
            let g = g.to_f32_vec().unwrap();
            let n = params[i].len();
            let picks: Vec<usize> = if n <= 12 {
                (0..n).collect()
            } else {
                (0..12).map(|_| rng.random_range(0..n)).collect()
            };
            let (mut max_err, mut max_fd) = (0.0f64, 0.0f64);
            for &k in &picks {
                let h = 1e-6;
                let mut plus = params.clone();
                plus[i][k] += h;
                let mut minus = params.clone();
                minus[i][k] -= h;
                let fd = (f(&plus) - f(&minus)) / (2.0 * h);
                max_err = max_err.max((g[k] as f64 - fd).abs());
                max_fd = max_fd.max(fd.abs());
            }
            let rel = max_err / max_fd.max(1e-3);
            assert!(
                rel <= 1e-3,
                "{name} (fuse {fuse}): {} gradient off by {rel:.2e} (max |fd| {max_fd:.3e})",
                p.name
            );
        }
    }
}

/// `layer` on `[c, h, w]` inputs, then flatten and a dense layer to CLASSES logits.
fn single(layer: Box<dyn Layer>, in_shape: &[usize]) -> Graph {
    let mut g = Graph::new();
    let x = g.input("x", in_shape).unwrap();
    // A conv in front gives the layer an input that depends on parameters, so
    // its data gradient is exercised too.
    let c = g
        .add(
            "pre",
            Conv2d::new(in_shape[0], in_shape[0], 1).boxed(),
            &[x],
        )
        .unwrap();
    let y = g.add("layer", layer, &[c]).unwrap();
    let f = g.add("flatten", Flatten.boxed(), &[y]).unwrap();
    let features = g.shape(f)[0];
    let o = g
        .add("fc", Linear::new(features, CLASSES).boxed(), &[f])
        .unwrap();
    g.set_outputs(&[o]);
    g
}

#[test]
fn every_layer_backward_matches_finite_differences() {
    let mut rng = common::rng(41);
    let cases: Vec<(&str, Box<dyn Layer>, Vec<usize>)> = vec![
        (
            "conv",
            Conv2d::new(3, 4, 3).padding(1).boxed(),
            vec![3, 6, 6],
        ),
        (
            "upsample bilinear to a size",
            Upsample::to_size(
                [7, 5],
                weft::kernels::upsample::UpsampleMode::Bilinear {
                    align_corners: false,
                },
            )
            .boxed(),
            vec![2, 3, 4],
        ),
        (
            "upsample bilinear by fractional factors",
            Upsample::by_factors(
                [1.5, 0.7],
                weft::kernels::upsample::UpsampleMode::Bilinear {
                    align_corners: false,
                },
            )
            .boxed(),
            vec![2, 3, 7],
        ),
        (
            "upsample nearest down to a size",
            Upsample::to_size([2, 3], weft::kernels::upsample::UpsampleMode::Nearest).boxed(),
            vec![2, 5, 7],
        ),
        (
            "reflection pad",
            weft::graph::layers::Pad2d::torch([2, 1, 0, 3], weft::kernels::pad::PadMode::Reflect)
                .boxed(),
            vec![2, 4, 5],
        ),
        (
            "replication pad",
            weft::graph::layers::Pad2d::new([2, 1, 0, 3], weft::kernels::pad::PadMode::Edge)
                .boxed(),
            vec![2, 4, 5],
        ),
        (
            "constant pad and crop",
            weft::graph::layers::Pad2d::new(
                [-1, 2, 1, -2],
                weft::kernels::pad::PadMode::Constant(0.5),
            )
            .boxed(),
            vec![2, 4, 5],
        ),
        (
            "linear over the last dimension of an image",
            Linear::new(6, 5).boxed(),
            vec![3, 4, 6],
        ),
        (
            "adaptive avg pool, overlapping windows",
            weft::graph::layers::AdaptiveAvgPool2d::new([3, 4]).boxed(),
            vec![2, 7, 6],
        ),
        (
            "adaptive avg pool, larger than the input",
            weft::graph::layers::AdaptiveAvgPool2d::new([5, 3]).boxed(),
            vec![2, 3, 2],
        ),
        (
            "conv strided dilated",
            Conv2d::new(3, 4, 3)
                .stride(2)
                .dilation(2)
                .padding(2)
                .boxed(),
            vec![3, 7, 7],
        ),
        (
            "conv grouped",
            Conv2d::new(4, 6, 3).groups(2).boxed(),
            vec![4, 5, 5],
        ),
        (
            "conv depthwise",
            Conv2d::new(4, 4, 3)
                .groups(4)
                .padding(1)
                .bias(false)
                .boxed(),
            vec![4, 5, 5],
        ),
        (
            "conv same",
            Conv2d::new(2, 3, 4)
                .padding_mode(weft::kernels::conv::params::Padding::Same)
                .boxed(),
            vec![2, 5, 6],
        ),
        (
            "conv transpose",
            ConvTranspose2d::new(3, 2, 3)
                .stride(2)
                .padding(1)
                .output_padding(1)
                .boxed(),
            vec![3, 4, 4],
        ),
        (
            "conv transpose grouped",
            ConvTranspose2d::new(4, 4, 2).stride(2).groups(2).boxed(),
            vec![4, 3, 3],
        ),
        ("max pool", MaxPool2d::new(2).boxed(), vec![3, 6, 6]),
        (
            "max pool overlapping",
            MaxPool2d::new(3).stride(2).padding(1).boxed(),
            vec![2, 7, 7],
        ),
        (
            "avg pool",
            AvgPool2d::new(3)
                .stride(2)
                .padding(1)
                .count_include_pad(false)
                .boxed(),
            vec![2, 7, 7],
        ),
        ("global avg pool", GlobalAvgPool.boxed(), vec![3, 5, 5]),
        ("batch norm", BatchNorm2d::new(3).boxed(), vec![3, 4, 4]),
        ("softmax channels", Softmax::new(0).boxed(), vec![3, 2, 2]),
        ("log softmax rows", Softmax::log(2).boxed(), vec![2, 3, 4]),
        ("reshape", Reshape::new(&[4, 3, 3]).boxed(), vec![2, 6, 3]),
        (
            "local response norm",
            LocalResponseNorm {
                // A large alpha makes the cross-channel terms matter.
                params: weft::kernels::lrn::LrnParams::torch(3, 0.8, 0.75, 1.0),
            }
            .boxed(),
            vec![4, 3, 3],
        ),
        (
            "local response norm even window",
            LocalResponseNorm {
                params: weft::kernels::lrn::LrnParams::onnx(2, 0.6, 0.5, 2.0),
            }
            .boxed(),
            vec![3, 2, 2],
        ),
        ("permute", Permute::new(&[2, 0, 1]).boxed(), vec![2, 3, 4]),
        (
            "upsample nearest",
            Upsample::nearest(2).boxed(),
            vec![2, 3, 3],
        ),
        (
            "upsample bilinear",
            Upsample::bilinear(2, false).boxed(),
            vec![2, 3, 3],
        ),
        (
            "upsample bilinear aligned",
            Upsample::bilinear(2, true).boxed(),
            vec![2, 3, 3],
        ),
    ];
    for (name, layer, shape) in cases {
        check(name, single(layer, &shape), &mut rng);
    }
    for act in Activation::ALL {
        check(act.name(), single(Act(act).boxed(), &[2, 3, 3]), &mut rng);
    }
    check(
        "prelu shared",
        single(PRelu::new(1).boxed(), &[2, 3, 3]),
        &mut rng,
    );
    check(
        "prelu per channel",
        single(PRelu::new(3).boxed(), &[3, 3, 3]),
        &mut rng,
    );

    // Max-unpooling: values from a conv of the pooled map, placed where the
    // pooled map's maxima were.
    let mut g = Graph::new();
    let x = g.input("x", &[2, 6, 6]).unwrap();
    let a = g.add("pre", Conv2d::new(2, 2, 1).boxed(), &[x]).unwrap();
    let p = g.add("pool", MaxPool2d::new(2).boxed(), &[a]).unwrap();
    let q = g.add("mix", Conv2d::new(2, 2, 1).boxed(), &[p]).unwrap();
    let u = g
        .add("unpool", MaxUnpool2d::new(2).boxed(), &[q, a])
        .unwrap();
    let f = g.add("flatten", Flatten.boxed(), &[u]).unwrap();
    let o = g
        .add("fc", Linear::new(2 * 6 * 6, CLASSES).boxed(), &[f])
        .unwrap();
    g.set_outputs(&[o]);
    check("max unpool", g, &mut rng);

    // Products: hard-swish written out (x · hardsigmoid(x), equal shapes) and
    // a squeeze-and-excitation gate ([C, 1, 1] scaling each channel).
    let mut g = Graph::new();
    let x = g.input("x", &[3, 4, 4]).unwrap();
    let a = g.add("pre", Conv2d::new(3, 3, 1).boxed(), &[x]).unwrap();
    let h = g
        .add("hsig", Act(Activation::HardSigmoid(0.2, 0.5)).boxed(), &[a])
        .unwrap();
    let m = g.add("hswish", Mul.boxed(), &[a, h]).unwrap();
    let s = g.add("squeeze", GlobalAvgPool.boxed(), &[m]).unwrap();
    let e = g.add("excite", Conv2d::new(3, 3, 1).boxed(), &[s]).unwrap();
    let gate = g.add("gate", Sigmoid.boxed(), &[e]).unwrap();
    let y = g.add("scale", Mul.boxed(), &[m, gate]).unwrap();
    let f = g.add("flatten", Flatten.boxed(), &[y]).unwrap();
    let o = g
        .add("fc", Linear::new(3 * 4 * 4, CLASSES).boxed(), &[f])
        .unwrap();
    g.set_outputs(&[o]);
    check("products", g, &mut rng);

    // Broadcasting arithmetic, each operand on both sides: x − mean over
    // the plane, divided by a positive per-sample plane [1, H, W] (a spatial
    // gate), a per-channel [C, 1, 1] added from the left, and the gate
    // multiplied by x from the left.
    let mut g = Graph::new();
    let x = g.input("x", &[3, 4, 4]).unwrap();
    let a = g.add("pre", Conv2d::new(3, 3, 1).boxed(), &[x]).unwrap();
    let mean = g.add("mean", GlobalAvgPool.boxed(), &[a]).unwrap();
    let centred = g
        .add("centre", Binary::new(BinaryOp::Sub).boxed(), &[a, mean])
        .unwrap();
    let plane = g.add("plane", Conv2d::new(3, 1, 1).boxed(), &[a]).unwrap();
    let gate = g.add("gate", Sigmoid.boxed(), &[plane]).unwrap();
    let scaled = g
        .add(
            "scale",
            Binary::new(BinaryOp::Div).boxed(),
            &[centred, gate],
        )
        .unwrap();
    let shifted = g
        .add("shift", Binary::new(BinaryOp::Add).boxed(), &[mean, scaled])
        .unwrap();
    let gated = g
        .add(
            "gated",
            Binary::new(BinaryOp::Mul).boxed(),
            &[gate, shifted],
        )
        .unwrap();
    // A constant on either side: [1, 1, W] added, subtracted from [1, C, 1, 1]
    // (c − x), scaling by [1, 1, H, 1], and dividing [1, 1, 1, 1] by a
    // sigmoid (c / x).
    let k = g
        .add(
            "plus_row",
            ConstantBinary::new(BinaryOp::Add, &[1, 1, 1, 4], false)
                .fill(0.3)
                .boxed(),
            &[centred],
        )
        .unwrap();
    let k = g
        .add(
            "from_channels",
            ConstantBinary::new(BinaryOp::Sub, &[1, 3, 1, 1], true)
                .fill(0.7)
                .boxed(),
            &[k],
        )
        .unwrap();
    let k = g
        .add(
            "times_rows",
            ConstantBinary::new(BinaryOp::Mul, &[1, 1, 4, 1], false)
                .fill(1.7)
                .boxed(),
            &[k],
        )
        .unwrap();
    let kp = g.add("kpos", Sigmoid.boxed(), &[k]).unwrap();
    let k = g
        .add(
            "over_x",
            ConstantBinary::new(BinaryOp::Div, &[1, 1, 1, 1], true)
                .fill(1.3)
                .boxed(),
            &[kp],
        )
        .unwrap();
    let k = g
        .add(
            "over_c",
            ConstantBinary::new(BinaryOp::Div, &[1, 3, 1, 1], false)
                .fill(-1.9)
                .boxed(),
            &[k],
        )
        .unwrap();
    let gated = g
        .add("regate", Binary::new(BinaryOp::Mul).boxed(), &[gated, k])
        .unwrap();
    let back = g
        .add("back", Binary::new(BinaryOp::Sub).boxed(), &[mean, gated])
        .unwrap();
    // Dividing by a full-shape sigmoid, bounded away from 0.
    let denom = g.add("denom", Sigmoid.boxed(), &[back]).unwrap();
    let over = g
        .add("over", Binary::new(BinaryOp::Div).boxed(), &[gate, denom])
        .unwrap();
    let f = g.add("flatten", Flatten.boxed(), &[over]).unwrap();
    let o = g
        .add("fc", Linear::new(3 * 4 * 4, CLASSES).boxed(), &[f])
        .unwrap();
    g.set_outputs(&[o]);
    check("broadcasting arithmetic", g, &mut rng);
}

#[test]
fn whole_network_gradients_match_finite_differences() {
    // conv → bn → relu → (conv → bn) + residual → relu → concat with a 1×1
    // branch → max pool → avg pool → flatten → dense → cross-entropy.
    let mut g = Graph::new();
    let x = g.input("x", &[3, 8, 8]).unwrap();
    let a = g
        .chain(
            x,
            [
                ("conv1", Conv2d::new(3, 4, 3).padding(1).boxed()),
                ("bn1", BatchNorm2d::new(4).boxed()),
                ("relu1", Relu.boxed()),
            ],
        )
        .unwrap();
    let b = g
        .chain(
            a,
            [
                ("conv2", Conv2d::new(4, 4, 3).padding(1).bias(false).boxed()),
                ("bn2", BatchNorm2d::new(4).boxed()),
            ],
        )
        .unwrap();
    let s = g.add("add", Add.boxed(), &[b, a]).unwrap();
    let r = g.add("relu2", Relu.boxed(), &[s]).unwrap();
    let side = g.add("conv3", Conv2d::new(4, 2, 1).boxed(), &[a]).unwrap();
    let cat = g.add("cat", Concat.boxed(), &[r, side]).unwrap();
    let y = g
        .chain(
            cat,
            [
                ("pool", MaxPool2d::new(2).boxed()),
                ("avg", AvgPool2d::new(2).boxed()),
                ("flatten", Flatten.boxed()),
                ("fc", Linear::new(6 * 2 * 2, CLASSES).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    let mut rng = common::rng(42);
    check("network", g, &mut rng);
}

/// Fine-tuning: a frozen stem (conv and batch norm: no backward runs there at
/// all), a frozen batch norm in the middle (statistics frozen, only its input
/// gradient flows), a batch norm with frozen statistics but a trained weight
/// and bias, and trained layers around them.
#[test]
fn frozen_layers_and_eval_mode_batch_norm_match_finite_differences() {
    let mut g = Graph::new();
    let x = g.input("x", &[3, 8, 8]).unwrap();
    let y = g
        .chain(
            x,
            [
                ("stem", Conv2d::new(3, 4, 3).padding(1).boxed()),
                ("stem_bn", BatchNorm2d::new(4).boxed()),
                ("relu1", Relu.boxed()),
                ("conv2", Conv2d::new(4, 4, 3).padding(1).bias(false).boxed()),
                ("bn2", BatchNorm2d::new(4).boxed()),
                ("relu2", Relu.boxed()),
                ("conv3", Conv2d::new(4, 4, 3).padding(1).boxed()),
                ("bn3", BatchNorm2d::new(4).frozen(true).boxed()),
                ("relu3", Relu.boxed()),
                ("pool", MaxPool2d::new(2).boxed()),
                ("flatten", Flatten.boxed()),
                ("fc", Linear::new(4 * 4 * 4, CLASSES).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    let frozen = g
        .freeze(&NamePatterns::parse("stem*,bn2.*").unwrap())
        .unwrap();
    assert_eq!(
        frozen,
        [
            "stem.weight",
            "stem.bias",
            "stem_bn.weight",
            "stem_bn.bias",
            "bn2.weight",
            "bn2.bias"
        ]
    );
    for bn in ["stem_bn", "bn2", "bn3"] {
        let layer = g.node(g.find(bn).unwrap()).layer.as_ref().unwrap();
        assert!(
            layer.as_batch_norm().unwrap().frozen,
            "{bn} statistics frozen"
        );
    }
    assert_eq!(
        g.trained_parameter_count(),
        4 * 4 * 9 + 4 * 4 * 9 + 4 + 8 + 64 * 5 + 5
    );
    let mut rng = common::rng(43);
    check("frozen", g, &mut rng);
}

/// A pattern that matches nothing is refused with the pattern named, and
/// changes nothing.
#[test]
fn freeze_refuses_patterns_that_match_nothing() {
    let mut g = weft::graph::models::lenet5().unwrap();
    let err = g
        .freeze(&NamePatterns::parse("conv1.*,layer9.*").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer9.*"), "{err}");
    assert!(g.params().iter().all(|p| !p.frozen));
    assert_eq!(g.trained_parameter_count(), g.parameter_count());
}

/// conv → bn → relu → [dropout] → pool → flatten → dense, on [2, 6, 6] inputs.
fn saliency_net(dropout: bool) -> Graph {
    let mut g = Graph::new();
    let x = g.input("x", &[2, 6, 6]).unwrap();
    let mut y = g
        .chain(
            x,
            [
                ("conv", Conv2d::new(2, 3, 3).padding(1).boxed()),
                ("bn", BatchNorm2d::new(3).boxed()),
                ("relu", Relu.boxed()),
            ],
        )
        .unwrap();
    if dropout {
        y = g
            .add("drop", weft::graph::layers::Dropout::new(0.3).boxed(), &[y])
            .unwrap();
    }
    let y = g
        .chain(
            y,
            [
                ("pool", MaxPool2d::new(2).boxed()),
                ("flatten", Flatten.boxed()),
                ("fc", Linear::new(27, CLASSES).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    g
}

/// Normwise relative error of sampled GPU gradient elements against central
/// differences of `f` (f64) in `x`.
fn input_grad_error(
    got: &[f32],
    x: &[f64],
    f: impl Fn(&[f64]) -> f64,
    rng: &mut ChaCha8Rng,
) -> f64 {
    let (mut err, mut max_fd) = (0.0f64, 0.0f64);
    for _ in 0..16 {
        let k = rng.random_range(0..x.len());
        let h = 1e-6;
        let (mut plus, mut minus) = (x.to_vec(), x.to_vec());
        plus[k] += h;
        minus[k] -= h;
        let fd = (f(&plus) - f(&minus)) / (2.0 * h);
        err = err.max((got[k] as f64 - fd).abs());
        max_fd = max_fd.max(fd.abs());
    }
    err / max_fd.max(1e-3)
}

/// Gradients with respect to the input (saliency): in training mode of a
/// loss (batch statistics), in evaluation mode of given output gradients
/// (one-hot class scores, through running statistics and a dropout that is
/// then the identity), each against finite differences of the f64 reference
/// (bound 1e-3 normwise). Evaluation-mode gradients leave the running
/// statistics alone; a wrongly shaped output gradient is a typed error.
#[test]
fn input_gradients_match_finite_differences_in_both_modes() {
    use weft::graph::Objective;
    let dev = common::device();
    let mut rng = common::rng(44);
    let shape = [BATCH, 2, 6, 6];
    let n: usize = shape.iter().product();
    let x = common::uniform(&mut rng, n, -1.0, 1.0);
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let xt = dev.tensor(&shape, &x).unwrap();
    let host = |graph: &Graph, params: &[Vec<f64>], x: &[f64]| {
        let input = HostArray::new(shape.to_vec(), x.to_vec());
        reference::forward(graph, params, &[input])
            .unwrap()
            .remove(0)
    };

    // Training mode: cross-entropy, batch statistics.
    let graph = saliency_net(false);
    let mut model = Model::new(&dev, graph.clone(), 3).unwrap();
    let params: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|t| t.to_f32_vec().unwrap().iter().map(|&v| v as f64).collect())
        .collect();
    let targets: Vec<i64> = (0..BATCH).map(|i| (i % CLASSES) as i64).collect();
    let tt = dev
        .tensor_i32(
            &[BATCH],
            &targets.iter().map(|&t| t as i32).collect::<Vec<_>>(),
        )
        .unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let grads = model
        .backward(
            &[&xt],
            Objective::Loss {
                loss: &loss,
                targets: &tt,
            },
            true,
        )
        .unwrap();
    assert!(grads.loss.is_some());
    assert_eq!(grads.inputs[0].shape(), shape);
    let f = |x: &[f64]| reference::cross_entropy(&host(&graph, &params, x), &targets, 0.0);
    let rel = input_grad_error(&grads.inputs[0].to_f32_vec().unwrap(), &x64, f, &mut rng);
    assert!(rel <= 1e-3, "training-mode input gradient off by {rel:.2e}");

    // Evaluation mode: one-hot class scores through running statistics
    // (set away from (0, 1)) and dropout.
    let graph = saliency_net(true);
    let mut model = Model::new(&dev, graph.clone(), 4).unwrap();
    model
        .set_param("bn.running_mean", &[0.3, -0.2, 0.1])
        .unwrap();
    model.set_param("bn.running_var", &[0.5, 2.0, 1.5]).unwrap();
    model.eval();
    let params: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|t| t.to_f32_vec().unwrap().iter().map(|&v| v as f64).collect())
        .collect();
    let classes: Vec<usize> = (0..BATCH).map(|i| (2 * i + 1) % CLASSES).collect();
    let mut one_hot = vec![0.0f32; BATCH * CLASSES];
    for (i, &c) in classes.iter().enumerate() {
        one_hot[i * CLASSES + c] = 1.0;
    }
    let dy = dev.tensor(&[BATCH, CLASSES], &one_hot).unwrap();
    let grads = model
        .backward(&[&xt], Objective::OutputGradient(&dy), true)
        .unwrap();
    assert!(grads.loss.is_none());
    let eval_graph = graph.in_eval_mode();
    let score = |x: &[f64]| {
        let y = host(&eval_graph, &params, x);
        classes
            .iter()
            .enumerate()
            .map(|(i, &c)| y.data[i * CLASSES + c])
            .sum::<f64>()
    };
    let rel = input_grad_error(
        &grads.inputs[0].to_f32_vec().unwrap(),
        &x64,
        score,
        &mut rng,
    );
    assert!(
        rel <= 1e-3,
        "evaluation-mode input gradient off by {rel:.2e}"
    );
    // The dense layer's weight gradient too: d score / d W[c, k].
    let fc = graph
        .params()
        .iter()
        .position(|p| p.name == "fc.weight")
        .unwrap();
    let got = grads.params[fc].as_ref().unwrap().to_f32_vec().unwrap();
    let w = params[fc].clone();
    let score_w = |w: &[f64]| {
        let mut p = params.clone();
        p[fc] = w.to_vec();
        let y = host(&eval_graph, &p, &x64);
        classes
            .iter()
            .enumerate()
            .map(|(i, &c)| y.data[i * CLASSES + c])
            .sum::<f64>()
    };
    let rel = input_grad_error(&got, &w, score_w, &mut rng);
    assert!(rel <= 1e-3, "evaluation-mode fc gradient off by {rel:.2e}");
    assert_eq!(
        model
            .param("bn.running_mean")
            .unwrap()
            .to_f32_vec()
            .unwrap(),
        [0.3, -0.2, 0.1]
    );
    assert_eq!(model.batches_tracked(graph.find("bn").unwrap()), 0);
    // The model stays in evaluation mode.
    assert!(!model.is_training());

    let bad = dev
        .tensor(&[BATCH, CLASSES + 1], &[0.0; BATCH * (CLASSES + 1)])
        .unwrap();
    let err = model
        .backward(&[&xt], Objective::OutputGradient(&bad), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("output gradient") && err.contains(&format!("[{BATCH}, {CLASSES}]")),
        "{err}"
    );
}

/// Dense losses: per-pixel cross-entropy on `[N, C, H, W]` logits (the mean
/// over every pixel), MSE and L1 against float targets, each differentiated
/// with respect to a convolution's weight and the input and compared with
/// finite differences of the f64 reference (bound 1e-3 normwise).
#[test]
fn dense_losses_match_finite_differences() {
    use weft::graph::Objective;
    let dev = common::device();
    let mut rng = common::rng(45);
    let (c, h, w) = (4usize, 5usize, 3usize);
    let mut g = Graph::new();
    let x = g.input("x", &[2, h, w]).unwrap();
    let y = g
        .chain(
            x,
            [
                ("conv1", Conv2d::new(2, 3, 3).padding(1).boxed()),
                ("act", Act(Activation::Tanh).boxed()),
                ("conv2", Conv2d::new(3, c, 1).boxed()),
            ],
        )
        .unwrap();
    g.set_outputs(&[y]);
    let shape = [BATCH, 2, h, w];
    let xs = common::uniform(&mut rng, shape.iter().product(), -1.0, 1.0);
    let x64: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
    let xt = dev.tensor(&shape, &xs).unwrap();
    let out_n = BATCH * c * h * w;
    let classes: Vec<i64> = (0..BATCH * h * w)
        .map(|_| rng.random_range(0..c as i64))
        .collect();
    let class_t = dev
        .tensor_i32(
            &[BATCH, h, w],
            &classes.iter().map(|&v| v as i32).collect::<Vec<_>>(),
        )
        .unwrap();
    let dense = common::uniform(&mut rng, out_n, -1.0, 1.0);
    let dense_t = dev.tensor(&[BATCH, c, h, w], &dense).unwrap();
    let mut model = Model::new(&dev, g.clone(), 5).unwrap();
    let params: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|t| t.to_f32_vec().unwrap().iter().map(|&v| v as f64).collect())
        .collect();
    let conv1 = g
        .params()
        .iter()
        .position(|p| p.name == "conv1.weight")
        .unwrap();
    for loss in [
        Loss::CrossEntropy {
            label_smoothing: 0.1,
        },
        Loss::Mse,
        Loss::L1,
    ] {
        let host_loss = |p: &[Vec<f64>], x: &[f64]| -> f64 {
            let input = HostArray::new(shape.to_vec(), x.to_vec());
            let y = reference::forward(&g, p, &[input]).unwrap().remove(0).data;
            match loss {
                Loss::CrossEntropy { label_smoothing } => {
                    // Pixels as rows of classes.
                    let mut rows = vec![0.0; out_n];
                    for (i, v) in y.iter().enumerate() {
                        let (n, ch, px) = (i / (c * h * w), i / (h * w) % c, i % (h * w));
                        rows[(n * h * w + px) * c + ch] = *v;
                    }
                    let logits = HostArray::new(vec![BATCH * h * w, c], rows);
                    reference::cross_entropy(&logits, &classes, label_smoothing as f64)
                }
                Loss::Mse => {
                    y.iter()
                        .zip(&dense)
                        .map(|(a, &b)| (a - b as f64).powi(2))
                        .sum::<f64>()
                        / out_n as f64
                }
                _ => {
                    y.iter()
                        .zip(&dense)
                        .map(|(a, &b)| (a - b as f64).abs())
                        .sum::<f64>()
                        / out_n as f64
                }
            }
        };
        let targets = if matches!(loss, Loss::CrossEntropy { .. }) {
            &class_t
        } else {
            &dense_t
        };
        let grads = model
            .backward(
                &[&xt],
                Objective::Loss {
                    loss: &loss,
                    targets,
                },
                true,
            )
            .unwrap();
        let got_loss = grads.loss.as_ref().unwrap().to_f32_vec().unwrap()[0] as f64;
        let want_loss = host_loss(&params, &x64);
        assert!(
            (got_loss - want_loss).abs() <= 1e-5 * want_loss.abs().max(1.0),
            "{loss:?}: loss {got_loss} vs {want_loss}"
        );
        let gw = grads.params[conv1].as_ref().unwrap().to_f32_vec().unwrap();
        let f = |wv: &[f64]| {
            let mut p = params.clone();
            p[conv1] = wv.to_vec();
            host_loss(&p, &x64)
        };
        let rel = input_grad_error(&gw, &params[conv1], f, &mut rng);
        assert!(rel <= 1e-3, "{loss:?}: conv1 gradient off by {rel:.2e}");
        let gx = grads.inputs[0].to_f32_vec().unwrap();
        let rel = input_grad_error(&gx, &x64, |x| host_loss(&params, x), &mut rng);
        assert!(rel <= 1e-3, "{loss:?}: input gradient off by {rel:.2e}");
    }
    let bad = dev
        .tensor_i32(&[BATCH, h + 1, w], &vec![0; BATCH * (h + 1) * w])
        .unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let err = model
        .backward(
            &[&xt],
            Objective::Loss {
                loss: &loss,
                targets: &bad,
            },
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("per-pixel targets"), "{err}");
}
