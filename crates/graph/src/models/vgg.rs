//! VGG-11/13/16/19 with and without batch norm as torchvision builds them
//! (`torchvision.models.vgg16`, `vgg16_bn`, ...: configurations A, B, D, E),
//! with the same parameter names (`features.0.weight`, `classifier.6.bias`).

use weft_device::{Error, Result};

use crate::graph::Graph;
use crate::layers::{
    AdaptiveAvgPool2d, BatchNorm2d, Boxed, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Relu,
};

/// A 2×2 max pool in a configuration.
const M: usize = 0;

/// Output channels of the convolutions for 11, 13, 16 and 19 weight layers;
/// `M` marks a 2×2 max pool.
fn config(depth: usize) -> Option<&'static [usize]> {
    Some(match depth {
        11 => &[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
        13 => &[
            64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M,
        ],
        16 => &[
            64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M,
        ],
        19 => &[
            64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512,
            512, M,
        ],
        _ => return None,
    })
}

/// VGG with `depth` weight layers (11, 13, 16 or 19), batch norm after every
/// convolution when `batch_norm`, for `num_classes` classes on
/// `[3, size, size]` images, `size` at least 32: torchvision's network (VGG-16:
/// 138,357,544 parameters for 1000 classes, VGG-16-BN 138,365,992), its
/// adaptive average pool to 7×7 included (the identity at 224), so the
/// classifier and pretrained weights fit any size.
pub fn vgg(depth: usize, batch_norm: bool, num_classes: usize, size: usize) -> Result<Graph> {
    let layers = config(depth).ok_or_else(|| {
        Error::invalid(
            "vgg",
            "depth",
            format!("VGG has 11, 13, 16 or 19 weight layers, got {depth}"),
        )
    })?;
    if size < 32 {
        // Five 2×2 max pools leave nothing below 32.
        return Err(Error::invalid(
            "vgg",
            "size",
            format!("the image size must be at least 32, got {size}"),
        ));
    }
    let mut g = Graph::new();
    let mut y = g.input("image", &[3, size, size])?;
    // torchvision numbers the features' modules in order, BNs and ReLUs included.
    let mut index = 0;
    let mut next = |g: &mut Graph, y, layer| {
        let node = g.add(&format!("features.{index}"), layer, &[y]);
        index += 1;
        node
    };
    let mut c = 3;
    for &c_out in layers {
        if c_out == M {
            y = next(&mut g, y, MaxPool2d::new(2).stride(2).boxed())?;
        } else {
            y = next(&mut g, y, Conv2d::new(c, c_out, 3).padding(1).boxed())?;
            if batch_norm {
                y = next(&mut g, y, BatchNorm2d::new(c_out).boxed())?;
            }
            y = next(&mut g, y, Relu.boxed())?;
            c = c_out;
        }
    }
    let y = g.chain(
        y,
        [
            ("avgpool", AdaptiveAvgPool2d::new([7, 7]).boxed()),
            ("flatten", Flatten.boxed()),
            ("classifier.0", Linear::new(512 * 7 * 7, 4096).boxed()),
            ("classifier.1", Relu.boxed()),
            ("classifier.2", Dropout::new(0.5).boxed()),
            ("classifier.3", Linear::new(4096, 4096).boxed()),
            ("classifier.4", Relu.boxed()),
            ("classifier.5", Dropout::new(0.5).boxed()),
            ("classifier.6", Linear::new(4096, num_classes).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}

/// VGG-16 (configuration D) without batch norm: [`vgg`]`(16, false, ..)`.
pub fn vgg16(num_classes: usize, size: usize) -> Result<Graph> {
    vgg(16, false, num_classes, size)
}
