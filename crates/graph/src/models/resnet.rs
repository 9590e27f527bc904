//! ResNet-18 as torchvision builds it (`torchvision.models.resnet18`), with the
//! same parameter names (`layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`).

use weft_device::Result;

use crate::graph::{Graph, NodeId};
use crate::layers::{
    Add, BatchNorm2d, Boxed, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2d, Relu,
};

/// A BasicBlock: conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut (a 1×1
/// strided conv + BN when the shape changes), then ReLU.
fn basic_block(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    c_in: usize,
    c_out: usize,
    stride: usize,
) -> Result<NodeId> {
    let n = |s: &str| format!("{name}.{s}");
    let y = g.chain(
        x,
        [
            (
                n("conv1").as_str(),
                Conv2d::new(c_in, c_out, 3)
                    .stride(stride)
                    .padding(1)
                    .bias(false)
                    .boxed(),
            ),
            (n("bn1").as_str(), BatchNorm2d::new(c_out).boxed()),
            (n("relu1").as_str(), Relu.boxed()),
            (
                n("conv2").as_str(),
                Conv2d::new(c_out, c_out, 3).padding(1).bias(false).boxed(),
            ),
            (n("bn2").as_str(), BatchNorm2d::new(c_out).boxed()),
        ],
    )?;
    let shortcut = if stride != 1 || c_in != c_out {
        g.chain(
            x,
            [
                (
                    n("downsample.0").as_str(),
                    Conv2d::new(c_in, c_out, 1)
                        .stride(stride)
                        .bias(false)
                        .boxed(),
                ),
                (n("downsample.1").as_str(), BatchNorm2d::new(c_out).boxed()),
            ],
        )?
    } else {
        x
    };
    let sum = g.add(&n("add"), Add.boxed(), &[y, shortcut])?;
    g.add(&n("relu2"), Relu.boxed(), &[sum])
}

/// ResNet-18 for `num_classes` classes on `[3, size, size]` images (224 for
/// ImageNet). 11,689,512 parameters for 1000 classes.
pub fn resnet18(num_classes: usize, size: usize) -> Result<Graph> {
    let mut g = Graph::new();
    let x = g.input("image", &[3, size, size])?;
    let mut y = g.chain(
        x,
        [
            (
                "conv1",
                Conv2d::new(3, 64, 7)
                    .stride(2)
                    .padding(3)
                    .bias(false)
                    .boxed(),
            ),
            ("bn1", BatchNorm2d::new(64).boxed()),
            ("relu", Relu.boxed()),
            ("maxpool", MaxPool2d::new(3).stride(2).padding(1).boxed()),
        ],
    )?;
    let mut c = 64;
    for (stage, c_out) in [(1, 64), (2, 128), (3, 256), (4, 512)] {
        let stride = if stage == 1 { 1 } else { 2 };
        y = basic_block(&mut g, y, &format!("layer{stage}.0"), c, c_out, stride)?;
        y = basic_block(&mut g, y, &format!("layer{stage}.1"), c_out, c_out, 1)?;
        c = c_out;
    }
    let y = g.chain(
        y,
        [
            ("avgpool", GlobalAvgPool.boxed()),
            ("flatten", Flatten.boxed()),
            ("fc", Linear::new(512, num_classes).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}
