//! Layers that reshape or combine tensors: flatten, residual add, channel concat.

use weft_device::Result;
use weft_kernels::{concat, elementwise};

use crate::layer::{AllocCtx, Backward, BackwardAlloc, Forward, HostArray, Layer, Saves, Shape};
use crate::layers::shape_error;

/// `nn.Flatten()`: `[C, H, W]` → `[C·H·W]`, a view (no copy, no memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten;

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn infer(&self, _name: &str, inputs: &[Shape]) -> Result<Shape> {
        Ok(vec![inputs[0].iter().product()])
    }

    fn output_aliases_input(&self) -> Option<usize> {
        Some(0)
    }

    fn grad_aliases_dy(&self, _n: usize) -> Vec<usize> {
        vec![0]
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let x = &cx.inputs[0];
        let n = x.dim(0);
        cx.output = Some(x.reshape(&[n, x.numel() / n.max(1)])?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        cx.input_grads = vec![Some(cx.dy.reshape(&cx.input_shapes[0])?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let n = x.shape[0];
        Ok(HostArray::new(
            vec![n, x.data.len() / n.max(1)],
            x.data.clone(),
        ))
    }
}

/// `x.reshape(batch, *shape)`: the same elements in a new per-sample shape, a
/// view (no copy, no memory). What ONNX's `Reshape`, `Flatten`, `Squeeze` and
/// `Unsqueeze` become once their batch dimension is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    pub shape: Vec<usize>,
}

impl Reshape {
    pub fn new(shape: &[usize]) -> Reshape {
        Reshape {
            shape: shape.to_vec(),
        }
    }
}

impl Layer for Reshape {
    fn kind(&self) -> &'static str {
        "Reshape"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let (have, want) = (
            inputs[0].iter().product::<usize>(),
            self.shape.iter().product::<usize>(),
        );
        if self.shape.is_empty() || have != want {
            return Err(shape_error(
                name,
                format!(
                    "cannot reshape {:?} ({have} elements per sample) to {:?} ({want})",
                    inputs[0], self.shape
                ),
            ));
        }
        Ok(self.shape.clone())
    }

    fn output_aliases_input(&self) -> Option<usize> {
        Some(0)
    }

    fn grad_aliases_dy(&self, _n: usize) -> Vec<usize> {
        vec![0]
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let x = &cx.inputs[0];
        let mut shape = vec![x.dim(0)];
        shape.extend_from_slice(&self.shape);
        cx.output = Some(x.reshape(&shape)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        cx.input_grads = vec![Some(cx.dy.reshape(&cx.input_shapes[0])?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let mut shape = vec![x.shape[0]];
        shape.extend_from_slice(&self.shape);
        Ok(HostArray::new(shape, x.data.clone()))
    }
}

/// Residual addition of two or more tensors of equal shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Add;

impl Layer for Add {
    fn kind(&self) -> &'static str {
        "Add"
    }

    fn arity(&self) -> Option<usize> {
        None
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        if inputs.len() < 2 {
            return Err(shape_error(name, "Add needs at least two inputs"));
        }
        for (i, s) in inputs.iter().enumerate().skip(1) {
            if *s != inputs[0] {
                return Err(shape_error(
                    name,
                    format!(
                        "Add inputs must have equal shapes: input 0 is {:?}, input {i} is {s:?}",
                        inputs[0]
                    ),
                ));
            }
        }
        Ok(inputs[0].clone())
    }

    fn grad_aliases_dy(&self, n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let mut acc = elementwise::add(&cx.inputs[0], &cx.inputs[1])?;
        for x in &cx.inputs[2..] {
            acc = elementwise::add(&acc, x)?;
        }
        cx.output = Some(acc);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        cx.input_grads = cx
            .need_input_grad
            .iter()
            .map(|&need| need.then(|| cx.dy.clone()))
            .collect();
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let mut out = inputs[0].clone();
        for x in &inputs[1..] {
            out.data.iter_mut().zip(&x.data).for_each(|(a, b)| *a += b);
        }
        Ok(out)
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> crate::layer::ForwardAlloc {
        // Sums of more than two inputs hold two partial sums at a time.
        let out = cx.bytes(cx.output);
        crate::layer::ForwardAlloc {
            extras: Vec::new(),
            peak: if cx.inputs.len() > 2 { 2 * out } else { out },
        }
    }
}

/// Concatenation along channels (`torch.cat(dim=1)`): U-Net skips, Inception branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat;

impl Layer for Concat {
    fn kind(&self) -> &'static str {
        "Concat"
    }

    fn arity(&self) -> Option<usize> {
        None
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let first = &inputs[0];
        if first.is_empty() {
            return Err(shape_error(
                name,
                "Concat needs inputs with a channel dimension",
            ));
        }
        let mut channels = 0;
        for (i, s) in inputs.iter().enumerate() {
            if s.len() != first.len() || s[1..] != first[1..] {
                return Err(shape_error(
                    name,
                    format!(
                        "Concat inputs must match except in channels: input 0 is {first:?}, input {i} is {s:?}"
                    ),
                ));
            }
            channels += s[0];
        }
        let mut out = first.clone();
        out[0] = channels;
        Ok(out)
    }

    fn saves(&self, n: usize) -> Saves {
        Saves {
            inputs: vec![false; n],
            output: false,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let xs: Vec<&weft_device::Tensor> = cx.inputs.iter().collect();
        cx.output = Some(concat::concat_channels(&xs)?);
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let parts: Vec<(&[f64], &[usize])> = inputs
            .iter()
            .map(|x| (x.data.as_slice(), x.shape.as_slice()))
            .collect();
        let mut shape = inputs[0].shape.clone();
        shape[1] = inputs.iter().map(|x| x.shape[1]).sum();
        Ok(HostArray::new(
            shape,
            weft_kernels::reference::concat::concat_channels_data(&parts),
        ))
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let sizes: Vec<usize> = cx.input_shapes.iter().map(|s| s[1]).collect();
        let parts = concat::split_channels(cx.dy, &sizes)?;
        cx.input_grads = parts
            .into_iter()
            .zip(cx.need_input_grad)
            .map(|(p, &need)| need.then_some(p))
            .collect();
        Ok(())
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        // split_channels allocates every part; unneeded ones are dropped after.
        BackwardAlloc {
            input_grads: cx
                .inputs
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if cx.need_input_grad[i] {
                        cx.bytes(s)
                    } else {
                        0
                    }
                })
                .collect(),
            param_grads: Vec::new(),
            peak: cx.inputs.iter().map(|s| cx.bytes(s)).sum(),
        }
    }
}

/// The identity, as a view: what an activation becomes once it is fused into the
/// layer before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity;

impl Layer for Identity {
    fn kind(&self) -> &'static str {
        "Identity"
    }

    fn infer(&self, _name: &str, inputs: &[Shape]) -> Result<Shape> {
        Ok(inputs[0].clone())
    }

    fn output_aliases_input(&self) -> Option<usize> {
        Some(0)
    }

    fn grad_aliases_dy(&self, _n: usize) -> Vec<usize> {
        vec![0]
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(cx.inputs[0].clone());
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        cx.input_grads = vec![Some(cx.dy.clone())];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        Ok(inputs[0].clone())
    }
}
