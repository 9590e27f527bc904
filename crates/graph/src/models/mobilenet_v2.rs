//! MobileNetV2 (Sandler et al. 2018, width 1.0) as torchvision builds it
//! (`torchvision.models.mobilenet_v2`), with the same parameter names
//! (`features.1.conv.0.0.weight`, `features.18.1.running_var`,
//! `classifier.1.weight`).

use weft_device::Result;
use weft_kernels::Activation;

use crate::graph::{Graph, NodeId};
use crate::layers::{
    Act, Add, BatchNorm2d, Boxed, Conv2d, Dropout, Flatten, GlobalAvgPool, Linear,
};

/// The inverted-residual stages: expansion t, output channels c, repeats n,
/// first stride s (the paper's Table 2).
const STAGES: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// ReLU6, torchvision's activation for this network.
const RELU6: Activation = Activation::Hardtanh(0.0, 6.0);

/// A bias-free k×k conv with torchvision's padding, (k-1)/2.
fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, groups: usize) -> Conv2d {
    Conv2d::new(c_in, c_out, kernel)
        .stride(stride)
        .padding((kernel - 1) / 2)
        .groups(groups)
        .bias(false)
}

/// torchvision's `Conv2dNormActivation`: `conv` (to `c_out` channels) → BN →
/// ReLU6, named `<name>.0`, `<name>.1`, `<name>.2`.
fn conv_bn_relu6(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    conv: Conv2d,
    c_out: usize,
) -> Result<NodeId> {
    g.chain(
        x,
        [
            (format!("{name}.0").as_str(), conv.boxed()),
            (
                format!("{name}.1").as_str(),
                BatchNorm2d::new(c_out).boxed(),
            ),
            (format!("{name}.2").as_str(), Act(RELU6).boxed()),
        ],
    )
}

/// An inverted residual block: 1×1 expansion to `t·c_in` (left out when t = 1)
/// → 3×3 depthwise (strided) → 1×1 linear projection → BN, with the identity
/// shortcut when the stride is 1 and the channels stay.
fn inverted_residual(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    c_in: usize,
    c_out: usize,
    stride: usize,
    t: usize,
) -> Result<NodeId> {
    let hidden = c_in * t;
    let mut y = x;
    let mut index = 0;
    if t != 1 {
        let expand = conv(c_in, hidden, 1, 1, 1);
        y = conv_bn_relu6(g, y, &format!("{name}.conv.0"), expand, hidden)?;
        index = 1;
    }
    let depthwise = conv(hidden, hidden, 3, stride, hidden);
    y = conv_bn_relu6(g, y, &format!("{name}.conv.{index}"), depthwise, hidden)?;
    y = g.chain(
        y,
        [
            (
                format!("{name}.conv.{}", index + 1).as_str(),
                Conv2d::new(hidden, c_out, 1).bias(false).boxed(),
            ),
            (
                format!("{name}.conv.{}", index + 2).as_str(),
                BatchNorm2d::new(c_out).boxed(),
            ),
        ],
    )?;
    if stride == 1 && c_in == c_out {
        y = g.add(&format!("{name}.add"), Add.boxed(), &[x, y])?;
    }
    Ok(y)
}

/// MobileNetV2 for `num_classes` classes on `[3, size, size]` images (224 for
/// ImageNet). 3,504,872 parameters for 1000 classes, as torchvision counts
/// them.
pub fn mobilenet_v2(num_classes: usize, size: usize) -> Result<Graph> {
    let mut g = Graph::new();
    let x = g.input("image", &[3, size, size])?;
    let mut y = conv_bn_relu6(&mut g, x, "features.0", conv(3, 32, 3, 2, 1), 32)?;
    let mut c = 32;
    let mut index = 1;
    for (t, c_out, n, s) in STAGES {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            y = inverted_residual(&mut g, y, &format!("features.{index}"), c, c_out, stride, t)?;
            c = c_out;
            index += 1;
        }
    }
    let last = conv(c, 1280, 1, 1, 1);
    y = conv_bn_relu6(&mut g, y, &format!("features.{index}"), last, 1280)?;
    let y = g.chain(
        y,
        [
            ("avgpool", GlobalAvgPool.boxed()),
            ("flatten", Flatten.boxed()),
            ("classifier.0", Dropout::new(0.2).boxed()),
            ("classifier.1", Linear::new(1280, num_classes).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}
