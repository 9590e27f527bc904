//! U-Net (Ronneberger et al., 2015) with batch norm and a transposed-convolution
//! decoder, laid out and named like the widely used PyTorch implementation
//! (`inc`, `down1..4`, `up1..4`, `outc`; `double_conv.0.weight`, `up.weight`).

use weft_device::Result;

use crate::graph::{Graph, NodeId};
use crate::layers::{BatchNorm2d, Boxed, Concat, Conv2d, ConvTranspose2d, MaxPool2d, Relu};

/// (conv3×3 → BN → ReLU) × 2, without conv biases.
fn double_conv(g: &mut Graph, x: NodeId, name: &str, c_in: usize, c_out: usize) -> Result<NodeId> {
    let n = |s: &str| format!("{name}.double_conv.{s}");
    g.chain(
        x,
        [
            (
                n("0").as_str(),
                Conv2d::new(c_in, c_out, 3).padding(1).bias(false).boxed(),
            ),
            (n("1").as_str(), BatchNorm2d::new(c_out).boxed()),
            (n("2").as_str(), Relu.boxed()),
            (
                n("3").as_str(),
                Conv2d::new(c_out, c_out, 3).padding(1).bias(false).boxed(),
            ),
            (n("4").as_str(), BatchNorm2d::new(c_out).boxed()),
            (n("5").as_str(), Relu.boxed()),
        ],
    )
}

/// A U-Net with `depth` down/up levels starting at `base` channels (the paper:
/// base 64, depth 4) for `[in_channels, size, size]` inputs, `size` divisible
/// by 2^depth; outputs `[classes, size, size]` logits. The decoder upsamples
/// with 2×2 stride-2 transposed convolutions and concatenates the skip
/// connection before each double conv.
pub fn unet(
    in_channels: usize,
    classes: usize,
    base: usize,
    depth: usize,
    size: usize,
) -> Result<Graph> {
    let mut g = Graph::new();
    let x = g.input("image", &[in_channels, size, size])?;
    let mut skips = vec![double_conv(&mut g, x, "inc", in_channels, base)?];
    let mut c = base;
    for level in 1..=depth {
        let name = format!("down{level}");
        let p = g.add(
            &format!("{name}.maxpool_conv.0"),
            MaxPool2d::new(2).boxed(),
            &[*skips.last().expect("skip")],
        )?;
        skips.push(double_conv(
            &mut g,
            p,
            &format!("{name}.maxpool_conv.1"),
            c,
            2 * c,
        )?);
        c *= 2;
    }
    let mut y = skips.pop().expect("bottleneck");
    for level in 1..=depth {
        let name = format!("up{level}");
        let up = g.add(
            &format!("{name}.up"),
            ConvTranspose2d::new(c, c / 2, 2).stride(2).boxed(),
            &[y],
        )?;
        let skip = skips.pop().expect("skip connection");
        let cat = g.add(&format!("{name}.cat"), Concat.boxed(), &[skip, up])?;
        y = double_conv(&mut g, cat, &format!("{name}.conv"), c, c / 2)?;
        c /= 2;
    }
    let out = g.add("outc.conv", Conv2d::new(c, classes, 1).boxed(), &[y])?;
    g.set_outputs(&[out]);
    Ok(g)
}
