//! `Binary`: two activations added, subtracted, multiplied or divided with
//! NumPy's broadcasting (ONNX's `Add`/`Sub`/`Mul`/`Div`, `x - x.mean(...)`,
//! a spatial gate `x * g[N, 1, H, W]`).

use weft_device::{DType, Result, Tensor};
use weft_kernels::elementwise::{self, BinaryOp};
use weft_kernels::reduce::{self, ReduceOp, ReducePlan};

use crate::init::Init;
use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, ForwardAlloc, HostArray, Layer, MemSeq, ParamDecl,
    ParamKind, Saves, Shape,
};
use crate::layers::shape_error;

/// `a OP b` for OP in add, sub, mul, div, where the per-sample shapes have
/// equal rank and broadcast (each pair of dims equal, or one of them 1) to
/// the shape of one of them. The gradient of the other sums over the dims
/// it was broadcast along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    pub op: BinaryOp,
}

impl Binary {
    pub fn new(op: BinaryOp) -> Binary {
        Binary { op }
    }
}

/// The batched dims along which `shape` broadcasts to `full` (per-sample
/// shapes; the batch, dim 0, never broadcasts).
fn broadcast_dims(shape: &[usize], full: &[usize]) -> Vec<bool> {
    std::iter::once(false)
        .chain(shape.iter().zip(full).map(|(&s, &f)| s != f))
        .collect()
}

/// `t` (the result's shape) summed to `shape` (batched).
fn sum_to(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let axes: Vec<usize> = (0..t.rank()).filter(|&k| t.dim(k) != shape[k]).collect();
    reduce::reduce(t, &axes, ReduceOp::Sum, true)?.reshape(shape)
}

impl Layer for Binary {
    fn kind(&self) -> &'static str {
        "Binary"
    }

    fn arity(&self) -> Option<usize> {
        Some(2)
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let (a, b) = (&inputs[0], &inputs[1]);
        if !matches!(
            self.op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
        ) {
            return Err(shape_error(
                name,
                "Binary adds, subtracts, multiplies or divides",
            ));
        }
        if a.len() != b.len() {
            return Err(shape_error(
                name,
                format!(
                    "{} of samples of ranks {} and {} ({a:?}, {b:?}): the ranks must match, so that the batch meets the batch",
                    self.op.name(),
                    a.len(),
                    b.len()
                ),
            ));
        }
        let full = elementwise::broadcast_shape(name, a, b)?;
        if &full != a && &full != b {
            return Err(shape_error(
                name,
                format!("{a:?} and {b:?} broadcast to {full:?}, which neither is"),
            ));
        }
        // The gradients' sums must be reductions the kernels run.
        for s in [a, b] {
            let batched: Vec<usize> = std::iter::once(2).chain(full.iter().copied()).collect();
            ReducePlan::new(name, &batched, &broadcast_dims(s, &full))?;
        }
        Ok(full)
    }

    fn saves(&self, n: usize) -> Saves {
        Saves {
            inputs: vec![matches!(self.op, BinaryOp::Mul | BinaryOp::Div); n],
            output: false,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let (a, b) = (&cx.inputs[0], &cx.inputs[1]);
        let full = elementwise::broadcast_shape("Binary", a.shape(), b.shape())?;
        cx.output = Some(if a.shape() == full.as_slice() {
            elementwise::binary_broadcast(a, b, self.op)?
        } else {
            match self.op {
                BinaryOp::Add | BinaryOp::Mul => elementwise::binary_broadcast(b, a, self.op)?,
                // a − b = −(b − a), exactly (rounding is symmetric).
                BinaryOp::Sub => {
                    let t = elementwise::binary_broadcast(b, a, BinaryOp::Sub)?;
                    elementwise::scale(&t, -1.0, 0.0)?
                }
                // a expanded to the result's shape (0 + a), then divided.
                _ => {
                    let zeros = elementwise::zeros(b.device(), b.shape(), b.dtype())?;
                    let wide = elementwise::binary_broadcast(&zeros, a, BinaryOp::Add)?;
                    drop(zeros);
                    elementwise::binary(&wide, b, BinaryOp::Div)?
                }
            }
        });
        Ok(())
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let out = cx.bytes(cx.output);
        let first_full = cx.inputs[0] == *cx.output;
        let two = !first_full && matches!(self.op, BinaryOp::Sub | BinaryOp::Div);
        ForwardAlloc {
            extras: Vec::new(),
            peak: if two { 2 * out } else { out },
        }
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let dy = cx.dy;
        let full = dy.shape().to_vec();
        let shapes = cx.input_shapes.to_vec();
        let mut grads = vec![None, None];
        for k in 0..2 {
            if !cx.need_input_grad[k] {
                continue;
            }
            let saved = |i: usize| {
                cx.inputs[i]
                    .as_ref()
                    .expect("Mul and Div save their inputs")
            };
            // d output / d input k, times dy: owned, or dy itself; negated
            // after the sum when `neg`.
            let (t, neg): (Option<Tensor>, bool) = match (self.op, k) {
                (BinaryOp::Add, _) | (BinaryOp::Sub, 0) => (None, false),
                (BinaryOp::Sub, _) => (None, true),
                (BinaryOp::Mul, _) => (
                    Some(elementwise::binary_broadcast(
                        dy,
                        saved(1 - k),
                        BinaryOp::Mul,
                    )?),
                    false,
                ),
                (BinaryOp::Div, 0) => (
                    Some(elementwise::binary_broadcast(dy, saved(1), BinaryOp::Div)?),
                    false,
                ),
                // d(a/b)/db = −a/b², as (dy·a)/b/b.
                _ => {
                    let t1 = elementwise::binary_broadcast(dy, saved(0), BinaryOp::Mul)?;
                    let t2 = elementwise::binary_broadcast(&t1, saved(1), BinaryOp::Div)?;
                    drop(t1);
                    let t3 = elementwise::binary_broadcast(&t2, saved(1), BinaryOp::Div)?;
                    (Some(t3), true)
                }
            };
            let g = if shapes[k] == full {
                match (neg, t) {
                    (true, t) => elementwise::scale(t.as_ref().unwrap_or(dy), -1.0, 0.0)?,
                    (false, Some(t)) => t,
                    (false, None) => {
                        let copy = dy.device().empty(dy.shape(), dy.dtype())?;
                        dy.device().copy(dy, &copy)?;
                        copy
                    }
                }
            } else {
                let r = sum_to(t.as_ref().unwrap_or(dy), &shapes[k])?;
                drop(t);
                if neg {
                    elementwise::scale(&r, -1.0, 0.0)?
                } else {
                    r
                }
            };
            grads[k] = Some(g);
        }
        cx.input_grads = grads;
        Ok(())
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let full_bytes = cx.bytes(cx.output);
        let mut mem = MemSeq::new();
        let mut input_grads = vec![0, 0];
        for (k, grad) in input_grads.iter_mut().enumerate() {
            if !cx.need_input_grad[k] {
                continue;
            }
            let shape = &cx.inputs[k];
            let bytes = cx.bytes(shape);
            *grad = bytes;
            // The product held before the sum (none: dy itself).
            let (held, neg) = match (self.op, k) {
                (BinaryOp::Add, _) | (BinaryOp::Sub, 0) => (0, false),
                (BinaryOp::Sub, _) => (0, true),
                (BinaryOp::Mul, _) | (BinaryOp::Div, 0) => {
                    mem.alloc(full_bytes);
                    (full_bytes, false)
                }
                _ => {
                    mem.alloc(full_bytes).alloc(full_bytes).free(full_bytes);
                    mem.alloc(full_bytes).free(full_bytes);
                    (full_bytes, true)
                }
            };
            if shape == cx.output {
                if neg || held == 0 {
                    mem.alloc(bytes).free(held);
                }
                // else: the product is the gradient.
            } else {
                let batched = cx.batched(cx.output);
                let plan = ReducePlan::new("Binary", &batched, &broadcast_dims(shape, cx.output));
                let scratch = plan.map(|p| reduce::scratch_bytes(&p)).unwrap_or(0);
                let outputs = cx.batch * shape.iter().product::<usize>();
                let tmp = if cx.dtype == DType::F32 {
                    0
                } else {
                    4 * outputs as u64
                };
                mem.alloc(bytes)
                    .alloc(scratch + tmp)
                    .free(scratch + tmp)
                    .free(held);
                if neg {
                    mem.alloc(bytes).free(bytes);
                }
            }
        }
        BackwardAlloc {
            input_grads,
            param_grads: Vec::new(),
            peak: mem.peak(),
        }
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let full = elementwise::broadcast_shape("Binary", &a.shape, &b.shape)?;
        let n: usize = full.iter().product();
        // Flat index into `shape` of the result's element `i`.
        let index = |shape: &[usize], i: usize| {
            let (mut rest, mut j, mut stride) = (i, 0, 1);
            for k in (0..full.len()).rev() {
                let c = rest % full[k];
                rest /= full[k];
                if shape[k] != 1 {
                    j += c * stride;
                }
                stride *= shape[k];
            }
            j
        };
        let data = (0..n)
            .map(|i| {
                let (x, y) = (a.data[index(&a.shape, i)], b.data[index(&b.shape, i)]);
                match self.op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    _ => x / y,
                }
            })
            .collect();
        Ok(HostArray::new(full, data))
    }
}

/// `x OP c` (or `c OP x` when `constant_first`) for OP in add, sub, mul,
/// div, with `c` a constant (a buffer named `value`, saved in checkpoints,
/// never trained) that broadcasts to the batched input by NumPy's rules:
/// `shape` is its batched shape, of the input's rank, with a first dim of
/// 1 (one constant for every sample) or the batch it was exported at (then
/// the model runs at that batch only).
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantBinary {
    pub op: BinaryOp,
    pub shape: Vec<usize>,
    pub constant_first: bool,
    /// Every element of the constant until a checkpoint or an import sets
    /// it (1 by default).
    pub fill: f32,
}

impl ConstantBinary {
    pub fn new(op: BinaryOp, shape: &[usize], constant_first: bool) -> ConstantBinary {
        ConstantBinary {
            op,
            shape: shape.to_vec(),
            constant_first,
            fill: 1.0,
        }
    }

    /// The constant's initial value.
    pub fn fill(mut self, value: f32) -> ConstantBinary {
        self.fill = value;
        self
    }

    /// The constant in the activations' dtype, batched (a cast copy for
    /// f16 activations, which the planner counts).
    fn value(&self, value: &Tensor, dtype: DType) -> Result<Tensor> {
        let v = value.reshape(&self.shape)?;
        if v.dtype() == dtype {
            Ok(v)
        } else {
            elementwise::cast(&v, dtype)
        }
    }

    fn check_batch(&self, name: &str, x: &Tensor) -> Result<()> {
        if self.shape[0] != 1 && self.shape[0] != x.dim(0) {
            return Err(shape_error(
                name,
                format!(
                    "the constant of shape {:?} holds one value per sample of a batch of {}, run at a batch of {}",
                    self.shape,
                    self.shape[0],
                    x.dim(0)
                ),
            ));
        }
        Ok(())
    }
}

impl Layer for ConstantBinary {
    fn kind(&self) -> &'static str {
        "ConstantBinary"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let x = &inputs[0];
        if !matches!(
            self.op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
        ) {
            return Err(shape_error(
                name,
                "ConstantBinary adds, subtracts, multiplies or divides",
            ));
        }
        let fits = self.shape.len() == x.len() + 1
            && self.shape[1..]
                .iter()
                .zip(x)
                .all(|(&c, &d)| c == 1 || c == d);
        if !fits {
            return Err(shape_error(
                name,
                format!(
                    "a constant of batched shape {:?} does not broadcast to samples of {x:?}",
                    self.shape
                ),
            ));
        }
        let batched: Vec<usize> = std::iter::once(2).chain(x.iter().copied()).collect();
        let mut dims = broadcast_dims(&self.shape[1..], x);
        dims[0] = self.shape[0] == 1;
        ReducePlan::new(name, &batched, &dims)?;
        Ok(x.clone())
    }

    fn params(&self, _inputs: &[Shape]) -> Vec<ParamDecl> {
        vec![ParamDecl {
            name: "value",
            shape: self.shape.clone(),
            kind: ParamKind::Buffer,
            init: Init::Const(self.fill),
        }]
    }

    fn saves(&self, n: usize) -> Saves {
        // c / x: its gradient, −c·dy/x², reads x.
        Saves {
            inputs: vec![self.constant_first && self.op == BinaryOp::Div; n],
            output: false,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let x = &cx.inputs[0];
        self.check_batch("ConstantBinary", x)?;
        let c = self.value(&cx.params[0], x.dtype())?;
        cx.output = Some(match (self.constant_first, self.op) {
            (false, op) | (true, op @ (BinaryOp::Add | BinaryOp::Mul)) => {
                elementwise::binary_broadcast(x, &c, op)?
            }
            // c − x = −(x − c), exactly.
            (true, BinaryOp::Sub) => {
                let t = elementwise::binary_broadcast(x, &c, BinaryOp::Sub)?;
                elementwise::scale(&t, -1.0, 0.0)?
            }
            _ => {
                let zeros = elementwise::zeros(x.device(), x.shape(), x.dtype())?;
                let wide = elementwise::binary_broadcast(&zeros, &c, BinaryOp::Add)?;
                drop(zeros);
                elementwise::binary(&wide, x, BinaryOp::Div)?
            }
        });
        Ok(())
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let out = cx.bytes(cx.output);
        let cast = if cx.dtype == DType::F32 {
            0
        } else {
            AllocCtx::raw(&self.shape, cx.dtype)
        };
        let two = self.constant_first && matches!(self.op, BinaryOp::Sub | BinaryOp::Div);
        ForwardAlloc {
            extras: Vec::new(),
            peak: cast + if two { 2 * out } else { out },
        }
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        if !cx.need_input_grad[0] {
            cx.input_grads = vec![None];
            cx.param_grads = vec![None];
            return Ok(());
        }
        let dy = cx.dy;
        let c = self.value(&cx.params[0], dy.dtype())?;
        let g = match (self.constant_first, self.op) {
            (_, BinaryOp::Add) | (false, BinaryOp::Sub) => {
                let copy = dy.device().empty(dy.shape(), dy.dtype())?;
                dy.device().copy(dy, &copy)?;
                copy
            }
            (true, BinaryOp::Sub) => elementwise::scale(dy, -1.0, 0.0)?,
            (_, BinaryOp::Mul) => elementwise::binary_broadcast(dy, &c, BinaryOp::Mul)?,
            (false, _) => elementwise::binary_broadcast(dy, &c, BinaryOp::Div)?,
            // d(c/x)/dx = −c/x², as −((dy·c)/x)/x.
            _ => {
                let x = cx.inputs[0].as_ref().expect("c / x saves x");
                let t1 = elementwise::binary_broadcast(dy, &c, BinaryOp::Mul)?;
                let t2 = elementwise::binary(&t1, x, BinaryOp::Div)?;
                drop(t1);
                let t3 = elementwise::binary(&t2, x, BinaryOp::Div)?;
                drop(t2);
                elementwise::scale(&t3, -1.0, 0.0)?
            }
        };
        cx.input_grads = vec![Some(g)];
        cx.param_grads = vec![None];
        Ok(())
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let full = cx.bytes(cx.output);
        if !cx.need_input_grad[0] {
            return BackwardAlloc {
                input_grads: vec![0],
                param_grads: vec![0],
                peak: 0,
            };
        }
        let cast = if cx.dtype == DType::F32 {
            0
        } else {
            AllocCtx::raw(&self.shape, cx.dtype)
        };
        let mut mem = MemSeq::new();
        mem.alloc(cast);
        if self.constant_first && self.op == BinaryOp::Div {
            // t1, t2 (t1 freed), t3 (t2 freed), the negated gradient.
            mem.alloc(full)
                .alloc(full)
                .free(full)
                .alloc(full)
                .free(full);
            mem.alloc(full).free(full);
        } else {
            mem.alloc(full);
        }
        BackwardAlloc {
            input_grads: vec![full],
            param_grads: vec![0],
            peak: mem.peak(),
        }
    }

    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let c = HostArray::new(self.shape.clone(), params[0].to_vec());
        // c broadcast over x's batched shape; with the batch of the constant
        // 1, or x's.
        let (a, b) = if self.constant_first {
            (&c, x)
        } else {
            (x, &c)
        };
        Binary::new(self.op).reference(&[a.clone(), b.clone()], &[])
    }
}
