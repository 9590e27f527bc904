//! The reference networks by name, for tools that pick one at run time
//! (`weft memory --model resnet50`, `weft finetune --model ...`).

use weft_device::{Error, Result};

use crate::graph::Graph;

/// A network of the zoo: its name, what it is, and the input it is usually
/// run on.
#[derive(Debug, Clone, Copy)]
pub struct ZooEntry {
    /// The name tools and checkpoints use (`resnet18`, `vgg16-bn`).
    pub name: &'static str,
    pub description: &'static str,
    /// Input channels.
    pub in_channels: usize,
    /// The image side it is usually run at (224 for the ImageNet classifiers).
    pub size: usize,
    /// Output classes of the usual head (1000 for ImageNet).
    pub classes: usize,
    build: fn(usize, usize) -> Result<Graph>,
}

impl ZooEntry {
    /// The network with `classes` outputs on `size`×`size` images.
    pub fn build(&self, classes: usize, size: usize) -> Result<Graph> {
        (self.build)(classes, size)
    }
}

fn lenet5(classes: usize, size: usize) -> Result<Graph> {
    if (classes, size) != (10, 28) {
        return Err(Error::invalid(
            "lenet5",
            "classes/size",
            format!(
                "LeNet-5 is built for 10 classes on 28×28 digits, asked for {classes} classes on {size}×{size}"
            ),
        ));
    }
    super::lenet5()
}

const fn zoo_entry(
    name: &'static str,
    description: &'static str,
    in_channels: usize,
    size: usize,
    classes: usize,
    build: fn(usize, usize) -> Result<Graph>,
) -> ZooEntry {
    ZooEntry {
        name,
        description,
        in_channels,
        size,
        classes,
        build,
    }
}

/// Every network of the zoo, with its usual input and head.
pub const ZOO: &[ZooEntry] = &[
    zoo_entry("lenet5", "LeNet-5 on 28×28 digits", 1, 28, 10, lenet5),
    zoo_entry(
        "alexnet",
        "AlexNet (torchvision)",
        3,
        224,
        1000,
        super::alexnet,
    ),
    zoo_entry("vgg11", "VGG-11 (torchvision)", 3, 224, 1000, |c, s| {
        super::vgg(11, false, c, s)
    }),
    zoo_entry(
        "vgg11-bn",
        "VGG-11 with batch norm (torchvision)",
        3,
        224,
        1000,
        |c, s| super::vgg(11, true, c, s),
    ),
    zoo_entry("vgg16", "VGG-16 (torchvision)", 3, 224, 1000, |c, s| {
        super::vgg(16, false, c, s)
    }),
    zoo_entry(
        "vgg16-bn",
        "VGG-16 with batch norm (torchvision)",
        3,
        224,
        1000,
        |c, s| super::vgg(16, true, c, s),
    ),
    zoo_entry(
        "resnet18",
        "ResNet-18 (torchvision)",
        3,
        224,
        1000,
        |c, s| super::resnet(18, c, s),
    ),
    zoo_entry(
        "resnet34",
        "ResNet-34 (torchvision)",
        3,
        224,
        1000,
        |c, s| super::resnet(34, c, s),
    ),
    zoo_entry(
        "resnet50",
        "ResNet-50 v1.5 (torchvision)",
        3,
        224,
        1000,
        |c, s| super::resnet(50, c, s),
    ),
    zoo_entry(
        "mobilenet-v1",
        "MobileNet v1, depthwise-separable blocks",
        3,
        224,
        1000,
        super::mobilenet_v1,
    ),
    zoo_entry(
        "mobilenet-v2",
        "MobileNetV2, inverted residuals (torchvision)",
        3,
        224,
        1000,
        super::mobilenet_v2,
    ),
    zoo_entry(
        "googlenet",
        "GoogLeNet, Inception modules (torchvision)",
        3,
        224,
        1000,
        super::googlenet,
    ),
    zoo_entry("unet", "U-Net, 2-class masks", 3, 128, 2, |c, s| {
        super::unet(3, c, 64, 4, s)
    }),
];

/// The zoo's entry called `name`; the error lists the known names.
pub fn entry(name: &str) -> Result<&'static ZooEntry> {
    ZOO.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = ZOO.iter().map(|e| e.name).collect();
        Error::invalid(
            "models",
            "name",
            format!(
                "unknown model \"{name}\" (expected one of {})",
                known.join(", ")
            ),
        )
    })
}

/// The zoo's network called `name`, with `classes` outputs (its usual head
/// when `None`) on `size`×`size` images (its usual size when `None`).
pub fn build(name: &str, classes: Option<usize>, size: Option<usize>) -> Result<Graph> {
    let entry = entry(name)?;
    entry.build(classes.unwrap_or(entry.classes), size.unwrap_or(entry.size))
}
