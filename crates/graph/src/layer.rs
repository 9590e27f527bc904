//! The [`Layer`] trait: what every node of a network knows about itself — its
//! output shape, its parameters, how to run forward and backward, what backward
//! needs kept from forward, and how much memory each direction allocates (so the
//! planner can predict peak memory exactly).

use weft_device::{DType, Device, Result, Tensor};

use crate::collective::Collective;
use crate::init::Init;

/// A per-sample shape (no batch dimension): `[C, H, W]` for images, `[F]` for features.
pub type Shape = Vec<usize>;

/// Whether a declared tensor is learned or only carried along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A trainable parameter (`nn.Parameter`), updated by the optimizer.
    Trainable,
    /// A buffer (batch norm's running statistics), saved in checkpoints.
    Buffer,
}

/// A parameter or buffer a layer declares, named relative to the layer
/// (`"weight"`, `"running_mean"`), as PyTorch's `state_dict` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub kind: ParamKind,
    pub init: Init,
}

/// What a layer's backward pass reads from its forward pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saves {
    /// Input `i` must be kept until backward.
    pub inputs: Vec<bool>,
    /// The output must be kept until backward.
    pub output: bool,
}

/// Inputs and results of one forward launch.
pub struct Forward<'a> {
    pub device: &'a Device,
    /// Batched inputs, in the node's input order.
    pub inputs: &'a [Tensor],
    /// Parameters and buffers, in declaration order.
    pub params: &'a [Tensor],
    /// Training mode (batch statistics, dropout) or evaluation mode.
    pub train: bool,
    /// Storage dtype of activations.
    pub dtype: DType,
    /// Seed for this launch's randomness (dropout), distinct per step and layer.
    pub seed: u64,
    /// Set by the layer.
    pub output: Option<Tensor>,
    /// Extra tensors for backward (pooling indices, batch statistics), set by the layer.
    pub extras: Vec<Tensor>,
    /// The other data-parallel workers when the step synchronises batch
    /// statistics across them (see [`Trainer::sync_batch_norm`](crate::Trainer::sync_batch_norm)).
    pub collective: Option<&'a mut (dyn Collective + 'static)>,
}

/// Inputs and results of one backward launch.
pub struct Backward<'a> {
    pub device: &'a Device,
    /// Saved inputs (`Some` where [`Saves::inputs`] asked for them).
    pub inputs: &'a [Option<Tensor>],
    /// Batched shapes of every input.
    pub input_shapes: &'a [Vec<usize>],
    /// The saved output, if [`Saves::output`].
    pub output: Option<&'a Tensor>,
    pub extras: &'a [Tensor],
    pub params: &'a [Tensor],
    /// Gradient of the loss with respect to the output.
    pub dy: &'a Tensor,
    /// Which input gradients are needed.
    pub need_input_grad: &'a [bool],
    /// Which parameter gradients are needed, per declared parameter (false
    /// for buffers and frozen parameters: leave those `None`, uncomputed).
    pub need_param_grad: &'a [bool],
    pub dtype: DType,
    /// The forward launch's seed.
    pub seed: u64,
    /// Set by the layer: one per input (`None` where not needed).
    pub input_grads: Vec<Option<Tensor>>,
    /// Set by the layer: one per declared parameter (`None` for buffers).
    pub param_grads: Vec<Option<Tensor>>,
    /// As [`Forward::collective`].
    pub collective: Option<&'a mut (dyn Collective + 'static)>,
}

/// What the planner needs to predict a layer's allocations.
pub struct AllocCtx<'a> {
    pub device: &'a Device,
    pub batch: usize,
    /// Per-sample input shapes.
    pub inputs: &'a [Shape],
    /// Per-sample output shape.
    pub output: &'a Shape,
    pub dtype: DType,
    pub train: bool,
    pub need_input_grad: &'a [bool],
    /// Per declared parameter, as [`Backward::need_param_grad`].
    pub need_param_grad: &'a [bool],
}

impl AllocCtx<'_> {
    /// Bytes of a batched tensor of per-sample `shape` in the activation dtype.
    pub fn bytes(&self, shape: &[usize]) -> u64 {
        self.dtype
            .storage_bytes(self.batch * shape.iter().product::<usize>())
    }

    /// Bytes of a tensor of exactly `shape` (no batch) and `dtype`.
    pub fn raw(shape: &[usize], dtype: DType) -> u64 {
        dtype.storage_bytes(shape.iter().product())
    }

    /// Batched shape of `shape`.
    pub fn batched(&self, shape: &[usize]) -> Vec<usize> {
        [vec![self.batch], shape.to_vec()].concat()
    }
}

/// Replays a launch's allocations and frees to find its peak: layers describe
/// their memory by mirroring the order in which their code allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemSeq {
    cur: u64,
    peak: u64,
}

impl MemSeq {
    pub fn new() -> MemSeq {
        MemSeq::default()
    }

    pub fn alloc(&mut self, bytes: u64) -> &mut Self {
        self.cur += bytes;
        self.peak = self.peak.max(self.cur);
        self
    }

    pub fn free(&mut self, bytes: u64) -> &mut Self {
        self.cur -= bytes;
        self
    }

    /// Highest total reached.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

/// Allocations of a forward launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardAlloc {
    /// Bytes of each extra tensor kept for backward.
    pub extras: Vec<u64>,
    /// Most bytes the launch holds at once: output, extras and temporaries.
    pub peak: u64,
}

/// Allocations of a backward launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackwardAlloc {
    /// Bytes of each input gradient it returns (0 where not needed or where the
    /// gradient is a view of `dy`).
    pub input_grads: Vec<u64>,
    /// Bytes of each parameter gradient (0 for buffers).
    pub param_grads: Vec<u64>,
    /// Most bytes the launch holds at once: gradients and temporaries.
    pub peak: u64,
}

/// Cloning boxed layers (blanket-implemented for every `Clone` layer).
pub trait LayerClone {
    fn clone_box(&self) -> Box<dyn Layer>;
}

impl<T: Layer + Clone + 'static> LayerClone for T {
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Layer> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A batched host array of f64, for reference computations.
#[derive(Debug, Clone, PartialEq)]
pub struct HostArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl HostArray {
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> HostArray {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        HostArray { shape, data }
    }

    /// The shape as NCHW.
    pub fn nchw(&self) -> [usize; 4] {
        self.shape.clone().try_into().expect("a 4-D array")
    }
}

/// A network layer. Implementations live in [`crate::layers`].
pub trait Layer: std::fmt::Debug + Send + Sync + LayerClone {
    /// The layer's type, as PyTorch names it (`"Conv2d"`).
    fn kind(&self) -> &'static str;

    /// The per-sample output shape for these per-sample input shapes. Errors name
    /// the layer: `layer "conv2": expected 6 input channels, got 3`.
    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape>;

    /// Parameters and buffers, given the input shapes.
    fn params(&self, _inputs: &[Shape]) -> Vec<ParamDecl> {
        Vec::new()
    }

    /// Number of inputs the layer takes (`None`: any number ≥ 1).
    fn arity(&self) -> Option<usize> {
        Some(1)
    }

    /// What backward needs from forward, in training mode.
    fn saves(&self, n_inputs: usize) -> Saves {
        Saves {
            inputs: vec![false; n_inputs],
            output: false,
        }
    }

    /// What backward reads when only the parameters marked in `trained` (per
    /// declared parameter) get gradients: by default [`saves`](Self::saves);
    /// layers that read their input only for a weight's gradient save less
    /// when it is frozen.
    fn saves_trained(&self, n_inputs: usize, trained: &[bool]) -> Saves {
        let _ = trained;
        self.saves(n_inputs)
    }

    /// Which inputs the output is differentiable with respect to (max-unpooling's
    /// reference tensor only supplies positions). Default: all.
    fn differentiable_inputs(&self, n_inputs: usize) -> Vec<bool> {
        vec![true; n_inputs]
    }

    /// `Some(i)` when the output is a view of input `i` (no allocation).
    fn output_aliases_input(&self) -> Option<usize> {
        None
    }

    /// Input indices whose gradient is a view of `dy` itself (no allocation).
    fn grad_aliases_dy(&self, _n_inputs: usize) -> Vec<usize> {
        Vec::new()
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()>;

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()>;

    /// Allocations of [`forward`](Self::forward). The default: the output only
    /// (nothing when it is a view of an input).
    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        ForwardAlloc {
            extras: Vec::new(),
            peak: if self.output_aliases_input().is_some() {
                0
            } else {
                cx.bytes(cx.output)
            },
        }
    }

    /// Allocations of [`backward`](Self::backward). The default: one gradient
    /// per needed input of the input's size (none where it is a view of `dy`),
    /// one f32 gradient per trained parameter, no temporaries.
    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let aliased = self.grad_aliases_dy(cx.inputs.len());
        let input_grads: Vec<u64> = cx
            .inputs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if cx.need_input_grad[i] && !aliased.contains(&i) {
                    cx.bytes(s)
                } else {
                    0
                }
            })
            .collect();
        let param_grads: Vec<u64> = self
            .params(cx.inputs)
            .iter()
            .zip(cx.need_param_grad)
            .map(|(p, &need)| {
                if need {
                    AllocCtx::raw(&p.shape, DType::F32)
                } else {
                    0
                }
            })
            .collect();
        let peak = input_grads.iter().sum::<u64>() + param_grads.iter().sum::<u64>();
        BackwardAlloc {
            input_grads,
            param_grads,
            peak,
        }
    }

    /// Floating-point operations of one sample's forward (an FMA counts as
    /// two), for throughput figures: the multiply-accumulates of convolutions
    /// and dense layers; elementwise layers count 0. A training step is
    /// counted as 3x the forward (data and weight gradients).
    fn flops(&self, _inputs: &[Shape], _output: &Shape) -> u64 {
        0
    }

    /// Whether each training-mode forward counts a batch, as batch norm's
    /// `num_batches_tracked` does (kept by the model, saved in checkpoints).
    fn tracks_batches(&self) -> bool {
        false
    }

    /// An activation this layer applies elementwise to its sole input, if it is
    /// one (used to fuse it into the producer).
    fn as_activation(&self) -> Option<weft_kernels::Activation> {
        None
    }

    /// This layer with the evaluation-mode batch norm `bn` that follows it
    /// folded in, if it can fold one (see [`Conv2dBatchNorm`](crate::layers::Conv2dBatchNorm)).
    fn fold_batch_norm(&self, _bn: &crate::layers::BatchNorm2d) -> Option<Box<dyn Layer>> {
        None
    }

    /// A layer whose training-mode forward and backward compute what this one
    /// computes in evaluation mode, where the two differ: batch norm with
    /// frozen statistics, dropout as the identity (for gradients in
    /// evaluation mode).
    fn in_eval_mode(&self) -> Option<Box<dyn Layer>> {
        None
    }

    /// This layer with its running statistics frozen (normalising with them in
    /// training too, never updating them), if it keeps any: batch norm, once
    /// its weight and bias are frozen.
    fn with_frozen_statistics(&self) -> Option<Box<dyn Layer>> {
        None
    }

    /// The layer as a batch norm, if it is one (for folding it into its producer).
    fn as_batch_norm(&self) -> Option<&crate::layers::BatchNorm2d> {
        None
    }

    /// This layer with `act` fused into its output, if it can fuse one.
    fn fuse(&self, _act: weft_kernels::Activation) -> Option<Box<dyn Layer>> {
        None
    }

    /// The forward pass in f64 on the host, with training-mode semantics (batch
    /// statistics), for gradient checks of whole networks.
    fn reference(&self, _inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        Err(weft_device::Error::invalid(
            self.kind(),
            "reference",
            "this layer has no host reference",
        ))
    }
}
