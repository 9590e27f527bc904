//! The depthwise-separable block of MobileNet v1.

use weft_device::Result;

use crate::graph::{Graph, NodeId};
use crate::layers::{BatchNorm2d, Boxed, Conv2d, Relu};

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
