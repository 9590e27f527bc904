//! ResNet-18/34/50 as torchvision builds them (`torchvision.models.resnet18`,
//! ...; ResNet-50 is v1.5, its stride on the 3×3 conv), with the same
//! parameter names (`layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`).

use weft_device::{Error, Result};

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
    finish_block(g, x, name, y, c_in, c_out, stride)
}

/// The shortcut (a 1×1 strided conv + BN when the shape changes), the sum and
/// the final ReLU of a residual block whose main path ends in `y`.
fn finish_block(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    y: NodeId,
    c_in: usize,
    c_out: usize,
    stride: usize,
) -> Result<NodeId> {
    let n = |s: &str| format!("{name}.{s}");
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

/// A Bottleneck (v1.5): conv1×1 → BN → ReLU → conv3×3 (strided) → BN → ReLU →
/// conv1×1 to `4·width` → BN, plus the shortcut, then ReLU (`relu1`,
/// `relu_mid`, and `relu2` at the block output as in the basic block).
fn bottleneck(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    c_in: usize,
    width: usize,
    stride: usize,
) -> Result<NodeId> {
    let n = |s: &str| format!("{name}.{s}");
    let c_out = 4 * width;
    let y = g.chain(
        x,
        [
            (
                n("conv1").as_str(),
                Conv2d::new(c_in, width, 1).bias(false).boxed(),
            ),
            (n("bn1").as_str(), BatchNorm2d::new(width).boxed()),
            (n("relu1").as_str(), Relu.boxed()),
            (
                n("conv2").as_str(),
                Conv2d::new(width, width, 3)
                    .stride(stride)
                    .padding(1)
                    .bias(false)
                    .boxed(),
            ),
            (n("bn2").as_str(), BatchNorm2d::new(width).boxed()),
            (n("relu_mid").as_str(), Relu.boxed()),
            (
                n("conv3").as_str(),
                Conv2d::new(width, c_out, 1).bias(false).boxed(),
            ),
            (n("bn3").as_str(), BatchNorm2d::new(c_out).boxed()),
        ],
    )?;
    finish_block(g, x, name, y, c_in, c_out, stride)
}

/// ResNet with `depth` layers (18, 34: basic blocks; 50: bottlenecks) for
/// `num_classes` classes on `[3, size, size]` images (224 for ImageNet).
/// Parameters for 1000 classes: 11,689,512 (18), 21,797,672 (34), 25,557,032
/// (50), as torchvision counts them.
pub fn resnet(depth: usize, num_classes: usize, size: usize) -> Result<Graph> {
    let (blocks, bottlenecks) = match depth {
        18 => ([2, 2, 2, 2], false),
        34 => ([3, 4, 6, 3], false),
        50 => ([3, 4, 6, 3], true),
        _ => {
            return Err(Error::invalid(
                "resnet",
                "depth",
                format!("ResNet has 18, 34 or 50 layers here, got {depth}"),
            ));
        }
    };
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
    for (stage, count) in blocks.into_iter().enumerate() {
        let width = 64 << stage;
        for i in 0..count {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let name = format!("layer{}.{i}", stage + 1);
            if bottlenecks {
                y = bottleneck(&mut g, y, &name, c, width, stride)?;
                c = 4 * width;
            } else {
                y = basic_block(&mut g, y, &name, c, width, stride)?;
                c = width;
            }
        }
    }
    let y = g.chain(
        y,
        [
            ("avgpool", GlobalAvgPool.boxed()),
            ("flatten", Flatten.boxed()),
            ("fc", Linear::new(c, num_classes).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}

/// ResNet-18: [`resnet`]`(18, ..)`.
pub fn resnet18(num_classes: usize, size: usize) -> Result<Graph> {
    resnet(18, num_classes, size)
}
