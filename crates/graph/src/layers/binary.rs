//! `Binary`: two activations added, subtracted, multiplied or divided with
//! NumPy's broadcasting (ONNX's `Add`/`Sub`/`Mul`/`Div`, `x - x.mean(...)`,
//! a spatial gate `x * g[N, 1, H, W]`).

use weft_device::{DType, Result, Tensor};
use weft_kernels::elementwise::{self, BinaryOp};
use weft_kernels::reduce::{self, ReduceOp, ReducePlan};

use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, ForwardAlloc, HostArray, Layer, MemSeq, Saves,
    Shape,
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
