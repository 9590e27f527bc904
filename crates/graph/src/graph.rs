//! Networks as directed acyclic graphs of named layers, with shapes inferred as
//! they are built.
//!
//! ```
//! use weft_graph::{Graph, layers::{Boxed, Conv2d, Flatten, Linear, MaxPool2d, Relu}};
//! # fn main() -> weft_device::Result<()> {
//! let mut g = Graph::new();
//! let x = g.input("image", &[1, 28, 28])?;
//! let y = g.chain(x, [
//!     ("conv1", Conv2d::new(1, 6, 5).padding(2).boxed()),
//!     ("relu1", Relu.boxed()),
//!     ("pool1", MaxPool2d::new(2).boxed()),
//!     ("flatten", Flatten.boxed()),
//!     ("fc", Linear::new(6 * 14 * 14, 10).boxed()),
//! ])?;
//! g.set_outputs(&[y]);
//! assert_eq!(g.shape(y), &[10]);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;

use weft_device::{Error, Result};

use crate::layer::{Layer, ParamDecl, ParamKind, Shape};

/// A node of a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

impl NodeId {
    pub fn index(self) -> usize {
        self.0
    }
}

/// A parameter or buffer of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub(crate) usize);

impl ParamId {
    pub fn index(self) -> usize {
        self.0
    }
}

/// A node: an input or a layer applied to other nodes.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique name; parameters are named `<name>.<param>`.
    pub name: String,
    /// `None` for graph inputs.
    pub layer: Option<Box<dyn Layer>>,
    pub inputs: Vec<NodeId>,
    /// Per-sample output shape.
    pub shape: Shape,
    /// This node's parameters and buffers, in the layer's declaration order.
    pub params: Vec<ParamId>,
}

/// A parameter or buffer with its full name.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Full name, as in PyTorch's `state_dict` (`"layer1.0.conv1.weight"`).
    pub name: String,
    pub decl: ParamDecl,
    pub node: NodeId,
    /// Frozen by [`Graph::freeze`]: a trainable parameter that gets no
    /// gradient and no optimizer state.
    pub frozen: bool,
}

impl Param {
    /// Whether training updates it: a trainable parameter that is not frozen.
    pub fn is_trained(&self) -> bool {
        self.decl.kind == ParamKind::Trainable && !self.frozen
    }
}

/// A network.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    nodes: Vec<Node>,
    params: Vec<Param>,
    names: HashMap<String, NodeId>,
    outputs: Vec<NodeId>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Adds a graph input of per-sample `shape` (the batch dimension is added when
    /// the network runs).
    pub fn input(&mut self, name: &str, shape: &[usize]) -> Result<NodeId> {
        self.check_name(name)?;
        if shape.is_empty() || shape.contains(&0) {
            return Err(Error::shape(
                format!("input \"{name}\""),
                format!("shape must be non-empty with positive sizes, got {shape:?}"),
            ));
        }
        Ok(self.push(Node {
            name: name.to_string(),
            layer: None,
            inputs: Vec::new(),
            shape: shape.to_vec(),
            params: Vec::new(),
        }))
    }

    /// Adds `layer` named `name` applied to `inputs`, inferring its output shape.
    pub fn add(&mut self, name: &str, layer: Box<dyn Layer>, inputs: &[NodeId]) -> Result<NodeId> {
        self.check_name(name)?;
        let label = format!("layer \"{name}\"");
        if let Some(n) = layer.arity() {
            if inputs.len() != n {
                return Err(Error::shape(
                    label,
                    format!("{} takes {n} input(s), got {}", layer.kind(), inputs.len()),
                ));
            }
        } else if inputs.is_empty() {
            return Err(Error::shape(
                label,
                format!("{} needs at least one input", layer.kind()),
            ));
        }
        for &i in inputs {
            if i.0 >= self.nodes.len() {
                return Err(Error::invalid(
                    label,
                    "inputs",
                    format!("node {} does not exist", i.0),
                ));
            }
        }
        let shapes: Vec<Shape> = inputs
            .iter()
            .map(|&i| self.nodes[i.0].shape.clone())
            .collect();
        let shape = layer.infer(name, &shapes)?;
        let decls = layer.params(&shapes);
        let id = NodeId(self.nodes.len());
        let params = decls
            .into_iter()
            .map(|decl| {
                let pid = ParamId(self.params.len());
                self.params.push(Param {
                    name: format!("{name}.{}", decl.name),
                    decl,
                    node: id,
                    frozen: false,
                });
                pid
            })
            .collect();
        Ok(self.push(Node {
            name: name.to_string(),
            layer: Some(layer),
            inputs: inputs.to_vec(),
            shape,
            params,
        }))
    }

    /// Applies `layers` one after another starting from `x`; returns the last node.
    pub fn chain<'a>(
        &mut self,
        x: NodeId,
        layers: impl IntoIterator<Item = (&'a str, Box<dyn Layer>)>,
    ) -> Result<NodeId> {
        let mut cur = x;
        for (name, layer) in layers {
            cur = self.add(name, layer, &[cur])?;
        }
        Ok(cur)
    }

    /// Declares the network's outputs (the first one is what a loss reads).
    pub fn set_outputs(&mut self, outputs: &[NodeId]) {
        self.outputs = outputs.to_vec();
    }

    fn push(&mut self, node: Node) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.names.insert(node.name.clone(), id);
        self.nodes.push(node);
        id
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid(
                "graph",
                "name",
                "layer names must not be empty",
            ));
        }
        if self.names.contains_key(name) {
            return Err(Error::invalid(
                "graph",
                "name",
                format!("a layer named \"{name}\" already exists"),
            ));
        }
        Ok(())
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    /// The node named `name`.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.names.get(name).copied()
    }

    /// Per-sample output shape of a node.
    pub fn shape(&self, id: NodeId) -> &[usize] {
        &self.nodes[id.0].shape
    }

    /// Graph inputs, in creation order.
    pub fn inputs(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.layer.is_none())
            .map(|(i, _)| NodeId(i))
            .collect()
    }

    /// Declared outputs; if none were declared, the last node.
    pub fn outputs(&self) -> Vec<NodeId> {
        if self.outputs.is_empty() && !self.nodes.is_empty() {
            vec![NodeId(self.nodes.len() - 1)]
        } else {
            self.outputs.clone()
        }
    }

    /// Floating-point operations of one sample's forward pass (multiply-adds
    /// of convolutions and dense layers, an FMA counting as two): the unit
    /// of the GFLOP/s figures `weft bench` reports for whole networks.
    pub fn forward_flops(&self) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| {
                let layer = n.layer.as_ref()?;
                let inputs: Vec<Shape> = n.inputs.iter().map(|&i| self.shape(i).to_vec()).collect();
                Some(layer.flops(&inputs, &n.shape))
            })
            .sum()
    }

    /// Every parameter and buffer.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.0]
    }

    /// Number of trainable scalars (what `sum(p.numel() for p in model.parameters())` gives).
    pub fn parameter_count(&self) -> usize {
        self.params
            .iter()
            .filter(|p| p.decl.kind == ParamKind::Trainable)
            .map(|p| p.decl.shape.iter().product::<usize>())
            .sum()
    }

    /// Number of scalars training updates: [`parameter_count`](Self::parameter_count)
    /// less the frozen ones.
    pub fn trained_parameter_count(&self) -> usize {
        self.params
            .iter()
            .filter(|p| p.is_trained())
            .map(|p| p.decl.shape.iter().product::<usize>())
            .sum()
    }

    /// Whether training updates each of `node`'s parameters, in declaration
    /// order (false for buffers and frozen parameters).
    pub fn trained(&self, node: NodeId) -> Vec<bool> {
        self.nodes[node.0]
            .params
            .iter()
            .map(|&p| self.params[p.0].is_trained())
            .collect()
    }

    /// Freezes every trainable parameter whose name matches `patterns` (for
    /// fine-tuning): it gets no gradient buffer and no optimizer state, and
    /// layers before which everything is frozen run no backward at all. A
    /// batch norm whose weight and bias are both frozen also freezes its
    /// statistics, as torchvision's `FrozenBatchNorm2d`: it normalises with
    /// its running mean and variance in training too and leaves them as they
    /// are. Returns the names frozen; a pattern that matches no parameter is
    /// an error (most likely a typo), and nothing is changed then.
    pub fn freeze(&mut self, patterns: &crate::NamePatterns) -> Result<Vec<String>> {
        let unmatched = patterns.unmatched(self.params.iter().map(|p| p.name.as_str()));
        if !unmatched.is_empty() {
            return Err(Error::invalid(
                "freeze",
                "pattern",
                format!(
                    "{} matches no parameter (names look like \"{}\")",
                    unmatched.join(", "),
                    self.params.first().map_or("", |p| p.name.as_str())
                ),
            ));
        }
        let mut frozen = Vec::new();
        for p in &mut self.params {
            if p.decl.kind == ParamKind::Trainable && !p.frozen && patterns.matches(&p.name) {
                p.frozen = true;
                frozen.push(p.name.clone());
            }
        }
        for node in &mut self.nodes {
            let all_frozen = node
                .params
                .iter()
                .filter(|&&p| self.params[p.0].decl.kind == ParamKind::Trainable)
                .all(|&p| self.params[p.0].frozen);
            if let Some(layer) = &node.layer
                && all_frozen
                && let Some(frozen_layer) = layer.with_frozen_statistics()
            {
                node.layer = Some(frozen_layer);
            }
        }
        Ok(frozen)
    }

    /// The graph with every layer that behaves differently in evaluation mode
    /// replaced by one that computes the evaluation-mode function in training
    /// mode too (see [`Layer::in_eval_mode`]); ids and parameters unchanged.
    pub fn in_eval_mode(&self) -> Graph {
        let mut g = self.clone();
        for node in &mut g.nodes {
            if let Some(eval) = node.layer.as_ref().and_then(|l| l.in_eval_mode()) {
                node.layer = Some(eval);
            }
        }
        g
    }

    /// Consumers of each node, in node order.
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &inp in &n.inputs {
                if !out[inp.0].contains(&NodeId(i)) {
                    out[inp.0].push(NodeId(i));
                }
            }
        }
        out
    }

    /// The graph with each activation fused into the layer that produces its
    /// input, where that layer can fuse it and nothing else reads the layer's
    /// output. The activation node becomes an identity view, so node and
    /// parameter ids are unchanged. In training only activations whose backward
    /// needs just their output (relu, sigmoid, tanh) are fused. For inference
    /// batch norms are first folded into the convolutions they follow (under
    /// the same conditions), the convolution's node taking batch norm's
    /// parameters after its own.
    pub fn fused(&self, train: bool) -> Graph {
        let mut g = self.clone();
        let consumers = self.consumers();
        let outputs = self.outputs();
        // Batch norms folded away: identities an activation looks through.
        let mut folded = vec![false; self.nodes.len()];
        if !train {
            for (i, node) in self.nodes.iter().enumerate() {
                let Some(bn) = node.layer.as_ref().and_then(|l| l.as_batch_norm()) else {
                    continue;
                };
                let p = node.inputs[0];
                if consumers[p.0].len() != 1 || outputs.contains(&p) {
                    continue;
                }
                let Some(conv_bn) = g.nodes[p.0]
                    .layer
                    .as_ref()
                    .and_then(|l| l.fold_batch_norm(bn))
                else {
                    continue;
                };
                g.nodes[p.0].layer = Some(conv_bn);
                let bn_params = std::mem::take(&mut g.nodes[i].params);
                g.nodes[p.0].params.extend(bn_params);
                g.nodes[i].layer = Some(Box::new(crate::layers::Identity));
                folded[i] = true;
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(act) = node.layer.as_ref().and_then(|l| l.as_activation()) else {
                continue;
            };
            if train && !act.grad_uses_output() {
                continue;
            }
            let mut p = node.inputs[0];
            if consumers[p.0].len() != 1 || outputs.contains(&p) {
                continue;
            }
            if folded[p.0] {
                // Its producer's only consumer was the batch norm.
                p = g.nodes[p.0].inputs[0];
            }
            let Some(fused) = g.nodes[p.0].layer.as_ref().and_then(|l| l.fuse(act)) else {
                continue;
            };
            g.nodes[p.0].layer = Some(fused);
            g.nodes[i].layer = Some(Box::new(crate::layers::Identity));
        }
        g
    }

    /// A table of layers, shapes and parameter counts.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<28} {:<18} {:<20} {:>12}",
            "layer", "type", "output", "params"
        );
        for n in &self.nodes {
            let kind = n.layer.as_ref().map_or("Input", |l| l.kind());
            let count: usize = n
                .params
                .iter()
                .map(|&p| &self.params[p.0])
                .filter(|p| p.decl.kind == ParamKind::Trainable)
                .map(|p| p.decl.shape.iter().product::<usize>())
                .sum();
            let _ = writeln!(
                s,
                "{:<28} {:<18} {:<20} {:>12}",
                n.name,
                kind,
                format!("{:?}", n.shape),
                count
            );
        }
        let _ = writeln!(s, "total trainable parameters: {}", self.parameter_count());
        s
    }
}
