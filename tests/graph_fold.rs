//! Inference folds each batch norm into the convolution before it (and the
//! activation after both into the result): the folded network computes what
//! the unfolded one does, within rounding, and only where folding is legal.

mod common;

use weft::graph::layers::{Add, BatchNorm2d, Boxed, Conv2d, Relu};
use weft::graph::{ExecOptions, Graph, Model, NodeId};
use weft::{DType, Device};

/// conv(bias-free)-bn-relu, conv(with bias)-bn, a residual add and relu, then
/// a conv whose output both a batch norm and the network's second output
/// read (not foldable).
fn block() -> (Graph, [NodeId; 8]) {
    let mut g = Graph::new();
    let x = g.input("x", &[6, 9, 11]).unwrap();
    let c1 = g
        .add(
            "conv1",
            Conv2d::new(6, 16, 3).padding(1).bias(false).boxed(),
            &[x],
        )
        .unwrap();
    let b1 = g.add("bn1", BatchNorm2d::new(16).boxed(), &[c1]).unwrap();
    let r1 = g.add("relu1", Relu.boxed(), &[b1]).unwrap();
    let c2 = g
        .add("conv2", Conv2d::new(16, 16, 3).padding(1).boxed(), &[r1])
        .unwrap();
    let b2 = g.add("bn2", BatchNorm2d::new(16).boxed(), &[c2]).unwrap();
    let s = g.add("add", Add.boxed(), &[b2, r1]).unwrap();
    let r2 = g.add("relu2", Relu.boxed(), &[s]).unwrap();
    let c3 = g
        .add("conv3", Conv2d::new(16, 8, 1).boxed(), &[r2])
        .unwrap();
    let b3 = g.add("bn3", BatchNorm2d::new(8).boxed(), &[c3]).unwrap();
    g.set_outputs(&[b3, c3]);
    (g, [c1, b1, r1, c2, b2, c3, b3, r2])
}

fn kind(g: &Graph, id: NodeId) -> &'static str {
    g.node(id).layer.as_ref().unwrap().kind()
}

#[test]
fn folding_is_structural_and_only_where_legal() {
    let (g, [c1, b1, r1, c2, b2, c3, b3, r2]) = block();
    let f = g.fused(false);
    assert_eq!(f.nodes().len(), g.nodes().len(), "ids are kept");
    assert_eq!(kind(&f, c1), "Conv2d+BatchNorm2d");
    assert_eq!(kind(&f, b1), "Identity");
    assert_eq!(kind(&f, r1), "Identity", "relu fused through the fold");
    assert_eq!(
        f.node(c1).params.len(),
        1 + 4,
        "conv weight, then bn's four"
    );
    assert!(f.node(b1).params.is_empty());
    assert_eq!(kind(&f, c2), "Conv2d+BatchNorm2d");
    assert_eq!(f.node(c2).params.len(), 2 + 4);
    assert_eq!(kind(&f, b2), "Identity");
    // The add reads bn2's output: relu2 fuses nowhere, conv3's output is also
    // a network output, so bn3 stays.
    assert_eq!(kind(&f, r2), "ReLU");
    assert_eq!(kind(&f, c3), "Conv2d");
    assert_eq!(kind(&f, b3), "BatchNorm2d");
    // Training never folds.
    let t = g.fused(true);
    assert_eq!(kind(&t, c1), "Conv2d");
    assert_eq!(kind(&t, b1), "BatchNorm2d");
}

/// Eval-mode outputs of `model` at `dtype`, folded or not.
fn outputs(model: &mut Model, x: &weft::Tensor, dtype: DType, fuse: bool) -> Vec<Vec<f32>> {
    model
        .set_options(ExecOptions {
            dtype,
            fuse,
            ..Default::default()
        })
        .unwrap();
    model
        .forward(&[x])
        .unwrap()
        .iter()
        .map(|t| t.to_f32_vec().unwrap())
        .collect()
}

#[test]
fn folded_inference_matches_unfolded() {
    let dev: Device = common::device();
    let mut rng = common::rng(0xf01d);
    let (g, _) = block();
    let mut model = Model::new(&dev, g, 3).unwrap();
    model.eval();
    // Batch norm with statistics and affine parameters far from the identity.
    for (i, p) in model.graph().params().to_vec().iter().enumerate() {
        let t = &model.params()[i];
        let n = t.numel();
        let v = if p.name.ends_with("running_var") {
            common::uniform(&mut rng, n, 0.2, 3.0)
        } else if p.name.ends_with("running_mean") {
            common::uniform(&mut rng, n, -1.0, 1.0)
        } else {
            common::uniform(&mut rng, n, -0.8, 0.8)
        };
        t.write_f32(&v).unwrap();
    }
    // At batch 3 both batch norms fold; at batch 1 conv2's 2,304 weights
    // outnumber its 1,584 outputs and it runs unfolded (convolution, then
    // batch norm's pass).
    for (batch, dtype) in [
        (3, DType::F32),
        (3, DType::F16),
        (1, DType::F32),
        (1, DType::F16),
    ] {
        let n = batch * 6 * 9 * 11;
        let x = dev
            .upload_f32(
                &[batch, 6, 9, 11],
                dtype,
                &common::uniform(&mut rng, n, -1.0, 1.0),
            )
            .unwrap();
        let unfolded = outputs(&mut model, &x, dtype, false);
        let folded = outputs(&mut model, &x, dtype, true);
        // Folding reorders the rounding of each output's affine transform:
        // f32 within 1e-5 of the output's scale, f16 within 2e-2 (its
        // activations and folded weights round to 11 bits).
        let bound = if dtype == DType::F32 { 1e-5 } else { 2e-2 };
        for (o, (a, b)) in folded.iter().zip(&unfolded).enumerate() {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.1, "output {o} is not trivially small");
            let err = a.iter().zip(b).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= bound * scale,
                "batch {batch} {dtype} output {o}: max error {err} against scale {scale}"
            );
        }
    }
}
