//! The networks the command-line tool knows by name.

use weft::graph::{Graph, models};

/// Networks `--model` accepts.
pub const MODELS: [&str; 3] = ["lenet5", "resnet18", "unet"];

/// Builds a network by name. `lenet5` takes 28×28 digits; `resnet18` takes
/// 224×224 RGB images and predicts 1000 classes; `unet` maps 128×128 RGB
/// images to 2-class masks.
pub fn build(name: &str) -> weft::Result<Graph> {
    match name {
        "lenet5" => models::lenet5(),
        "resnet18" => models::resnet18(1000, 224),
        "unet" => models::unet(3, 2, 64, 4, 128),
        other => Err(weft::Error::invalid(
            "weft",
            "model",
            format!(
                "unknown model \"{other}\" (expected one of {})",
                MODELS.join(", ")
            ),
        )),
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
