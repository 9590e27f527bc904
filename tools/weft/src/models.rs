//! The networks the command-line tool knows by name.

use clap::ValueEnum;
use weft::graph::{Graph, models};

/// The networks `--model` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    /// LeNet-5 on 28×28 digits.
    Lenet5,
    /// ResNet-18 on 224×224 RGB images, 1000 classes.
    Resnet18,
    /// The U-Net on 128×128 RGB images, 2-class masks.
    Unet,
    /// VGG-16 on 224×224 RGB images, 1000 classes.
    Vgg16,
    /// MobileNet v1 (depthwise-separable blocks) on 224×224 RGB images, 1000 classes.
    MobilenetV1,
}

impl ModelName {
    /// The name as the command line and checkpoints spell it.
    pub fn name(self) -> &'static str {
        match self {
            ModelName::Lenet5 => "lenet5",
            ModelName::Resnet18 => "resnet18",
            ModelName::Unet => "unet",
            ModelName::Vgg16 => "vgg16",
            ModelName::MobilenetV1 => "mobilenet-v1",
        }
    }

    /// The network called `name` (a checkpoint's `weft.model`).
    pub fn parse(name: &str) -> weft::Result<ModelName> {
        ModelName::from_str(name, false).map_err(|_| {
            let known: Vec<&str> = ModelName::value_variants()
                .iter()
                .map(|m| m.name())
                .collect();
            weft::Error::invalid(
                "weft",
                "model",
                format!(
                    "unknown model \"{name}\" (expected one of {})",
                    known.join(", ")
                ),
            )
        })
    }

    pub fn build(self) -> weft::Result<Graph> {
        match self {
            ModelName::Lenet5 => models::lenet5(),
            ModelName::Resnet18 => models::resnet18(1000, 224),
            ModelName::Unet => models::unet(3, 2, 64, 4, 128),
            ModelName::Vgg16 => models::vgg16(1000, 224),
            ModelName::MobilenetV1 => models::mobilenet_v1(1000, 224),
        }
    }
}

/// Nodes to recompute in backward for `--checkpoint`: the insides of every
/// residual block (ResNet) or double conv (U-Net), or every layer but the last
/// of a chain (LeNet).
pub fn checkpoint_nodes(graph: &Graph) -> Vec<String> {
    graph
        .nodes()
        .iter()
        .filter(|n| n.layer.is_some())
        .filter(|n| {
            let name = &n.name;
            (name.starts_with("layer") && !name.ends_with(".relu2") && !name.ends_with(".add"))
                || (name.contains("double_conv.") && !name.ends_with(".5"))
                || name.starts_with("relu")
                || name.starts_with("conv")
        })
        .map(|n| n.name.clone())
        .collect()
}
