//! GoogLeNet (Szegedy et al. 2014) as torchvision builds it
//! (`torchvision.models.googlenet` without the auxiliary classifiers and input
//! transform): batch norm after every convolution, and — as torchvision does —
//! a 3×3 convolution where the paper's "5×5" branch has one. Same parameter
//! names (`inception4a.branch2.1.conv.weight`, `conv1.bn.running_mean`).

use weft_device::Result;

use crate::graph::{Graph, NodeId};
use crate::layers::{
    BatchNorm2d, Boxed, Concat, Conv2d, Dropout, Flatten, GlobalAvgPool, Linear, MaxPool2d, Relu,
};

/// torchvision's `BasicConv2d`: bias-free conv → BN (eps 0.001) → ReLU, named
/// `<name>.conv`, `<name>.bn`, `<name>.relu`.
fn basic_conv(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
) -> Result<NodeId> {
    let conv = Conv2d::new(c_in, c_out, kernel)
        .stride(stride)
        .padding(kernel / 2)
        .bias(false);
    g.chain(
        x,
        [
            (format!("{name}.conv").as_str(), conv.boxed()),
            (
                format!("{name}.bn").as_str(),
                BatchNorm2d::new(c_out).eps(1e-3).boxed(),
            ),
            (format!("{name}.relu").as_str(), Relu.boxed()),
        ],
    )
}

/// The channel counts of one Inception module: 1×1; 3×3 reduce, 3×3; "5×5"
/// reduce, "5×5"; pool projection.
#[derive(Debug, Clone, Copy)]
pub struct InceptionWidths {
    pub c1: usize,
    pub c3_reduce: usize,
    pub c3: usize,
    pub c5_reduce: usize,
    pub c5: usize,
    pub pool_proj: usize,
}

impl InceptionWidths {
    const fn new(w: [usize; 6]) -> InceptionWidths {
        InceptionWidths {
            c1: w[0],
            c3_reduce: w[1],
            c3: w[2],
            c5_reduce: w[3],
            c5: w[4],
            pool_proj: w[5],
        }
    }

    /// Channels of the module's output (the four branches concatenated).
    pub fn out_channels(&self) -> usize {
        self.c1 + self.c3 + self.c5 + self.pool_proj
    }
}

/// An Inception module: four parallel branches (1×1; 1×1 → 3×3; 1×1 → 3×3;
/// 3×3 stride-1 max pool → 1×1) concatenated along channels, named
/// `<name>.branch1` … `<name>.branch4`, `<name>.cat`.
pub fn inception(
    g: &mut Graph,
    x: NodeId,
    name: &str,
    c_in: usize,
    w: InceptionWidths,
) -> Result<NodeId> {
    let b1 = basic_conv(g, x, &format!("{name}.branch1"), c_in, w.c1, 1, 1)?;
    let b2 = basic_conv(g, x, &format!("{name}.branch2.0"), c_in, w.c3_reduce, 1, 1)?;
    let b2 = basic_conv(g, b2, &format!("{name}.branch2.1"), w.c3_reduce, w.c3, 3, 1)?;
    let b3 = basic_conv(g, x, &format!("{name}.branch3.0"), c_in, w.c5_reduce, 1, 1)?;
    let b3 = basic_conv(g, b3, &format!("{name}.branch3.1"), w.c5_reduce, w.c5, 3, 1)?;
    let pool = MaxPool2d::new(3).stride(1).padding(1).ceil_mode(true);
    let b4 = g.add(&format!("{name}.branch4.0"), pool.boxed(), &[x])?;
    let b4 = basic_conv(g, b4, &format!("{name}.branch4.1"), c_in, w.pool_proj, 1, 1)?;
    g.add(&format!("{name}.cat"), Concat.boxed(), &[b1, b2, b3, b4])
}

/// The nine modules (the paper's Table 1), with a 3×3/2 max pool (2×2/2 before
/// 5a) after the ones marked.
const MODULES: [(&str, [usize; 6], bool); 9] = [
    ("inception3a", [64, 96, 128, 16, 32, 32], false),
    ("inception3b", [128, 128, 192, 32, 96, 64], true),
    ("inception4a", [192, 96, 208, 16, 48, 64], false),
    ("inception4b", [160, 112, 224, 24, 64, 64], false),
    ("inception4c", [128, 128, 256, 24, 64, 64], false),
    ("inception4d", [112, 144, 288, 32, 64, 64], false),
    ("inception4e", [256, 160, 320, 32, 128, 128], true),
    ("inception5a", [256, 160, 320, 32, 128, 128], false),
    ("inception5b", [384, 192, 384, 48, 128, 128], false),
];

/// GoogLeNet for `num_classes` classes on `[3, size, size]` images (224 for
/// ImageNet). 6,624,904 parameters for 1000 classes, as torchvision counts
/// them (without the auxiliary classifiers).
pub fn googlenet(num_classes: usize, size: usize) -> Result<Graph> {
    let mut g = Graph::new();
    let x = g.input("image", &[3, size, size])?;
    let pool = || MaxPool2d::new(3).stride(2).ceil_mode(true).boxed();
    let y = basic_conv(&mut g, x, "conv1", 3, 64, 7, 2)?;
    let y = g.add("maxpool1", pool(), &[y])?;
    let y = basic_conv(&mut g, y, "conv2", 64, 64, 1, 1)?;
    let y = basic_conv(&mut g, y, "conv3", 64, 192, 3, 1)?;
    let mut y = g.add("maxpool2", pool(), &[y])?;
    let mut c = 192;
    let mut pools = 3;
    for (name, widths, pool_after) in MODULES {
        let w = InceptionWidths::new(widths);
        y = inception(&mut g, y, name, c, w)?;
        c = w.out_channels();
        if pool_after {
            let layer = if pools == 3 {
                pool()
            } else {
                MaxPool2d::new(2).stride(2).ceil_mode(true).boxed()
            };
            y = g.add(&format!("maxpool{pools}"), layer, &[y])?;
            pools += 1;
        }
    }
    let y = g.chain(
        y,
        [
            ("avgpool", GlobalAvgPool.boxed()),
            ("flatten", Flatten.boxed()),
            ("dropout", Dropout::new(0.2).boxed()),
            ("fc", Linear::new(c, num_classes).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}
