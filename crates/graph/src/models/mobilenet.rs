//! MobileNet v1 (Howard et al. 2017, width 1.0) and its depthwise-separable
//! block.

use weft_device::Result;

use crate::graph::{Graph, NodeId};
use crate::layers::{BatchNorm2d, Boxed, Conv2d, Flatten, GlobalAvgPool, Linear, Relu};

/// The 13 depthwise-separable blocks: output channels and stride.
const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// MobileNet v1 for `num_classes` classes on `[3, size, size]` images (224
/// for ImageNet): a 3×3 stride-2 stem (`conv1`, `bn1`, `relu`), 13
/// depthwise-separable blocks (`blocks.0` … `blocks.12`), global average pool
/// and `fc`. 4,231,976 parameters and 568.7 M multiply-adds at 224 for 1000
/// classes, as the paper counts them.
pub fn mobilenet_v1(num_classes: usize, size: usize) -> Result<Graph> {
    let mut g = Graph::new();
    let x = g.input("image", &[3, size, size])?;
    let stem = Conv2d::new(3, 32, 3).stride(2).padding(1).bias(false);
    let mut y = g.chain(
        x,
        [
            ("conv1", stem.boxed()),
            ("bn1", BatchNorm2d::new(32).boxed()),
            ("relu", Relu.boxed()),
        ],
    )?;
    let mut c = 32;
    for (i, (c_out, stride)) in BLOCKS.into_iter().enumerate() {
        y = depthwise_separable(&mut g, y, &format!("blocks.{i}"), c, c_out, stride)?;
        c = c_out;
    }
    let y = g.chain(
        y,
        [
            ("avgpool", GlobalAvgPool.boxed()),
            ("flatten", Flatten.boxed()),
            ("fc", Linear::new(1024, num_classes).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}

/// Depthwise 3×3 conv (groups = channels) → BN → ReLU → pointwise 1×1 conv → BN
/// → ReLU, named `<name>.dw`, `<name>.bn1`, `<name>.pw`, `<name>.bn2`.
pub fn depthwise_separable(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    c_in: usize,
    c_out: usize,
    stride: usize,
) -> Result<NodeId> {
    let n = |s: &str| format!("{name}.{s}");
    g.chain(
        x,
        [
            (
                n("dw").as_str(),
                Conv2d::new(c_in, c_in, 3)
                    .stride(stride)
                    .padding(1)
                    .groups(c_in)
                    .bias(false)
                    .boxed(),
            ),
            (n("bn1").as_str(), BatchNorm2d::new(c_in).boxed()),
            (n("relu1").as_str(), Relu.boxed()),
            (
                n("pw").as_str(),
                Conv2d::new(c_in, c_out, 1).bias(false).boxed(),
            ),
            (n("bn2").as_str(), BatchNorm2d::new(c_out).boxed()),
            (n("relu2").as_str(), Relu.boxed()),
        ],
    )
}
