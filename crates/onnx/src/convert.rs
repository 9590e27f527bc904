//! ONNX nodes to weft layers, one operator at a time, with constants folded
//! on the host as they appear.

use std::collections::{HashMap, HashSet};

use onnx_rs::ast::{Dimension, Graph as OnnxGraph, OpType};
use weft_device::{Error, Result};
use weft_graph::layers::{
    Act, Add, AvgPool2d, BatchNorm2d, Binary, Boxed, Concat, ConstantBinary, Conv2d,
    ConvTranspose2d, GlobalAvgPool, Linear, LocalResponseNorm, MaxPool2d, Mul, PRelu, Pad2d,
    Permute, Reshape, Softmax, Upsample,
};
use weft_graph::{Graph, Layer, NodeId};
use weft_kernels::Activation;
use weft_kernels::conv::params::Padding;
use weft_kernels::elementwise::BinaryOp;
use weft_kernels::lrn::LrnParams;
use weft_kernels::pad::PadMode;
use weft_kernels::upsample::UpsampleMode;

use crate::attrs::NodeRef;
use crate::fold;
use crate::tensor::{self, BATCH, Const};
use crate::{ImportOptions, Imported, Weight};

/// What a value name of the ONNX graph stands for.
#[derive(Debug, Clone)]
enum Value {
    /// An activation: a node of the weft graph.
    Node(NodeId),
    /// A constant, folded on the host.
    Const(Const),
    /// An output weft does not produce (pooling indices, dropout masks).
    Unavailable(String),
}

pub(crate) struct Importer {
    graph: Graph,
    values: HashMap<String, Value>,
    weights: Vec<Weight>,
    names: HashSet<String>,
    opset: i64,
    /// How many nodes (and graph outputs) read each value.
    readers: HashMap<String, usize>,
    /// Nodes already converted as part of an earlier one (MatMul + Add).
    absorbed: HashSet<usize>,
    /// The batch size the first input was exported with, if fixed: a
    /// `Reshape` to `[that, ...]` keeps the batch.
    exported_batch: Option<i64>,
}

pub(crate) fn import(model: &onnx_rs::Model<'_>, options: &ImportOptions) -> Result<Imported> {
    let onnx = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::invalid("model", "graph", "the model holds no graph"))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(1);
    let mut readers: HashMap<String, usize> = HashMap::new();
    for n in &onnx.node {
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            *readers.entry(i.to_string()).or_default() += 1;
        }
    }
    for o in &onnx.output {
        *readers.entry(o.name.to_string()).or_default() += 1;
    }
    let mut im = Importer {
        graph: Graph::new(),
        values: HashMap::new(),
        weights: Vec::new(),
        names: HashSet::new(),
        opset,
        readers,
        absorbed: HashSet::new(),
        exported_batch: None,
    };
    for t in &onnx.initializer {
        let what = format!("initializer \"{}\"", t.name());
        im.values.insert(
            t.name().to_string(),
            Value::Const(tensor::decode(t, &what)?),
        );
    }
    let (inputs, input_shapes) = im.inputs(onnx, options)?;
    for (i, node) in onnx.node.iter().enumerate() {
        if im.absorbed.contains(&i) {
            continue;
        }
        let n = NodeRef::new(node, i);
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(n.unsupported(format!("operators of domain \"{}\"", node.domain)));
        }
        im.convert(&n, i, onnx)?;
    }
    let mut outputs = Vec::new();
    let mut output_names = Vec::new();
    for o in &onnx.output {
        match im.values.get(o.name) {
            Some(Value::Node(id)) => outputs.push(*id),
            Some(Value::Const(_)) => {
                return Err(Error::unsupported(
                    format!("graph output \"{}\"", o.name),
                    "outputs that are constants (they do not depend on the input)",
                ));
            }
            Some(Value::Unavailable(why)) => {
                return Err(Error::unsupported(
                    format!("graph output \"{}\"", o.name),
                    why.clone(),
                ));
            }
            None => {
                return Err(Error::invalid(
                    format!("graph output \"{}\"", o.name),
                    "name",
                    "no node produces it",
                ));
            }
        }
        output_names.push(o.name.to_string());
    }
    im.graph.set_outputs(&outputs);
    Ok(Imported {
        graph: im.graph,
        weights: im.weights,
        inputs,
        input_shapes,
        outputs: output_names,
        opset,
        producer: format!("{} {}", model.producer_name, model.producer_version)
            .trim()
            .to_string(),
    })
}

impl Importer {
    /// The graph inputs that are not initializers, with their per-sample shapes
    /// (the first dimension is the batch and stays symbolic).
    fn inputs(
        &mut self,
        onnx: &OnnxGraph<'_>,
        options: &ImportOptions,
    ) -> Result<(Vec<String>, Vec<Vec<usize>>)> {
        let mut names = Vec::new();
        let mut shapes = Vec::new();
        for (k, vi) in onnx.non_init_inputs().into_iter().enumerate() {
            let label = format!("graph input \"{}\"", vi.name);
            let dims = vi
                .tensor_shape()
                .ok_or_else(|| Error::invalid(&label, "type", "not a tensor with a shape"))?;
            let per_sample: Vec<usize> = match (&options.input_shape, k) {
                (Some(s), 0) => s.clone(),
                _ => {
                    if dims.dim.len() < 2 {
                        return Err(Error::unsupported(
                            &label,
                            format!(
                                "inputs of rank {} (weft's inputs are a batch of samples: rank 2 or more)",
                                dims.dim.len()
                            ),
                        ));
                    }
                    dims.dim[1..]
                        .iter()
                        .enumerate()
                        .map(|(axis, d)| match d.value {
                            Dimension::Value(v) if v > 0 => Ok(v as usize),
                            ref other => Err(Error::invalid(
                                &label,
                                "shape",
                                format!(
                                    "dimension {} is {other:?}, not a fixed size; give the per-sample shape (--input-shape C,H,W)",
                                    axis + 1
                                ),
                            )),
                        })
                        .collect::<Result<Vec<usize>>>()?
                }
            };
            if k == 0
                && let Some(Dimension::Value(b)) = dims.dim.first().map(|d| &d.value)
            {
                self.exported_batch = Some(*b);
            }
            // One sample of at most 2^31 values (8 GiB as f32): past that no
            // device holds it, and the host would try to before saying so.
            let values = per_sample.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if values.is_none_or(|v| v > MAX_SAMPLE_VALUES) {
                return Err(Error::invalid(
                    format!("graph input \"{}\"", vi.name),
                    "shape",
                    format!("samples of {per_sample:?} hold more than 2^31 values"),
                ));
            }
            let name = self.unique(vi.name);
            let id = self.graph.input(&name, &per_sample)?;
            self.values.insert(vi.name.to_string(), Value::Node(id));
            names.push(vi.name.to_string());
            shapes.push(per_sample);
        }
        if names.is_empty() {
            return Err(Error::invalid(
                "model",
                "inputs",
                "the graph has no runtime input",
            ));
        }
        Ok((names, shapes))
    }

    /// A layer name not used yet, from `base` (`base_2`, `base_3`, ... on repeats).
    fn unique(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "node" } else { base };
        let mut name = base.to_string();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// The layer name for a node: its weight's name without `.weight` when the
    /// exporter kept PyTorch's parameter names (so the weights keep their
    /// `state_dict` names), else the node's name, else its first output.
    fn layer_name(&mut self, n: &NodeRef<'_, '_>, weight_input: Option<usize>) -> String {
        let from_weight = weight_input
            .and_then(|k| n.node.input.get(k))
            .and_then(|w| w.strip_suffix(".weight"))
            .filter(|s| !s.is_empty() && !self.names.contains(*s))
            .map(str::to_string);
        let base = from_weight.unwrap_or_else(|| {
            if n.node.name.is_empty() {
                n.node.output.first().copied().unwrap_or("node").to_string()
            } else {
                n.node.name.to_string()
            }
        });
        self.unique(&base)
    }

    fn value(&self, n: &NodeRef<'_, '_>, k: usize) -> Result<Option<&Value>> {
        let Some(name) = n.node.input.get(k).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        match self.values.get(*name) {
            Some(Value::Unavailable(why)) => Err(n.unsupported(format!("input \"{name}\": {why}"))),
            Some(v) => Ok(Some(v)),
            None => Err(n.invalid(
                "inputs",
                format!(
                    "input \"{name}\" is produced by no earlier node, initializer or graph input"
                ),
            )),
        }
    }

    /// Input `k`, which must be an activation.
    fn node_input(&self, n: &NodeRef<'_, '_>, k: usize) -> Result<NodeId> {
        match self.value(n, k)? {
            Some(Value::Node(id)) => Ok(*id),
            Some(_) => Err(n.unsupported(format!(
                "a constant as input {k} (weft runs this operator on activations only)"
            ))),
            None => Err(n.invalid("inputs", format!("input {k} is missing"))),
        }
    }

    /// Input `k`, which must be a constant (a weight, a shape).
    fn const_input(&self, n: &NodeRef<'_, '_>, k: usize) -> Result<Option<Const>> {
        match self.value(n, k)? {
            Some(Value::Const(c)) => Ok(Some(c.clone())),
            Some(_) => Err(n.unsupported(format!(
                "input {k} computed at run time (weft needs it constant: a weight or a shape)"
            ))),
            None => Ok(None),
        }
    }

    fn required_const(&self, n: &NodeRef<'_, '_>, k: usize, what: &str) -> Result<Const> {
        self.const_input(n, k)?
            .ok_or_else(|| n.invalid("inputs", format!("input {k} ({what}) is missing")))
    }

    fn shape(&self, id: NodeId) -> Vec<usize> {
        self.graph.shape(id).to_vec()
    }

    fn set(&mut self, n: &NodeRef<'_, '_>, k: usize, v: Value) {
        if let Some(name) = n.node.output.get(k).filter(|s| !s.is_empty()) {
            self.values.insert(name.to_string(), v);
        }
    }

    /// Marks outputs after the first as ones weft does not produce.
    fn extra_outputs_unavailable(&mut self, n: &NodeRef<'_, '_>, what: &str) {
        for k in 1..n.node.output.len() {
            self.set(n, k, Value::Unavailable(format!("{} of {}", what, n.label)));
        }
    }

    fn add(
        &mut self,
        n: &NodeRef<'_, '_>,
        name: &str,
        layer: Box<dyn Layer>,
        inputs: &[NodeId],
    ) -> Result<NodeId> {
        self.graph
            .add(name, layer, inputs)
            .map_err(|e| Error::shape(n.label.clone(), e.to_string()))
    }

    fn weight(&mut self, layer: &str, param: &str, dims: Vec<usize>, values: Vec<f32>) {
        self.weights.push(Weight {
            name: format!("{layer}.{param}"),
            dims,
            values,
        });
    }

    /// Adds a one-input layer named after the node and records its output.
    fn unary(&mut self, n: &NodeRef<'_, '_>, layer: Box<dyn Layer>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        self.emit(n, layer, &[x])
    }

    /// `layer` applied to `inputs` as the node's layer and its output.
    fn emit(
        &mut self,
        n: &NodeRef<'_, '_>,
        layer: Box<dyn Layer>,
        inputs: &[NodeId],
    ) -> Result<()> {
        let name = self.layer_name(n, None);
        let y = self.add(n, &name, layer, inputs)?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    /// A view of `x` with per-sample shape `shape` (nothing when it already has it).
    fn reshape(&mut self, n: &NodeRef<'_, '_>, x: NodeId, shape: Vec<usize>) -> Result<NodeId> {
        if self.graph.shape(x) == shape.as_slice() {
            return Ok(x);
        }
        let name = self.layer_name(n, None);
        self.add(n, &name, Reshape::new(&shape).boxed(), &[x])
    }

    fn convert(&mut self, n: &NodeRef<'_, '_>, index: usize, onnx: &OnnxGraph<'_>) -> Result<()> {
        let op = n.node.op_type.clone();
        if op == OpType::Div && self.gelu(n, index, onnx)? {
            return Ok(());
        }
        // Operators on constants only are evaluated here, on the host.
        let consts: Vec<Option<&Value>> = (0..n.node.input.len())
            .map(|k| self.value(n, k))
            .collect::<Result<_>>()?;
        let all_const = consts
            .iter()
            .flatten()
            .all(|v| matches!(v, Value::Const(_)));
        if all_const && fold::folds(&op) {
            let inputs: Vec<Option<Const>> = consts
                .iter()
                .map(|v| match v {
                    Some(Value::Const(c)) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            let out = fold::eval(n, &inputs, self.opset)?;
            self.set(n, 0, Value::Const(out));
            return Ok(());
        }
        match op {
            OpType::Conv => self.conv(n),
            OpType::BatchNormalization => self.batch_norm(n),
            OpType::Relu => self.unary(n, Act(Activation::Relu).boxed()),
            OpType::Sigmoid => self.unary(n, Act(Activation::Sigmoid).boxed()),
            OpType::Tanh => self.unary(n, Act(Activation::Tanh).boxed()),
            OpType::LeakyRelu => {
                let alpha = finite(n, "alpha", n.float("alpha", 0.01)?)?;
                self.unary(n, Act(Activation::LeakyRelu(alpha)).boxed())
            }
            OpType::Elu => {
                let alpha = finite(n, "alpha", n.float("alpha", 1.0)?)?;
                self.unary(n, Act(Activation::Elu(alpha)).boxed())
            }
            OpType::Gelu => {
                let act = match n.string("approximate", "none")?.as_str() {
                    "none" => Activation::Gelu,
                    "tanh" => Activation::GeluTanh,
                    other => return Err(n.invalid("approximate", format!("unknown mode {other}"))),
                };
                self.unary(n, Act(act).boxed())
            }
            OpType::Clip => self.clip(n),
            OpType::HardSigmoid => {
                let alpha = finite(n, "alpha", n.float("alpha", 0.2)?)?;
                let beta = finite(n, "beta", n.float("beta", 0.5)?)?;
                self.unary(n, Act(Activation::HardSigmoid(alpha, beta)).boxed())
            }
            OpType::HardSwish => self.unary(n, Act(Activation::HardSwish).boxed()),
            // onnx-rs has no variant for LRN: it parses as a custom name.
            OpType::Custom("LRN") => {
                let size = n.int("size", 0)?;
                if size < 1 {
                    return Err(n.invalid("size", format!("must be at least 1, got {size}")));
                }
                let params = LrnParams::onnx(
                    size as usize,
                    finite(n, "alpha", n.float("alpha", 1e-4)?)?,
                    finite(n, "beta", n.float("beta", 0.75)?)?,
                    finite(n, "bias", n.float("bias", 1.0)?)?,
                );
                self.unary(n, LocalResponseNorm { params }.boxed())
            }
            OpType::PRelu => self.prelu(n),
            OpType::MaxPool | OpType::AveragePool => self.pool(n),
            OpType::GlobalAveragePool => self.unary(n, GlobalAvgPool.boxed()),
            OpType::GlobalMaxPool => {
                let x = self.node_input(n, 0)?;
                let s = self.shape(x);
                if s.len() != 3 {
                    return Err(n.unsupported(format!("inputs of per-sample shape {s:?}")));
                }
                let mut pool = MaxPool2d::new(1);
                pool.params.kernel = [s[1], s[2]];
                pool.params.stride = [1, 1];
                self.unary(n, pool.boxed())
            }
            OpType::ReduceMean | OpType::ReduceMax | OpType::ReduceMin | OpType::ReduceSum => {
                self.reduce(n)
            }
            OpType::Gemm => self.gemm(n),
            OpType::MatMul => self.matmul(n, index, onnx),
            OpType::Add
                if matches!(self.value(n, 0)?, Some(Value::Node(_)))
                    && matches!(self.value(n, 1)?, Some(Value::Node(_))) =>
            {
                self.add_op(n)
            }
            OpType::Mul
                if matches!(self.value(n, 0)?, Some(Value::Node(_)))
                    && matches!(self.value(n, 1)?, Some(Value::Node(_))) =>
            {
                self.mul_op(n)
            }
            OpType::Sub | OpType::Div
                if matches!(self.value(n, 0)?, Some(Value::Node(_)))
                    && matches!(self.value(n, 1)?, Some(Value::Node(_))) =>
            {
                let (a, b) = (self.node_input(n, 0)?, self.node_input(n, 1)?);
                let op = if op == OpType::Sub {
                    BinaryOp::Sub
                } else {
                    BinaryOp::Div
                };
                self.emit(n, Binary::new(op).boxed(), &[a, b])
            }
            OpType::Sum => self.add_op(n),
            OpType::Add | OpType::Sub | OpType::Mul | OpType::Div => self.constant_arithmetic(n),
            OpType::ConvTranspose => self.conv_transpose(n),
            OpType::Concat => self.concat(n),
            OpType::Flatten => self.flatten(n),
            OpType::Reshape => self.reshape_op(n),
            OpType::Squeeze | OpType::Unsqueeze => self.squeeze(n),
            OpType::Dropout | OpType::Identity => {
                let v = self
                    .value(n, 0)?
                    .cloned()
                    .ok_or_else(|| n.invalid("inputs", "input 0 is missing"))?;
                self.set(n, 0, v);
                self.extra_outputs_unavailable(n, "the mask");
                Ok(())
            }
            OpType::Softmax | OpType::LogSoftmax => self.softmax(n),
            OpType::Resize | OpType::Upsample => self.resize(n),
            OpType::Pad => self.pad(n),
            OpType::Transpose => {
                let x = self.node_input(n, 0)?;
                let rank = self.shape(x).len() + 1;
                let perm: Vec<usize> = match n.ints("perm")? {
                    Some(p) => p.iter().map(|&v| v as usize).collect(),
                    None => (0..rank).rev().collect(),
                };
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if !sorted.iter().copied().eq(0..rank) {
                    return Err(n.invalid(
                        "perm",
                        format!("{perm:?} is not a permutation of the {rank} axes"),
                    ));
                }
                if perm.first() != Some(&0) {
                    return Err(n.unsupported(format!(
                        "perm {perm:?} on activations (the batch axis must stay first)"
                    )));
                }
                let per_sample: Vec<usize> = perm[1..].iter().map(|&a| a.wrapping_sub(1)).collect();
                self.unary(n, Permute::new(&per_sample).boxed())
            }
            OpType::Shape => {
                let x = self.node_input(n, 0)?;
                let mut dims = vec![BATCH];
                dims.extend(self.shape(x).iter().map(|&d| d as f64));
                let c = Const::scalar_or_vec(dims, true);
                let c = fold::slice_shape(n, c)?;
                self.set(n, 0, Value::Const(c));
                Ok(())
            }
            other => Err(n.unsupported(match other {
                _ if fold::folds(&other) => format!(
                    "operator {} on activations (weft evaluates it on constants only)",
                    other.as_str()
                ),
                _ => format!("operator {}", other.as_str()),
            })),
        }
    }

    /// Padding before and after each spatial axis, from `pads` or `auto_pad`,
    /// of an operator over `rank` axes (a 1-D operator's axis is the width).
    fn pads_of(
        &self,
        n: &NodeRef<'_, '_>,
        rank: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        input_hw: [usize; 2],
    ) -> Result<([usize; 2], [usize; 2])> {
        match n.string("auto_pad", "NOTSET")?.as_str() {
            "NOTSET" => {
                let p = n.ints("pads")?.unwrap_or_else(|| vec![0; 2 * rank]);
                if p.len() != 2 * rank || p.iter().any(|&v| v < 0) {
                    return Err(n.invalid(
                        "pads",
                        format!("expected {} non-negative values, got {p:?}", 2 * rank),
                    ));
                }
                let p: Vec<usize> = p.iter().map(|&v| v as usize).collect();
                Ok(match rank {
                    1 => ([0, p[0]], [0, p[1]]),
                    _ => ([p[0], p[1]], [p[2], p[3]]),
                })
            }
            "VALID" => Ok(([0, 0], [0, 0])),
            mode @ ("SAME_UPPER" | "SAME_LOWER") => {
                let (mut begin, mut end) = ([0; 2], [0; 2]);
                for a in 0..2 {
                    let axis = [input_hw[a], kernel[a], stride[a], dilation[a]];
                    (begin[a], end[a]) = same_pads(mode == "SAME_UPPER", axis);
                }
                Ok((begin, end))
            }
            other => Err(n.invalid("auto_pad", format!("unknown mode {other}"))),
        }
    }

    /// The activation a 1-D or 2-D window operator reads, as `[C, H, W]`
    /// samples (a 1-D operator's `[C, L]` seen as `[C, 1, L]`), with the
    /// operator's rank.
    fn window_input(
        &mut self,
        n: &NodeRef<'_, '_>,
        x: NodeId,
        rank: usize,
        what: &str,
    ) -> Result<(NodeId, [usize; 3])> {
        let s = self.shape(x);
        if !(rank == 1 || rank == 2) {
            return Err(n.unsupported(format!(
                "{what} over {rank} spatial dimensions (weft's run over 1 or 2)"
            )));
        }
        if s.len() != rank + 1 {
            return Err(n.invalid(
                "inputs",
                format!(
                    "expected samples of {} dims for a {rank}-D {what}, got {s:?}",
                    rank + 1
                ),
            ));
        }
        Ok(if rank == 1 {
            (self.reshape(n, x, vec![s[0], 1, s[1]])?, [s[0], 1, s[1]])
        } else {
            (x, [s[0], s[1], s[2]])
        })
    }

    /// Padding a window operator cannot express: `[C, H, W]` padded by
    /// `begin` and `end` with `value` as its own layer (the operator then
    /// pads nothing). Asymmetric pads, `auto_pad` with an odd total.
    fn pad_before(
        &mut self,
        n: &NodeRef<'_, '_>,
        x: NodeId,
        (begin, end): ([usize; 2], [usize; 2]),
        value: f32,
    ) -> Result<NodeId> {
        let pads = [begin[0], end[0], begin[1], end[1]].map(|p| p as i64);
        // Its own name, so the operator's layer keeps the weights' name.
        let base = n.node.output.first().copied().unwrap_or("node");
        let name = self.unique(&format!("{base}.pad"));
        let layer = Pad2d::new(pads, PadMode::Constant(value));
        self.add(n, &name, layer.boxed(), &[x])
    }

    fn conv(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let w = self.required_const(n, 1, "weights")?;
        let b = self.const_input(n, 2)?;
        let rank = w.dims.len().saturating_sub(2);
        if rank == 3 {
            return self.conv3d(n, x, w, b);
        }
        let (x, s) = self.window_input(n, x, rank, "convolutions")?;
        let c_out = w.dims[0];
        let [kh, kw] = if rank == 1 {
            [1, w.dims[2]]
        } else {
            [w.dims[2], w.dims[3]]
        };
        if let Some(k) = n.ints("kernel_shape")?
            && k != w.dims[2..].iter().map(|&d| d as i64).collect::<Vec<_>>()
        {
            return Err(n.invalid(
                "kernel_shape",
                format!("{k:?} disagrees with the weights' {:?}", w.dims),
            ));
        }
        let groups = n.int("group", 1)?;
        if groups < 1 {
            return Err(n.invalid("group", format!("{groups}")));
        }
        if w.dims[1] * groups as usize != s[0] || c_out % groups as usize != 0 {
            return Err(n.invalid(
                "weights",
                format!(
                    "dims {:?} in {groups} groups do not fit inputs of {} channels",
                    w.dims, s[0]
                ),
            ));
        }
        let stride = n.axes("strides", 1, rank)?;
        let dilation = n.axes("dilations", 1, rank)?;
        let (begin, end) = self.pads_of(n, rank, [kh, kw], stride, dilation, [s[1], s[2]])?;
        // Unequal pads: a zero-padding layer first, exactly ONNX's sum.
        let (x, padding) = if begin == end {
            (x, begin)
        } else {
            (self.pad_before(n, x, (begin, end), 0.0)?, [0, 0])
        };
        let mut conv = Conv2d::new(s[0], c_out, kh).kernel_hw([kh, kw]);
        conv.params.stride = stride;
        conv.params.dilation = dilation;
        conv.params.groups = groups as usize;
        conv.params.padding = Padding::Explicit(padding);
        conv.bias = b.is_some();
        let name = self.layer_name(n, Some(1));
        let mut y = self.add(n, &name, conv.boxed(), &[x])?;
        self.weight(&name, "weight", vec![c_out, w.dims[1], kh, kw], w.to_f32());
        if let Some(b) = b {
            if b.len() != c_out {
                return Err(n.invalid("B", format!("{} values for {c_out} channels", b.len())));
            }
            self.weight(&name, "bias", vec![c_out], b.to_f32());
        }
        if rank == 1 {
            let out = self.shape(y);
            y = self.reshape(n, y, vec![out[0], out[2]])?;
        }
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    /// Per-axis sizes and pads of a 3-D window operator over `[D, H, W]`:
    /// (kernel, stride, dilation, pads before, pads after).
    fn window3d(
        &self,
        n: &NodeRef<'_, '_>,
        kernel: [usize; 3],
        dhw: [usize; 3],
    ) -> Result<Window3d> {
        let axes = |name: &str| -> Result<[usize; 3]> {
            match n.ints(name)? {
                None => Ok([1; 3]),
                Some(v) if v.len() == 3 && v.iter().all(|&x| x >= 1) => {
                    Ok([v[0] as usize, v[1] as usize, v[2] as usize])
                }
                Some(v) => Err(n.invalid(name, format!("expected 3 positive values, got {v:?}"))),
            }
        };
        let (stride, dilation) = (axes("strides")?, axes("dilations")?);
        let (mut begin, mut end) = ([0; 3], [0; 3]);
        match n.string("auto_pad", "NOTSET")?.as_str() {
            "NOTSET" => {
                let p = n.ints("pads")?.unwrap_or_else(|| vec![0; 6]);
                if p.len() != 6 || p.iter().any(|&v| v < 0) {
                    return Err(
                        n.invalid("pads", format!("expected 6 non-negative values, got {p:?}"))
                    );
                }
                for a in 0..3 {
                    (begin[a], end[a]) = (p[a] as usize, p[a + 3] as usize);
                }
            }
            "VALID" => {}
            mode @ ("SAME_UPPER" | "SAME_LOWER") => {
                for a in 0..3 {
                    let axis = [dhw[a], kernel[a], stride[a], dilation[a]];
                    (begin[a], end[a]) = same_pads(mode == "SAME_UPPER", axis);
                }
            }
            other => return Err(n.invalid("auto_pad", format!("unknown mode {other}"))),
        }
        Ok(Window3d {
            kernel,
            stride,
            dilation,
            begin,
            end,
        })
    }

    /// A 3-D convolution as a 2-D one over depth-stacked channels: samples
    /// `[C, D, H, W]` are seen as `[C·D, H, W]`, and output channel
    /// `(o, od)` weighs input channel `(c, d)` by `w[o, c, kd]` where `d =
    /// od·stride + kd·dilation − pad` (zero elsewhere), so `[O·OD, OH, OW]`
    /// is `[O, OD, OH, OW]`. Exact for inference (the extra terms are
    /// zeros); the weight is banded, `OD·D/KD` times the original's size.
    fn conv3d(&mut self, n: &NodeRef<'_, '_>, x: NodeId, w: Const, b: Option<Const>) -> Result<()> {
        let s = self.shape(x);
        if s.len() != 4 {
            return Err(n.invalid(
                "inputs",
                format!("expected [C, D, H, W] samples for a 3-D convolution, got {s:?}"),
            ));
        }
        let [c, d, h, wd] = [s[0], s[1], s[2], s[3]];
        let [o, cg, kd, kh, kw] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3], w.dims[4]];
        let groups = n.int("group", 1)?;
        if groups < 1 || c % groups as usize != 0 || o % groups as usize != 0 {
            return Err(n.invalid("group", format!("{groups} for {c} → {o} channels")));
        }
        let groups = groups as usize;
        if cg != c / groups {
            return Err(n.invalid(
                "weights",
                format!(
                    "{cg} input channels per group, the input gives {}",
                    c / groups
                ),
            ));
        }
        if let Some(k) = n.ints("kernel_shape")?
            && k != [kd as i64, kh as i64, kw as i64]
        {
            return Err(n.invalid(
                "kernel_shape",
                format!("{k:?} disagrees with the weights' {:?}", w.dims),
            ));
        }
        let win = self.window3d(n, [kd, kh, kw], [d, h, wd])?;
        let span = (kd - 1) * win.dilation[0] + 1;
        let Some(od) = (d + win.begin[0] + win.end[0])
            .checked_sub(span)
            .map(|v| v / win.stride[0] + 1)
        else {
            return Err(n.invalid(
                "kernel_shape",
                format!("a depth window of {span} on {d} planes"),
            ));
        };
        let banded = (o * od).checked_mul(cg * d * kh * kw);
        if banded.is_none_or(|v| v > 1 << 26) {
            return Err(n.unsupported(format!(
                "a 3-D convolution whose depth-banded 2-D weight would hold {o}·{od} × {cg}·{d} \
                 × {kh}·{kw} values (at most 2^26)"
            )));
        }
        let src = w.to_f32();
        let mut band = vec![0.0f32; o * od * cg * d * kh * kw];
        let taps = kh * kw;
        for oc in 0..o {
            for z in 0..od {
                for cc in 0..cg {
                    for k in 0..kd {
                        let Some(dz) = (z * win.stride[0] + k * win.dilation[0])
                            .checked_sub(win.begin[0])
                            .filter(|&dz| dz < d)
                        else {
                            continue;
                        };
                        let from = ((oc * cg + cc) * kd + k) * taps;
                        let to = (((oc * od + z) * cg + cc) * d + dz) * taps;
                        band[to..to + taps].copy_from_slice(&src[from..from + taps]);
                    }
                }
            }
        }
        let stacked = self.reshape(n, x, vec![c * d, h, wd])?;
        let hw = |p: [usize; 3]| [p[1], p[2]];
        let (stacked, padding) = if hw(win.begin) == hw(win.end) {
            (stacked, hw(win.begin))
        } else {
            let pads = (hw(win.begin), hw(win.end));
            (self.pad_before(n, stacked, pads, 0.0)?, [0, 0])
        };
        let mut conv = Conv2d::new(c * d, o * od, kh).kernel_hw([kh, kw]);
        conv.params.stride = hw(win.stride);
        conv.params.dilation = hw(win.dilation);
        conv.params.groups = groups;
        conv.params.padding = Padding::Explicit(padding);
        conv.bias = b.is_some();
        let name = self.layer_name(n, Some(1));
        let y = self.add(n, &name, conv.boxed(), &[stacked])?;
        self.weight(&name, "weight", vec![o * od, cg * d, kh, kw], band);
        if let Some(b) = b {
            if b.len() != o {
                return Err(n.invalid("B", format!("{} values for {o} channels", b.len())));
            }
            let per_plane: Vec<f32> = b
                .to_f32()
                .into_iter()
                .flat_map(|v| std::iter::repeat_n(v, od))
                .collect();
            self.weight(&name, "bias", vec![o * od], per_plane);
        }
        let out = self.shape(y);
        let y = self.reshape(n, y, vec![o, od, out[1], out[2]])?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    /// 3-D max or average pooling as two 2-D pools: over height and width
    /// of `[C·D, H, W]`, then over depth of `[C, D, OH·OW]` with `(KD, 1)`
    /// windows. Both are separable: a box's maximum is the maximum over
    /// depth of each plane's maximum, and its count (counting padding or
    /// not, ceil mode's clipped windows too) is the product of the axes'
    /// counts, so the mean of means is the box's mean.
    fn pool3d(&mut self, n: &NodeRef<'_, '_>, x: NodeId) -> Result<()> {
        let s = self.shape(x);
        if s.len() != 4 {
            return Err(n.invalid(
                "inputs",
                format!("expected [C, D, H, W] samples for a 3-D pool, got {s:?}"),
            ));
        }
        let [c, d, h, w] = [s[0], s[1], s[2], s[3]];
        let k = n.ints("kernel_shape")?.unwrap_or_default();
        if k.len() != 3 || k.iter().any(|&v| v < 1) {
            return Err(n.invalid("kernel_shape", format!("{k:?}")));
        }
        let kernel = [k[0] as usize, k[1] as usize, k[2] as usize];
        let win = self.window3d(n, kernel, [d, h, w])?;
        if win.begin != win.end {
            return Err(n.unsupported(format!(
                "3-D pooling with unequal pads {:?} before, {:?} after",
                win.begin, win.end
            )));
        }
        let ceil = n.int("ceil_mode", 0)? != 0;
        let include_pad = n.int("count_include_pad", 0)? != 0;
        let is_max = n.node.op_type == OpType::MaxPool;
        if is_max {
            n.require_default("storage_order", 0)?;
        } else if win.dilation != [1; 3] {
            return Err(n.unsupported(format!("average pooling with dilations {:?}", win.dilation)));
        }
        let win = &win;
        let pool = |axes: [usize; 2]| -> Box<dyn Layer> {
            // Height and width ([1, 2]), or depth and a unit axis ([0, 3]).
            let pick = |v: [usize; 3], unit: usize| {
                let v = [v[0], v[1], v[2], unit];
                [v[axes[0]], v[axes[1]]]
            };
            if is_max {
                let mut p = MaxPool2d::new(1);
                p.params.kernel = pick(win.kernel, 1);
                p.params.stride = pick(win.stride, 1);
                p.params.dilation = pick(win.dilation, 1);
                p.params.padding = pick(win.begin, 0);
                p.params.ceil_mode = ceil;
                p.boxed()
            } else {
                let mut p = AvgPool2d::new(1).count_include_pad(include_pad);
                p.params.kernel = pick(win.kernel, 1);
                p.params.stride = pick(win.stride, 1);
                p.params.padding = pick(win.begin, 0);
                p.params.ceil_mode = ceil;
                p.boxed()
            }
        };
        let planes = self.reshape(n, x, vec![c * d, h, w])?;
        let name = self.layer_name(n, None);
        let y = self.add(n, &format!("{name}.hw"), pool([1, 2]), &[planes])?;
        let [oh, ow] = [self.shape(y)[1], self.shape(y)[2]];
        let columns = self.reshape(n, y, vec![c, d, oh * ow])?;
        let y = self.add(n, &format!("{name}.depth"), pool([0, 3]), &[columns])?;
        let od = self.shape(y)[1];
        let y = self.reshape(n, y, vec![c, od, oh, ow])?;
        self.set(n, 0, Value::Node(y));
        self.extra_outputs_unavailable(n, "the indices");
        Ok(())
    }

    fn conv_transpose(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let w = self.required_const(n, 1, "weights")?;
        let b = self.const_input(n, 2)?;
        if w.dims.len() != 4 {
            return Err(n.unsupported(format!(
                "transposed convolutions over {} spatial dimensions (weft's are 2-D)",
                w.dims.len().saturating_sub(2)
            )));
        }
        let s = self.shape(x);
        if s.len() != 3 {
            return Err(n.invalid("inputs", format!("expected [C, H, W] samples, got {s:?}")));
        }
        let groups = n.int("group", 1)?;
        if groups < 1 {
            return Err(n.invalid("group", format!("{groups}")));
        }
        let groups = groups as usize;
        let [c_in, per_group, kh, kw] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3]];
        let stride = n.pair("strides", 1)?;
        let dilation = n.pair("dilations", 1)?;
        if n.string("auto_pad", "NOTSET")? != "NOTSET" {
            return Err(n.unsupported("auto_pad on a transposed convolution (give pads)"));
        }
        let p = n.ints("pads")?.unwrap_or_else(|| vec![0; 4]);
        if p.len() != 4 || p.iter().any(|&v| v < 0) || p[0] != p[2] || p[1] != p[3] {
            return Err(n.unsupported(format!("pads {p:?} (symmetric, non-negative only)")));
        }
        let padding = [p[0] as usize, p[1] as usize];
        let kernel = [kh, kw];
        let mut output_padding = match n.ints("output_padding")? {
            Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 0) => [v[0] as usize, v[1] as usize],
            Some(v) => return Err(n.invalid("output_padding", format!("{v:?}"))),
            None => [0, 0],
        };
        if let Some(shape) = n.ints("output_shape")? {
            let hw = &shape[shape.len().saturating_sub(2)..];
            for a in 0..2 {
                let base = (s[a + 1] - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1;
                let want = hw.get(a).copied().unwrap_or(0);
                let extra = want - (base as i64 - 2 * padding[a] as i64);
                if !(0..stride[a].max(dilation[a]) as i64).contains(&extra) {
                    return Err(n.unsupported(format!("output_shape {shape:?}")));
                }
                output_padding[a] = extra as usize;
            }
        }
        let mut layer = ConvTranspose2d::new(c_in, per_group * groups, kh);
        layer.kernel = kernel;
        layer.params.stride = stride;
        layer.params.padding = padding;
        layer.params.output_padding = output_padding;
        layer.params.dilation = dilation;
        layer.params.groups = groups;
        layer.bias = b.is_some();
        let name = self.layer_name(n, Some(1));
        let y = self.add(n, &name, layer.boxed(), &[x])?;
        self.weight(&name, "weight", w.dims.clone(), w.to_f32());
        if let Some(b) = b {
            self.weight(&name, "bias", vec![b.len()], b.to_f32());
        }
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    fn batch_norm(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        if n.int("training_mode", 0)? != 0 {
            return Err(n.unsupported("training_mode = 1 (import runs inference)"));
        }
        let eps = n.float("epsilon", 1e-5)?;
        let c = self.shape(x).first().copied().unwrap_or(0);
        let mut stats = Vec::new();
        for (k, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let t = self.required_const(n, k, what)?;
            if t.len() != c {
                return Err(n.invalid(what, format!("{} values for {c} channels", t.len())));
            }
            stats.push(t.to_f32());
        }
        let y = self.channel_affine(n, x, BatchNorm2d::new(c).eps(eps), stats)?;
        self.extra_outputs_unavailable(n, "the running statistics");
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    /// A batch norm in evaluation mode over channel axis 0 of any sample
    /// shape (`[C]`, `[C, L]`, `[C, D, H, W]` seen as `[C, rest, 1]`), with
    /// its weight, bias, running mean and running variance.
    fn channel_affine(
        &mut self,
        n: &NodeRef<'_, '_>,
        x: NodeId,
        bn: BatchNorm2d,
        stats: Vec<Vec<f32>>,
    ) -> Result<NodeId> {
        let s = self.shape(x);
        let image = if s.len() == 3 {
            x
        } else {
            let rest = s[1..].iter().product();
            self.reshape(n, x, vec![s[0], rest, 1])?
        };
        let name = self.layer_name(n, Some(1));
        let y = self.add(n, &name, bn.boxed(), &[image])?;
        for (param, v) in ["weight", "bias", "running_mean", "running_var"]
            .into_iter()
            .zip(stats)
        {
            self.weight(&name, param, vec![bn.num_features], v);
        }
        self.reshape(n, y, s)
    }

    /// `x ∘ c` for `∘` in + − × ÷ with `c` a constant of one value, or of one
    /// value per channel (`[C, 1, 1]`): a per-channel affine map, run as an
    /// evaluation-mode batch norm with mean 0, variance 1 and ε 0 (so
    /// `(x − 0) / √1 · w + b` is exactly `x·w + b`).
    fn constant_arithmetic(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let (a, b) = (self.value(n, 0)?.cloned(), self.value(n, 1)?.cloned());
        let op = n.node.op_type.clone();
        let (x, c, constant_first) = match (a, b) {
            (Some(Value::Node(x)), Some(Value::Const(c))) => (x, c, false),
            // Addition and multiplication commute.
            (Some(Value::Const(c)), Some(Value::Node(x))) => {
                (x, c, !matches!(op, OpType::Add | OpType::Mul))
            }
            _ => {
                return Err(n.unsupported(format!(
                    "{} of these operands (activations of equal shapes add; a constant of one value \
                     or one per channel combines with an activation)",
                    op.as_str()
                )));
            }
        };
        let s = self.shape(x);
        let channels = s.first().copied().unwrap_or(1);
        // Accept batched dims ([1, C, 1, 1]) and per-sample dims ([C, 1, 1]).
        let mut dims = c.dims.clone();
        while dims.len() > s.len() && dims.first() == Some(&1) {
            dims.remove(0);
        }
        let per_channel =
            c.len() == channels && dims.len() == s.len() && dims.iter().skip(1).all(|&d| d == 1);
        if constant_first || !(c.len() == 1 || per_channel) {
            return self.constant_binary(n, x, c, constant_first);
        }
        let values: Vec<f64> = if c.len() == 1 {
            vec![c.data[0]; channels]
        } else {
            c.data.clone()
        };
        let (w, b): (Vec<f32>, Vec<f32>) = match op {
            OpType::Add => (
                vec![1.0; channels],
                values.iter().map(|&v| v as f32).collect(),
            ),
            OpType::Sub => (
                vec![1.0; channels],
                values.iter().map(|&v| -v as f32).collect(),
            ),
            OpType::Mul => (
                values.iter().map(|&v| v as f32).collect(),
                vec![0.0; channels],
            ),
            OpType::Div => (
                values.iter().map(|&v| (1.0 / v) as f32).collect(),
                vec![0.0; channels],
            ),
            _ => unreachable!("arithmetic operators only"),
        };
        let stats = vec![w, b, vec![0.0; channels], vec![1.0; channels]];
        let y = self.channel_affine(n, x, BatchNorm2d::new(channels).eps(0.0), stats)?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    /// `x ∘ c` or `c ∘ x` with a constant of any shape that broadcasts to
    /// the batched input by NumPy's rules (a `[1, C, H, W]` bias, a `[W]`
    /// row, `c − x`): a [`ConstantBinary`] holding the constant as a buffer.
    fn constant_binary(
        &mut self,
        n: &NodeRef<'_, '_>,
        x: NodeId,
        c: Const,
        constant_first: bool,
    ) -> Result<()> {
        let rank = self.shape(x).len() + 1;
        if c.dims.len() > rank {
            return Err(n.unsupported(format!(
                "a constant of dims {:?} on activations of rank {rank}",
                c.dims
            )));
        }
        let dims: Vec<usize> = std::iter::repeat_n(1, rank - c.dims.len())
            .chain(c.dims.iter().copied())
            .collect();
        let op = match n.node.op_type {
            OpType::Add => BinaryOp::Add,
            OpType::Sub => BinaryOp::Sub,
            OpType::Mul => BinaryOp::Mul,
            _ => BinaryOp::Div,
        };
        let name = self.layer_name(n, None);
        let layer = ConstantBinary::new(op, &dims, constant_first);
        let y = self.add(n, &name, layer.boxed(), &[x])?;
        self.weight(&name, "value", dims, c.to_f32());
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    fn clip(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let bound = |this: &Self, k: usize, attr: &str, default: f32| -> Result<f32> {
            if this.opset < 11 {
                return n.float(attr, default);
            }
            match this.const_input(n, k)? {
                Some(c) if c.len() == 1 => Ok(c.data[0] as f32),
                Some(c) => {
                    Err(n.invalid(attr, format!("expected a scalar, got dims {:?}", c.dims)))
                }
                None => Ok(default),
            }
        };
        let lo = bound(self, 1, "min", f32::NEG_INFINITY)?;
        let hi = bound(self, 2, "max", f32::INFINITY)?;
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(n.invalid("min", format!("clipping to [{lo}, {hi}]")));
        }
        let act = if lo == 0.0 && hi == f32::INFINITY {
            Activation::Relu
        } else {
            Activation::Hardtanh(lo, hi)
        };
        self.unary(n, Act(act).boxed())
    }

    fn prelu(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let slope = self.required_const(n, 1, "slope")?;
        let s = self.shape(x);
        let per_channel = s.first().copied().unwrap_or(0);
        // One slope, or one per channel broadcast over the rest ([C], [C, 1, 1]).
        let trailing_ones = slope.dims.iter().skip(1).all(|&d| d == 1);
        if !(slope.len() == 1 || (slope.len() == per_channel && trailing_ones)) {
            return Err(n.unsupported(format!(
                "slopes of dims {:?} for samples of shape {s:?} (one, or one per channel)",
                slope.dims
            )));
        }
        let count = slope.len();
        let name = self.layer_name(n, Some(1));
        let y = self.add(n, &name, PRelu::new(count).boxed(), &[x])?;
        self.weight(&name, "weight", vec![count], slope.to_f32());
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    fn pool(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let rank = n
            .ints("kernel_shape")?
            .ok_or_else(|| n.invalid("kernel_shape", "missing"))?
            .len();
        if rank == 3 {
            return self.pool3d(n, x);
        }
        let (mut x, s) = self.window_input(n, x, rank, "pooling")?;
        let kernel = n.axes("kernel_shape", 1, rank)?;
        let stride = n.axes("strides", 1, rank)?;
        let dilation = n.axes("dilations", 1, rank)?;
        let mut ceil = n.int("ceil_mode", 0)? != 0;
        let include_pad = n.int("count_include_pad", 0)? != 0;
        let is_max = n.node.op_type == OpType::MaxPool;
        let (mut padding, mut end) =
            self.pads_of(n, rank, kernel, stride, dilation, [s[1], s[2]])?;
        // Unequal pads without ceil mode, where the padding's value is the
        // pool's own: −∞ for a maximum, 0 for an average that counts it. A
        // padding layer first is then exactly ONNX's windows.
        if padding != end && !ceil && (is_max || include_pad) {
            let value = if is_max { f32::NEG_INFINITY } else { 0.0 };
            x = self.pad_before(n, x, (padding, end), value)?;
            (padding, end) = ([0, 0], [0, 0]);
        }
        if padding != end {
            // One more pixel after than before (Caffe2's pools, SAME_UPPER):
            // the windows are ceil mode's, clipped to the image, provided
            // the padding is not counted and ceil mode gives as many.
            let onnx_out = |a: usize| {
                let span = (kernel[a] - 1) * dilation[a] + 1;
                (s[a + 1] + padding[a] + end[a])
                    .checked_sub(span)
                    .map(|v| v / stride[a] + 1)
            };
            let ceil_out = |a: usize| {
                let span = (kernel[a] - 1) * dilation[a] + 1;
                let full = (s[a + 1] + 2 * padding[a]).checked_sub(span)?;
                let mut out = full.div_ceil(stride[a]) + 1;
                if (out - 1) * stride[a] >= s[a + 1] + padding[a] {
                    out -= 1;
                }
                Some(out)
            };
            // One window over the whole image (Inception v1's last pool: 7×7
            // on 6×6 with one pixel after): a global pool, exactly, where
            // the padding counts for nothing.
            let whole = (0..2).all(|a| {
                onnx_out(a) == Some(1) && dilation[a] == 1 && kernel[a] >= padding[a] + s[a + 1]
            });
            if whole && (is_max || !include_pad) {
                let layer: Box<dyn Layer> = if is_max {
                    let mut p = MaxPool2d::new(1);
                    p.params.kernel = [s[1], s[2]];
                    p.boxed()
                } else {
                    GlobalAvgPool.boxed()
                };
                return self.window_output(n, layer, x, rank);
            }
            let same = (0..2).all(|a| {
                end[a] >= padding[a] && onnx_out(a).is_some() && onnx_out(a) == ceil_out(a)
            });
            if ceil || (!is_max && include_pad) || !same {
                return Err(n.unsupported(format!(
                    "asymmetric pads {:?} (begin and end must match per axis, or end one more \
                     with ceil_mode 0 and padding not counted)",
                    [padding[0], padding[1], end[0], end[1]]
                )));
            }
            ceil = true;
        }
        let layer: Box<dyn Layer> = if n.node.op_type == OpType::MaxPool {
            n.require_default("storage_order", 0)?;
            let mut p = MaxPool2d::new(1);
            p.params.kernel = kernel;
            p.params.stride = stride;
            p.params.dilation = dilation;
            p.params.padding = padding;
            p.params.ceil_mode = ceil;
            p.boxed()
        } else {
            if dilation != [1, 1] {
                return Err(n.unsupported(format!("average pooling with dilations {dilation:?}")));
            }
            let mut p = AvgPool2d::new(1).count_include_pad(include_pad);
            p.params.kernel = kernel;
            p.params.stride = stride;
            p.params.padding = padding;
            p.params.ceil_mode = ceil;
            p.boxed()
        };
        self.window_output(n, layer, x, rank)
    }

    /// A pool's layer on `[C, H, W]` samples as the node's output, seen
    /// again as `[C, L]` for a 1-D pool; its indices output is not kept.
    fn window_output(
        &mut self,
        n: &NodeRef<'_, '_>,
        layer: Box<dyn Layer>,
        x: NodeId,
        rank: usize,
    ) -> Result<()> {
        let name = self.layer_name(n, None);
        let mut y = self.add(n, &name, layer, &[x])?;
        if rank == 1 {
            let out = self.shape(y);
            y = self.reshape(n, y, vec![out[0], out[2]])?;
        }
        self.set(n, 0, Value::Node(y));
        self.extra_outputs_unavailable(n, "the indices");
        Ok(())
    }

    /// `alpha·A·op(B) + beta·C` with A an activation of one sample per row and B, C constants: a linear layer.
    fn gemm(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let b = self.required_const(n, 1, "B")?;
        let c = self.const_input(n, 2)?;
        n.require_default("transA", 0)?;
        let alpha = n.float("alpha", 1.0)? as f64;
        let beta = n.float("beta", 1.0)? as f64;
        let trans_b = n.int("transB", 0)? != 0;
        let weight = linear_weight(n, &b, trans_b, alpha)?;
        let bias = match c {
            Some(c) => Some(linear_bias(n, &c, weight.1[0], beta)?),
            None => None,
        };
        self.linear(n, x, weight, bias)
    }

    fn linear(
        &mut self,
        n: &NodeRef<'_, '_>,
        x: NodeId,
        (w, dims): (Vec<f32>, [usize; 2]),
        bias: Option<Vec<f32>>,
    ) -> Result<()> {
        let s = self.shape(x);
        // Over the last axis of samples of any rank (MatMul of `[N, ..., K]`
        // by `[K, M]`).
        if s.last() != Some(&dims[1]) {
            return Err(n.invalid(
                "inputs",
                format!(
                    "expected samples whose last axis holds {} features for weights of dims \
                     [{}, {}], got {s:?}",
                    dims[1], dims[0], dims[1]
                ),
            ));
        }
        let name = self.layer_name(n, Some(1));
        let layer = Linear::new(dims[1], dims[0]).bias(bias.is_some());
        let y = self.add(n, &name, layer.boxed(), &[x])?;
        self.weight(&name, "weight", dims.to_vec(), w);
        if let Some(b) = bias {
            self.weight(&name, "bias", vec![dims[0]], b);
        }
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    /// A scalar the graph names: an initializer or a folded constant, or a
    /// `Constant` node the conversion has not reached yet.
    fn scalar_named(&self, onnx: &OnnxGraph<'_>, name: &str) -> Option<f64> {
        let c = match self.values.get(name) {
            Some(Value::Const(c)) => c.clone(),
            Some(_) => return None,
            None => {
                let (i, node) = onnx.node.iter().enumerate().find(|(_, m)| {
                    m.op_type == OpType::Constant && m.output.first() == Some(&name)
                })?;
                fold::constant(&NodeRef::new(node, i)).ok()?
            }
        };
        (c.len() == 1).then(|| c.data[0])
    }

    /// The one node after `after` that reads `name`, when nothing else
    /// (no other node, no graph output) reads it.
    fn sole_reader<'g, 'a>(
        &self,
        onnx: &'g OnnxGraph<'a>,
        name: &str,
        after: usize,
    ) -> Option<(usize, &'g onnx_rs::ast::Node<'a>)> {
        if self.readers.get(name) != Some(&1) {
            return None;
        }
        onnx.node
            .iter()
            .enumerate()
            .skip(after + 1)
            .find(|(_, m)| m.input.contains(&name))
    }

    /// PyTorch's export of `nn.GELU()` before opset 20 (which has no Gelu):
    /// `Div(x, √2) → Erf → Add 1 → Mul x → Mul 0.5`, each read only by the
    /// next, is one exact GELU, `x·(1 + erf(x/√2))/2`. Returns whether the
    /// nodes from `n` on match; they are then converted.
    fn gelu(&mut self, n: &NodeRef<'_, '_>, index: usize, onnx: &OnnxGraph<'_>) -> Result<bool> {
        let Some(Value::Node(x)) = self.value(n, 0)?.cloned() else {
            return Ok(false);
        };
        let x_name = n.node.input[0];
        let scalar = |this: &Self, name: &str, want: f64| {
            this.scalar_named(onnx, name)
                .is_some_and(|v| (v - want).abs() <= 1e-6 * want)
        };
        // The other input of a two-input node than `of`.
        let other = |m: &onnx_rs::ast::Node<'_>, of: &str| -> Option<String> {
            match m.input.as_slice() {
                [a, b] if *a == of => Some(b.to_string()),
                [a, b] if *b == of => Some(a.to_string()),
                _ => None,
            }
        };
        if n.node.input.len() != 2 || !scalar(self, n.node.input[1], std::f64::consts::SQRT_2) {
            return Ok(false);
        }
        let mut at = (index, n.node);
        let mut chain = Vec::new();
        for (op, operand) in [
            (OpType::Erf, None),
            (OpType::Add, Some("1")),
            (OpType::Mul, Some("x")),
            (OpType::Mul, Some("0.5")),
        ] {
            let Some(out) = at.1.output.first() else {
                return Ok(false);
            };
            let Some(next) = self.sole_reader(onnx, out, at.0) else {
                return Ok(false);
            };
            let ok = next.1.op_type == op
                && match operand {
                    None => next.1.input.len() == 1,
                    Some(want) => other(next.1, out).is_some_and(|o| match want {
                        "x" => o == x_name,
                        "1" => scalar(self, &o, 1.0),
                        _ => scalar(self, &o, 0.5),
                    }),
                };
            if !ok {
                return Ok(false);
            }
            chain.push(next);
            at = next;
        }
        let name = self.layer_name(n, None);
        let y = self.add(n, &name, Act(Activation::Gelu).boxed(), &[x])?;
        for &(j, _) in &chain {
            self.absorbed.insert(j);
        }
        let (j, last) = at;
        self.set(&NodeRef::new(last, j), 0, Value::Node(y));
        Ok(true)
    }

    /// `x·B` with B constant: a linear layer, with the bias of an `Add` that
    /// only reads its output (PyTorch's export of `nn.Linear` at some opsets).
    fn matmul(&mut self, n: &NodeRef<'_, '_>, index: usize, onnx: &OnnxGraph<'_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let b = self.required_const(n, 1, "B")?;
        let weight = linear_weight(n, &b, false, 1.0)?;
        let out = n.node.output.first().copied().unwrap_or("");
        let mut bias = None;
        if self.readers.get(out) == Some(&1)
            && let Some((j, add)) = onnx
                .node
                .iter()
                .enumerate()
                .skip(index + 1)
                .find(|(_, m)| m.input.contains(&out))
            && add.op_type == OpType::Add
            && add.input.len() == 2
        {
            let other = if add.input[0] == out {
                add.input[1]
            } else {
                add.input[0]
            };
            if let Some(Value::Const(c)) = self.values.get(other)
                && c.len() == weight.1[0]
                && c.dims.iter().rev().skip(1).all(|&d| d == 1)
            {
                bias = Some(c.to_f32());
                self.absorbed.insert(j);
                let add_ref = NodeRef::new(add, j);
                self.linear(n, x, weight, bias)?;
                let y = self.values.get(out).cloned().expect("set by linear");
                self.set(&add_ref, 0, y);
                return Ok(());
            }
        }
        self.linear(n, x, weight, bias.take())
    }

    fn add_op(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let mut ids = Vec::new();
        for k in 0..n.node.input.len() {
            match self.value(n, k)? {
                Some(Value::Node(id)) => ids.push(*id),
                Some(Value::Const(c))
                    if c.data.iter().all(|&v| v == 0.0) && n.node.op_type == OpType::Add => {}
                Some(_) => {
                    return Err(n.unsupported(
                        "adding a constant tensor to an activation (only activations of equal shapes add)",
                    ));
                }
                None => {}
            }
        }
        match ids.len() {
            0 => Err(n.invalid("inputs", "no inputs")),
            1 => {
                self.set(n, 0, Value::Node(ids[0]));
                Ok(())
            }
            _ => {
                let first = self.shape(ids[0]);
                if let Some(other) = ids.iter().map(|&i| self.shape(i)).find(|s| *s != first) {
                    if ids.len() == 2 {
                        // Broadcasting (the layer checks the shapes).
                        return self.emit(n, Binary::new(BinaryOp::Add).boxed(), &ids);
                    }
                    return Err(n.unsupported(format!(
                        "broadcasting {first:?} with {other:?} in a sum of {} activations (two \
                         broadcast; more must have equal shapes)",
                        ids.len()
                    )));
                }
                self.emit(n, Add.boxed(), &ids)
            }
        }
    }

    /// The product of two activations: equal shapes, or one of them a
    /// per-channel gate (`[N, C, 1, 1]`, squeeze-and-excitation).
    fn mul_op(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let (a, b) = (self.node_input(n, 0)?, self.node_input(n, 1)?);
        let (sa, sb) = (self.shape(a), self.shape(b));
        let ids = if sa == sb || Mul::is_gate(&sa, &sb) {
            [a, b]
        } else if Mul::is_gate(&sb, &sa) {
            [b, a]
        } else {
            // Any other broadcast (the layer checks the shapes).
            return self.emit(n, Binary::new(BinaryOp::Mul).boxed(), &[a, b]);
        };
        self.emit(n, Mul.boxed(), &ids)
    }

    /// Padding (or cropping, with negative pads) of the height and width:
    /// constant, reflect and edge modes, pads from the attribute (opset < 11)
    /// or a constant input, optionally for the listed axes (opset 18).
    fn pad(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let s = self.shape(x);
        if s.len() != 3 {
            return Err(n.unsupported(format!("padding samples of shape {s:?} (images only)")));
        }
        let (pads, value) = if self.opset < 11 {
            let pads = n
                .ints("pads")?
                .ok_or_else(|| n.invalid("pads", "missing"))?;
            (pads, n.float("value", 0.0)? as f64)
        } else {
            let pads = self.required_const(n, 1, "pads")?;
            let value = self
                .const_input(n, 2)?
                .filter(|c| !c.is_empty())
                .map_or(0.0, |c| c.data[0]);
            (pads.data.iter().map(|&v| v as i64).collect(), value)
        };
        // [begin per axis..., end per axis...] over all four axes.
        let full: Vec<i64> = match self.const_input(n, 3)?.filter(|c| !c.is_empty()) {
            Some(axes) => {
                let k = axes.len();
                if pads.len() != 2 * k {
                    return Err(n.invalid("pads", format!("{pads:?} for axes {:?}", axes.data)));
                }
                let mut full = vec![0; 8];
                for (j, &a) in axes.data.iter().enumerate() {
                    let a = if a < 0.0 { a + 4.0 } else { a } as usize;
                    if a >= 4 {
                        return Err(n.invalid("axes", format!("{:?} for rank 4", axes.data)));
                    }
                    full[a] = pads[j];
                    full[a + 4] = pads[j + k];
                }
                full
            }
            None => pads,
        };
        if full.len() != 8 {
            return Err(n.invalid("pads", format!("{full:?} (two per axis of a rank-4 input)")));
        }
        if [full[0], full[1], full[4], full[5]] != [0; 4] {
            return Err(n.unsupported(format!(
                "pads {full:?} on the batch or channels (weft pads height and width)"
            )));
        }
        let mode = match n.string("mode", "constant")?.as_str() {
            "constant" => PadMode::Constant(value as f32),
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            other => return Err(n.unsupported(format!("mode \"{other}\""))),
        };
        let layer = Pad2d::new([full[2], full[6], full[3], full[7]], mode);
        self.unary(n, layer.boxed())
    }

    /// `Resize` / `Upsample` of an image by one integer factor on both
    /// axes: nearest when ONNX's source index for every output pixel is the
    /// one weft's nearest kernel reads (checked pixel by pixel), bilinear for
    /// the `half_pixel`, `pytorch_half_pixel` and `align_corners` modes;
    /// bilinear also to any whole sizes of at least 2.
    fn resize(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let s = self.shape(x);
        if s.len() != 3 {
            return Err(n.unsupported(format!("resizing samples of shape {s:?} (images only)")));
        }
        let legacy = n.node.op_type == OpType::Upsample || self.opset < 11;
        // Upsample-7 keeps its scales in an attribute; later ones in an input.
        let scales = if n.node.op_type == OpType::Upsample && self.opset < 9 {
            n.floats("scales")?
                .map(|v| Const::scalar_or_vec(v.iter().map(|&v| v as f64).collect(), false))
        } else {
            self.const_input(n, if legacy { 1 } else { 2 })?
        };
        let sizes = if legacy {
            None
        } else {
            self.const_input(n, 3)?
        };
        if n.has("axes") {
            return Err(n.unsupported("the axes attribute"));
        }
        // The output size, the scale ONNX maps coordinates with (the given
        // one, or output / input when sizes are given), and whether scales
        // were given.
        let (out, onnx_scale, from_scales): ([f64; 2], [f64; 2], bool) = match (
            scales.filter(|c| !c.is_empty()),
            sizes.filter(|c| !c.is_empty()),
        ) {
            (Some(c), _) if c.len() == 4 && c.data[0] == 1.0 && c.data[1] == 1.0 => (
                [s[1] as f64 * c.data[2], s[2] as f64 * c.data[3]],
                [c.data[2], c.data[3]],
                true,
            ),
            (None, Some(c)) if c.len() == 4 && c.data[1] as usize == s[0] => (
                [c.data[2], c.data[3]],
                [c.data[2] / s[1] as f64, c.data[3] / s[2] as f64],
                false,
            ),
            (Some(c), _) | (None, Some(c)) => {
                return Err(n.unsupported(format!(
                    "scales or sizes {:?} (images are resized in height and width only)",
                    c.data
                )));
            }
            (None, None) => return Err(n.invalid("scales", "neither scales nor sizes is given")),
        };
        let mode = n.string("mode", "nearest")?;
        let coords = if legacy {
            "asymmetric".to_string()
        } else {
            n.string("coordinate_transformation_mode", "half_pixel")?
        };
        if n.int("antialias", 0)? != 0 {
            return Err(n.unsupported("antialiased resizing"));
        }
        let rounding = if legacy {
            "floor".to_string()
        } else {
            n.string("nearest_mode", "round_prefer_floor")?
        };
        let fits = out
            .iter()
            .all(|&o| o >= 1.0 && o < MAX_SAMPLE_VALUES as f64)
            && s[0] as f64 * out[0].floor() * out[1].floor() <= MAX_SAMPLE_VALUES as f64;
        if !fits || !onnx_scale.iter().all(|&v| v.is_finite() && v > 0.0) {
            return Err(n.invalid(
                "scales",
                format!(
                    "resizing {:?} to {out:?} (outputs of 1 to 2^31 values a sample)",
                    &s[1..]
                ),
            ));
        }
        let factor = out[0] / s[1] as f64;
        let one_factor = out[0].fract() == 0.0
            && out[1].fract() == 0.0
            && factor == out[1] / s[2] as f64
            && factor.fract() == 0.0
            && factor >= 1.0;
        if !one_factor {
            // Any size: ONNX's output is the floor of len·scale, and its
            // coordinates map by the given scales (then weft's upsampling by
            // those factors, as PyTorch's scale_factor) or by the sizes'
            // ratio (weft's sized upsampling).
            let size = [out[0].floor() as usize, out[1].floor() as usize];
            let factors = from_scales.then_some(onnx_scale);
            let resize = |mode| match factors {
                Some(f) => Upsample::by_factors(f, mode),
                None => Upsample::to_size(size, mode),
            };
            if mode == "nearest" {
                // Where weft reads ONNX's source pixel for every output pixel.
                for a in 0..2 {
                    let weft_factor = factors.map(|f| f[a]);
                    let (len, o) = (s[a + 1], size[a]);
                    nearest_matches(n, len, o, onnx_scale[a], weft_factor, &coords, &rounding)?;
                }
                return self.unary(n, resize(UpsampleMode::Nearest).boxed());
            }
            let linear = matches!(mode.as_str(), "linear" | "bilinear");
            let align_corners = coords == "align_corners";
            let known =
                matches!(coords.as_str(), "half_pixel" | "pytorch_half_pixel") || align_corners;
            // One output pixel has its own rule (pytorch_half_pixel), and an
            // axis that keeps its size is copied by weft (as PyTorch) where
            // ONNX still maps by a scale other than 1.
            let kept = (0..2).any(|a| size[a] == s[a + 1] && onnx_scale[a] != 1.0);
            if !(linear && known && size.iter().all(|&o| o >= 2)) || (kept && !align_corners) {
                return Err(n.unsupported(format!(
                    "resizing {:?} to {:?} by {onnx_scale:?} (one integer factor ≥ 1 on both \
                     axes, or linear to sizes of at least 2 with half_pixel, pytorch_half_pixel \
                     or align_corners, changing every axis whose scale is not 1)",
                    &s[1..],
                    out
                )));
            }
            let layer = resize(UpsampleMode::Bilinear { align_corners });
            return self.unary(n, layer.boxed());
        }
        let factor = factor as usize;
        let layer = match mode.as_str() {
            "nearest" => {
                for &len in &s[1..] {
                    nearest_matches(
                        n,
                        len,
                        len * factor,
                        factor as f64,
                        None,
                        &coords,
                        &rounding,
                    )?;
                }
                Upsample::nearest(factor)
            }
            "linear" | "bilinear" => match coords.as_str() {
                "half_pixel" | "pytorch_half_pixel" => Upsample::bilinear(factor, false),
                "align_corners" => Upsample::bilinear(factor, true),
                other => {
                    return Err(n.unsupported(format!(
                        "linear resizing with coordinate_transformation_mode {other}"
                    )));
                }
            },
            other => return Err(n.unsupported(format!("mode {other}"))),
        };
        self.unary(n, layer.boxed())
    }

    /// `ReduceMean` / `Max` / `Min` / `Sum` over any axes but the batch
    /// (`x.mean((2, 3))`, `x.amax(1)`, ...): the kept axes are permuted to
    /// the front (no copy when the reduced ones already trail), and a
    /// global pool runs over `[kept, 1, reduced]` views: the mean is the
    /// global average, the maximum a whole-row max pool, the minimum that
    /// of the negated input negated back (both exact), the sum the mean
    /// times the count.
    fn reduce(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let s = self.shape(x);
        let axes: Vec<i64> =
            if self.opset >= 18 || n.node.op_type == OpType::ReduceSum && self.opset >= 13 {
                match self.const_input(n, 1)? {
                    Some(c) => c.data.iter().map(|&v| v as i64).collect(),
                    None => Vec::new(),
                }
            } else {
                n.ints("axes")?.unwrap_or_default()
            };
        let all = axes.is_empty() && n.int("noop_with_empty_axes", 0)? == 0;
        if axes.is_empty() && !all {
            // noop_with_empty_axes: the input itself.
            self.set(n, 0, Value::Node(x));
            return Ok(());
        }
        let mut sample: Vec<usize> = Vec::new();
        for &a in &axes {
            sample.push(self.sample_axis(n, a, s.len())?);
        }
        sample.sort_unstable();
        sample.dedup();
        if all {
            return Err(n.unsupported(format!(
                "{} over every axis, the batch's too (it would mix samples)",
                n.node.op_type.as_str()
            )));
        }
        let kept: Vec<usize> = (0..s.len()).filter(|a| !sample.contains(a)).collect();
        let c: usize = kept.iter().map(|&a| s[a]).product();
        let count: usize = sample.iter().map(|&a| s[a]).product();
        let keep = n.int("keepdims", 1)? != 0;
        let order: Vec<usize> = kept.iter().chain(&sample).copied().collect();
        let x = if order.iter().copied().eq(0..s.len()) {
            x
        } else {
            let name = self.layer_name(n, None);
            self.add(
                n,
                &format!("{name}.order"),
                Permute::new(&order).boxed(),
                &[x],
            )?
        };
        let planes = self.reshape(n, x, vec![c, 1, count])?;
        let whole_max = || {
            let mut p = MaxPool2d::new(1);
            p.params.kernel = [1, count];
            p.params.stride = [1, 1];
            p.boxed()
        };
        let name = self.layer_name(n, None);
        // x·w per channel, exactly (an evaluation-mode batch norm with mean
        // 0, variance 1, ε 0 and no shift).
        let scaled = |this: &mut Self, x: NodeId, w: f32| -> Result<NodeId> {
            let stats = vec![vec![w; c], vec![0.0; c], vec![0.0; c], vec![1.0; c]];
            this.channel_affine(n, x, BatchNorm2d::new(c).eps(0.0), stats)
        };
        let y = match n.node.op_type {
            OpType::ReduceMean => self.add(n, &name, GlobalAvgPool.boxed(), &[planes])?,
            OpType::ReduceMax => self.add(n, &name, whole_max(), &[planes])?,
            OpType::ReduceMin => {
                let flipped = scaled(self, planes, -1.0)?;
                let m = self.add(n, &name, whole_max(), &[flipped])?;
                scaled(self, m, -1.0)?
            }
            _ => {
                let mean = self.add(n, &name, GlobalAvgPool.boxed(), &[planes])?;
                scaled(self, mean, count as f32)?
            }
        };
        // Kept axes in their order, reduced ones as 1 (keepdims) or gone;
        // a sample reduced to nothing stays one value.
        let mut out: Vec<usize> = (0..s.len())
            .filter_map(|a| match sample.contains(&a) {
                false => Some(s[a]),
                true => keep.then_some(1),
            })
            .collect();
        if out.is_empty() {
            out.push(1);
        }
        let y = self.reshape(n, y, out)?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    /// A per-sample axis from an ONNX axis over the batched rank.
    fn sample_axis(&self, n: &NodeRef<'_, '_>, axis: i64, sample_rank: usize) -> Result<usize> {
        let rank = sample_rank as i64 + 1;
        let a = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&a) {
            return Err(n.invalid("axis", format!("{axis} for rank {rank}")));
        }
        if a == 0 {
            return Err(n.unsupported("operating along the batch axis"));
        }
        Ok(a as usize - 1)
    }

    fn concat(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let ids = (0..n.node.input.len())
            .map(|k| self.node_input(n, k))
            .collect::<Result<Vec<_>>>()?;
        let rank = self.shape(ids[0]).len();
        let axis = self.sample_axis(n, n.int("axis", 1)?, rank)?;
        if axis != 0 {
            return Err(n.unsupported(format!(
                "concatenation along axis {} (channels, axis 1, only)",
                axis + 1
            )));
        }
        if ids.len() == 1 {
            self.set(n, 0, Value::Node(ids[0]));
            return Ok(());
        }
        self.emit(n, Concat.boxed(), &ids)
    }

    fn flatten(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let s = self.shape(x);
        let rank = s.len() as i64 + 1;
        let axis = n.int("axis", 1)?;
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis != 1 {
            return Err(n.unsupported(format!(
                "flattening at axis {axis} (it would mix samples of the batch; axis 1 only)"
            )));
        }
        let y = self.reshape(n, x, vec![s.iter().product()])?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    fn reshape_op(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let target = if self.opset < 5 {
            n.ints("shape")?
                .ok_or_else(|| n.invalid("shape", "missing"))?
        } else {
            let c = self.required_const(n, 1, "shape")?;
            c.data
                .iter()
                .map(|&v| if v == BATCH { i64::MIN } else { v as i64 })
                .collect()
        };
        let allow_zero = n.int("allowzero", 0)? != 0;
        let s = self.shape(x);
        let mut target = target;
        if let (Some(b), Some(first)) = (self.exported_batch, target.first_mut())
            && *first == b
        {
            *first = i64::MIN;
        }
        let shape = resolve_reshape(n, &s, &target, allow_zero)?;
        let y = self.reshape(n, x, shape)?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    fn squeeze(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let s = self.shape(x);
        let axes = if self.opset < 13 {
            n.ints("axes")?
        } else {
            match self.const_input(n, 1)? {
                Some(c) => Some(c.to_i64(&n.label)?),
                None => None,
            }
        };
        // The batch as a size no sample axis has, so that it must stay first.
        let mut full = vec![usize::MAX];
        full.extend_from_slice(&s);
        let unsqueeze = n.node.op_type == OpType::Unsqueeze;
        let rank = (full.len()
            + if unsqueeze {
                axes.as_ref().map_or(0, Vec::len)
            } else {
                0
            }) as i64;
        if axes.iter().flatten().any(|&a| a == 0 || a == -rank) {
            return Err(n.unsupported("squeezing or inserting at the batch axis"));
        }
        let full = fold::squeeze_dims(n, &full, axes, unsqueeze)?;
        let shape = full[1..].to_vec();
        let y = self.reshape(n, x, shape)?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }

    fn softmax(&mut self, n: &NodeRef<'_, '_>) -> Result<()> {
        let x = self.node_input(n, 0)?;
        let s = self.shape(x);
        let log = n.node.op_type == OpType::LogSoftmax;
        let default = if self.opset < 13 { 1 } else { -1 };
        let axis = self.sample_axis(n, n.int("axis", default)?, s.len())?;
        let make = |axis| {
            if log {
                Softmax::log(axis)
            } else {
                Softmax::new(axis)
            }
        };
        if self.opset >= 13 || axis + 1 == s.len() {
            return self.unary(n, make(axis).boxed());
        }
        // Before opset 13 the input is seen as 2-D: softmax over every axis from `axis` on.
        let rows: usize = s[..axis].iter().product();
        let cols: usize = s[axis..].iter().product();
        let flat = self.reshape(n, x, vec![rows, cols])?;
        let name = self.layer_name(n, None);
        let y = self.add(n, &name, make(1).boxed(), &[flat])?;
        let y = self.reshape(n, y, s)?;
        self.set(n, 0, Value::Node(y));
        Ok(())
    }
}

/// Weights `[out, in]` of a linear layer from B (`[K, N]`, or `[N, K]` when
/// transposed), scaled by `alpha`.
/// Checks that ONNX's nearest source index (coordinate transform then
/// rounding, in f64) equals weft's `min(floor(dst · f32(1/factor)), len − 1)`
/// for every output pixel of an axis of `len` pixels upsampled by `factor`.
/// `auto_pad` SAME's padding (before, after) of an axis `[len, kernel,
/// stride, dilation]`: enough for `⌈len / stride⌉` outputs, the odd pixel
/// after (`upper`, SAME_UPPER) or before (SAME_LOWER).
fn same_pads(upper: bool, [len, kernel, stride, dilation]: [usize; 4]) -> (usize, usize) {
    let o = len.div_ceil(stride);
    let span = (kernel - 1) * dilation + 1;
    let total = ((o - 1) * stride + span).saturating_sub(len);
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

/// `v`, an attribute that must be a finite number.
fn finite(n: &NodeRef<'_, '_>, attr: &str, v: f32) -> Result<f32> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(n.invalid(attr, format!("must be finite, got {v}")))
    }
}

/// The most values one sample of an input or a resized activation holds.
const MAX_SAMPLE_VALUES: usize = 1 << 31;

/// Sizes and pads of a 3-D window operator, per axis (depth, height, width).
struct Window3d {
    kernel: [usize; 3],
    stride: [usize; 3],
    dilation: [usize; 3],
    begin: [usize; 3],
    end: [usize; 3],
}

/// Checks that nearest resizing of an axis of `len` pixels to `out`, with
/// ONNX's coordinate mapping by `factor` (output / input), reads for each
/// output pixel the input pixel weft's nearest upsampling reads (to the
/// size, or by `weft_factor`).
fn nearest_matches(
    n: &NodeRef<'_, '_>,
    len: usize,
    out: usize,
    factor: f64,
    weft_factor: Option<f64>,
    coords: &str,
    rounding: &str,
) -> Result<()> {
    for dst in 0..out {
        let d = dst as f64;
        let x = match coords {
            "asymmetric" => d / factor,
            "half_pixel" => (d + 0.5) / factor - 0.5,
            "tf_half_pixel_for_nn" => (d + 0.5) / factor,
            "pytorch_half_pixel" if out > 1 => (d + 0.5) / factor - 0.5,
            "pytorch_half_pixel" => 0.0,
            "align_corners" if out > 1 => d * (len - 1) as f64 / (out - 1) as f64,
            "align_corners" => 0.0,
            other => {
                return Err(n.unsupported(format!(
                    "nearest resizing with coordinate_transformation_mode {other}"
                )));
            }
        };
        let i = match rounding {
            "floor" => x.floor(),
            "ceil" => x.ceil(),
            "round_prefer_floor" if x.fract().abs() == 0.5 => x.floor(),
            "round_prefer_ceil" if x.fract().abs() == 0.5 => x.ceil(),
            "round_prefer_floor" | "round_prefer_ceil" => x.round(),
            other => return Err(n.invalid("nearest_mode", format!("unknown mode {other}"))),
        };
        let onnx = i.clamp(0.0, (len - 1) as f64) as usize;
        let weft = weft_kernels::upsample::nearest_source(dst, len, out, weft_factor);
        if onnx != weft {
            return Err(n.unsupported(format!(
                "nearest resizing with coordinate_transformation_mode {coords} and nearest_mode \
                 {rounding} (output pixel {dst} reads input {onnx}; weft's nearest reads {weft})"
            )));
        }
    }
    Ok(())
}

fn linear_weight(
    n: &NodeRef<'_, '_>,
    b: &Const,
    trans_b: bool,
    alpha: f64,
) -> Result<(Vec<f32>, [usize; 2])> {
    if b.dims.len() != 2 {
        return Err(n.unsupported(format!("a right operand of dims {:?} (2-D only)", b.dims)));
    }
    let (r, c) = (b.dims[0], b.dims[1]);
    let w: Vec<f32> = if trans_b {
        b.data.iter().map(|&v| (alpha * v) as f32).collect()
    } else {
        let mut t = vec![0f32; r * c];
        for i in 0..r {
            for j in 0..c {
                t[j * r + i] = (alpha * b.data[i * c + j]) as f32;
            }
        }
        t
    };
    Ok((w, if trans_b { [r, c] } else { [c, r] }))
}

/// A bias of `out` values from C (one value, or one per output), scaled by `beta`.
fn linear_bias(n: &NodeRef<'_, '_>, c: &Const, out: usize, beta: f64) -> Result<Vec<f32>> {
    let per_output = c.len() == out && c.dims.iter().rev().skip(1).all(|&d| d == 1);
    if c.len() == 1 {
        Ok(vec![(beta * c.data[0]) as f32; out])
    } else if per_output {
        Ok(c.data.iter().map(|&v| (beta * v) as f32).collect())
    } else {
        Err(n.unsupported(format!("a bias C of dims {:?} for {out} outputs", c.dims)))
    }
}

/// The per-sample shape of `Reshape(x, target)`: `target[0]` must keep the
/// batch (0, -1, or the batch of a folded `Shape`), 0 copies a dimension, -1
/// takes what is left.
fn resolve_reshape(
    n: &NodeRef<'_, '_>,
    sample: &[usize],
    target: &[i64],
    allow_zero: bool,
) -> Result<Vec<usize>> {
    let total: usize = sample.iter().product();
    if target.is_empty() {
        return Err(n.invalid("shape", "empty target shape"));
    }
    let keeps_batch = target[0] == i64::MIN || (target[0] == 0 && !allow_zero) || target[0] == -1;
    if !keeps_batch {
        return Err(n.unsupported(format!(
            "reshaping to {target:?}: the first dimension must stay the batch (0 or -1)"
        )));
    }
    let mut out = Vec::with_capacity(target.len() - 1);
    let mut infer = None;
    for (i, &t) in target.iter().enumerate().skip(1) {
        match t {
            i64::MIN => return Err(n.unsupported("the batch size inside a sample's shape")),
            0 if !allow_zero => out.push(*sample.get(i - 1).ok_or_else(|| {
                n.invalid(
                    "shape",
                    format!("0 at axis {i} copies a dimension {sample:?} lacks"),
                )
            })?),
            -1 if infer.is_none() && target[0] != -1 => {
                infer = Some(out.len());
                out.push(1);
            }
            t if t > 0 => out.push(t as usize),
            t => return Err(n.invalid("shape", format!("{t} at axis {i} of {target:?}"))),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(n.invalid("shape", format!("{target:?} does not divide {sample:?}")));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(n.invalid(
            "shape",
            format!("{target:?} does not hold the {total} values of a {sample:?} sample"),
        ));
    }
    if out.is_empty() {
        out.push(1);
    }
    Ok(out)
}
