//! LeNet-5 for 28×28 greyscale digits (ReLU and max pooling, as modern
//! re-implementations use).

use weft_device::Result;

use crate::graph::Graph;
use crate::layers::{Boxed, Conv2d, Flatten, Linear, MaxPool2d, Relu};

/// LeNet-5: conv(1→6, 5×5, pad 2) → ReLU → max-pool 2 → conv(6→16, 5×5) → ReLU
/// → max-pool 2 → flatten → fc 400→120 → ReLU → fc 120→84 → ReLU → fc 84→10.
/// 61,706 parameters. Input `[1, 28, 28]`, output logits `[10]`.
pub fn lenet5() -> Result<Graph> {
    let mut g = Graph::new();
    let x = g.input("image", &[1, 28, 28])?;
    let y = g.chain(
        x,
        [
            ("conv1", Conv2d::new(1, 6, 5).padding(2).boxed()),
            ("relu1", Relu.boxed()),
            ("pool1", MaxPool2d::new(2).boxed()),
            ("conv2", Conv2d::new(6, 16, 5).boxed()),
            ("relu2", Relu.boxed()),
            ("pool2", MaxPool2d::new(2).boxed()),
            ("flatten", Flatten.boxed()),
            ("fc1", Linear::new(16 * 5 * 5, 120).boxed()),
            ("relu3", Relu.boxed()),
            ("fc2", Linear::new(120, 84).boxed()),
            ("relu4", Relu.boxed()),
            ("fc3", Linear::new(84, 10).boxed()),
        ],
    )?;
    g.set_outputs(&[y]);
    Ok(g)
}
