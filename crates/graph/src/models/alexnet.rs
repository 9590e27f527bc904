//! AlexNet as torchvision builds it (`torchvision.models.alexnet`, the "one
//! weird trick" variant with 64/192/384/256/256 channels), with the same
//! parameter names (`features.0.weight`, `classifier.6.bias`).

use weft_device::{Error, Result};

use crate::graph::Graph;
use crate::layers::{AdaptiveAvgPool2d, Boxed, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Relu};

/// AlexNet for `num_classes` classes on `[3, size, size]` images, `size` at
/// least 63: torchvision's network, 61,100,840 parameters for 1000 classes,
/// its adaptive average pool to 6×6 included (the identity at 224), so the
/// classifier and pretrained weights fit any size.
pub fn alexnet(num_classes: usize, size: usize) -> Result<Graph> {
    if size < 63 {
        // Conv 11/4 pad 2 and three 3/2 max pools leave nothing below 63.
        return Err(Error::invalid(
            "alexnet",
            "size",
            format!("the image size must be at least 63, got {size}"),
        ));
    }
    let mut g = Graph::new();
    let x = g.input("image", &[3, size, size])?;
    let pool = || MaxPool2d::new(3).stride(2).boxed();
    let y = g.chain(
        x,
        [
            (
                "features.0",
                Conv2d::new(3, 64, 11).stride(4).padding(2).boxed(),
            ),
            ("features.1", Relu.boxed()),
            ("features.2", pool()),
            ("features.3", Conv2d::new(64, 192, 5).padding(2).boxed()),
            ("features.4", Relu.boxed()),
            ("features.5", pool()),
            ("features.6", Conv2d::new(192, 384, 3).padding(1).boxed()),
            ("features.7", Relu.boxed()),
            ("features.8", Conv2d::new(384, 256, 3).padding(1).boxed()),
            ("features.9", Relu.boxed()),
            ("features.10", Conv2d::new(256, 256, 3).padding(1).boxed()),
            ("features.11", Relu.boxed()),
            ("features.12", pool()),
            ("avgpool", AdaptiveAvgPool2d::new([6, 6]).boxed()),
            ("flatten", Flatten.boxed()),
            ("classifier.0", Dropout::new(0.5).boxed()),
            ("classifier.1", Linear::new(256 * 6 * 6, 4096).boxed()),
            ("classifier.2", Relu.boxed()),
            ("classifier.3", Dropout::new(0.5).boxed()),
            ("classifier.4", Linear::new(4096, 4096).boxed()),
            ("classifier.5", Relu.boxed()),
            ("classifier.6", Linear::new(4096, num_classes).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}
