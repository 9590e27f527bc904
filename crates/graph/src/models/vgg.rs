//! VGG-16 as torchvision builds it (`torchvision.models.vgg16`, configuration
//! D, no batch norm), with the same parameter names (`features.0.weight`,
//! `classifier.6.bias`).

use weft_device::{Error, Result};

use crate::graph::Graph;
use crate::layers::{Boxed, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Relu};

/// Output channels of the 13 convolutions; 0 marks a 2×2 max pool.
const CONFIG_D: [usize; 18] = [
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

/// VGG-16 for `num_classes` classes on `[3, size, size]` images, `size` a
/// multiple of 32. At 224 (ImageNet) it is torchvision's network, 138,357,544
/// parameters for 1000 classes; torchvision's adaptive average pool to 7×7 is
/// the identity there and is left out, so at other sizes the first classifier
/// layer takes 512·(size/32)² features.
pub fn vgg16(num_classes: usize, size: usize) -> Result<Graph> {
    if size == 0 || !size.is_multiple_of(32) {
        return Err(Error::invalid(
            "vgg16",
            "size",
            format!("the image size must be a positive multiple of 32, got {size}"),
        ));
    }
    let mut g = Graph::new();
    let mut y = g.input("image", &[3, size, size])?;
    // torchvision numbers the features' modules in order, ReLUs included.
    let mut index = 0;
    let mut c = 3;
    for c_out in CONFIG_D {
        if c_out == 0 {
            let pool = MaxPool2d::new(2).stride(2).boxed();
            y = g.add(&format!("features.{index}"), pool, &[y])?;
            index += 1;
        } else {
            let conv = Conv2d::new(c, c_out, 3).padding(1).boxed();
            y = g.add(&format!("features.{index}"), conv, &[y])?;
            y = g.add(&format!("features.{}", index + 1), Relu.boxed(), &[y])?;
            index += 2;
            c = c_out;
        }
    }
    let features = 512 * (size / 32) * (size / 32);
    let y = g.chain(
        y,
        [
            ("flatten", Flatten.boxed()),
            ("classifier.0", Linear::new(features, 4096).boxed()),
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
