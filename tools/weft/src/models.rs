//! The networks the command-line tool knows by name.

use std::sync::LazyLock;

use clap::ValueEnum;
use clap::builder::PossibleValue;
use weft::graph::Graph;
use weft::graph::models::{self, ZOO, ZooEntry};

/// A network of the zoo, as `--model` names it.
#[derive(Debug, Clone, Copy)]
pub struct ModelName(&'static ZooEntry);

impl PartialEq for ModelName {
    fn eq(&self, other: &ModelName) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for ModelName {}

static VARIANTS: LazyLock<Vec<ModelName>> = LazyLock::new(|| ZOO.iter().map(ModelName).collect());

impl ValueEnum for ModelName {
    fn value_variants<'a>() -> &'a [ModelName] {
        &VARIANTS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name).help(self.0.description))
    }
}

impl ModelName {
    pub const LENET5: ModelName = ModelName(&ZOO[0]);

    /// The name as the command line and checkpoints spell it.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The network called `name` (a checkpoint's `weft.model`).
    pub fn parse(name: &str) -> weft::Result<ModelName> {
        models::entry(name).map(ModelName)
    }

    /// The zoo entry: usual input, head and builder.
    pub fn entry(self) -> &'static ZooEntry {
        self.0
    }

    /// The network with its usual head and input size.
    pub fn build(self) -> weft::Result<Graph> {
        self.0.build(self.0.classes, self.0.size)
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
