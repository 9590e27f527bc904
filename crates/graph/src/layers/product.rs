//! `Mul`: the elementwise product of two activations.

use weft_device::{Result, Tensor};
use weft_kernels::elementwise::{self, BinaryOp};
use weft_kernels::reduce::{self, ReduceOp, ReducePlan};

use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, HostArray, Layer, MemSeq, Saves, Shape,
};
use crate::layers::shape_error;

/// `a * b` of two activations (`torch.mul`): equal shapes (hard-swish written
/// out, gated units), or `b` with one value per channel and sample
/// (`[C, 1, 1]`, a squeeze-and-excitation gate scaling `a`'s channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mul;

impl Mul {
    /// Whether `b` is a per-channel gate for `a` (per-sample shapes): same
    /// rank, same channels, every other dimension 1, and `a` not itself of
    /// that shape.
    pub fn is_gate(a: &[usize], b: &[usize]) -> bool {
        a != b && a.len() == b.len() && a.first() == b.first() && b.iter().skip(1).all(|&d| d == 1)
    }
}

/// `a` and `b` of a gated product viewed as `[1, N·C, rest]` and `[N·C]`, so
/// the binary kernel's per-channel broadcast pairs each plane with its gate.
fn gate_views(a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    let planes = a.dim(0) * a.dim(1);
    let rest = a.numel() / planes.max(1);
    Ok((a.reshape(&[1, planes, rest])?, b.reshape(&[planes])?))
}

impl Layer for Mul {
    fn kind(&self) -> &'static str {
        "Mul"
    }

    fn arity(&self) -> Option<usize> {
        Some(2)
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let (a, b) = (&inputs[0], &inputs[1]);
        if a == b || Mul::is_gate(a, b) {
            return Ok(a.clone());
        }
        Err(shape_error(
            name,
            format!(
                "Mul multiplies equal shapes, or a [C, ...] activation by a [C, 1, ...] gate: got {a:?} and {b:?}"
            ),
        ))
    }

    fn saves(&self, n: usize) -> Saves {
        Saves {
            inputs: vec![true; n],
            output: false,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let (a, b) = (&cx.inputs[0], &cx.inputs[1]);
        let y = if a.shape() == b.shape() {
            elementwise::mul(a, b)?
        } else {
            let (av, bv) = gate_views(a, b)?;
            elementwise::mul(&av, &bv)?.reshape(a.shape())?
        };
        cx.output = Some(y);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let a = cx.inputs[0].as_ref().expect("Mul saves its inputs");
        let b = cx.inputs[1].as_ref().expect("Mul saves its inputs");
        let dy = cx.dy;
        let mut grads = vec![None, None];
        if a.shape() == b.shape() {
            if cx.need_input_grad[0] {
                grads[0] = Some(elementwise::mul(dy, b)?);
            }
            if cx.need_input_grad[1] {
                grads[1] = Some(elementwise::mul(dy, a)?);
            }
        } else {
            let (dyv, bv) = gate_views(dy, b)?;
            if cx.need_input_grad[0] {
                grads[0] = Some(elementwise::mul(&dyv, &bv)?.reshape(a.shape())?);
            }
            if cx.need_input_grad[1] {
                // d gate = Σ over each plane of dy · a.
                let planes = a.dim(0) * a.dim(1);
                let rest = a.numel() / planes.max(1);
                let t = elementwise::binary(dy, a, BinaryOp::Mul)?.reshape(&[planes, rest])?;
                let db = reduce::reduce(&t, &[1], ReduceOp::Sum, false)?;
                drop(t);
                grads[1] = Some(db.reshape(b.shape())?);
            }
        }
        cx.input_grads = grads;
        Ok(())
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let (a, b) = (&cx.inputs[0], &cx.inputs[1]);
        let need = cx.need_input_grad;
        let mut mem = MemSeq::new();
        let mut input_grads = vec![0, 0];
        if need[0] {
            input_grads[0] = cx.bytes(a);
            mem.alloc(input_grads[0]);
        }
        if need[1] {
            input_grads[1] = cx.bytes(b);
            if a == b {
                mem.alloc(input_grads[1]);
            } else {
                let planes = cx.batch * a[0];
                let rest = a.iter().skip(1).product();
                let plan = ReducePlan::rows(planes, rest);
                let t = cx.bytes(a);
                let scratch = reduce::scratch_bytes(&plan)
                    + if cx.dtype == weft_device::DType::F32 {
                        0
                    } else {
                        4 * planes as u64
                    };
                mem.alloc(t).alloc(input_grads[1]).alloc(scratch);
                mem.free(scratch).free(t);
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
        let mut out = a.clone();
        if a.shape == b.shape {
            out.data.iter_mut().zip(&b.data).for_each(|(x, y)| *x *= y);
        } else {
            let per_gate = a.data.len() / b.data.len().max(1);
            for (i, x) in out.data.iter_mut().enumerate() {
                *x *= b.data[i / per_gate];
            }
        }
        Ok(out)
    }
}
