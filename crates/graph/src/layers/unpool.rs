//! `nn.MaxUnpool2d`, fed by the tensor that was max-pooled.

use weft_device::{DType, Result};
use weft_kernels::gather;
use weft_kernels::pool::{self, Pool2dParams};

use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, ForwardAlloc, HostArray, Layer, MemSeq, Shape,
};
use crate::layers::{chw, shape_error};

/// `nn.MaxUnpool2d(kernel_size, stride)`: places each value of its first input
/// at the position of the maximum that max-pooling with the same parameters
/// found in its second input (the tensor that was pooled), zeros elsewhere; the
/// output has the second input's shape. The positions are recomputed from the
/// second input rather than passed as a separate tensor, and carry no gradient
/// (as PyTorch's indices carry none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxUnpool2d {
    pub params: Pool2dParams,
}

impl MaxUnpool2d {
    /// Undoes `MaxPool2d::new(kernel)` (stride = kernel).
    pub fn new(kernel: usize) -> MaxUnpool2d {
        MaxUnpool2d {
            params: Pool2dParams::new([kernel, kernel]),
        }
    }

    pub fn stride(mut self, stride: usize) -> MaxUnpool2d {
        self.params.stride = [stride, stride];
        self
    }

    pub fn padding(mut self, padding: usize) -> MaxUnpool2d {
        self.params.padding = [padding, padding];
        self
    }
}

impl Layer for MaxUnpool2d {
    fn kind(&self) -> &'static str {
        "MaxUnpool2d"
    }

    fn arity(&self) -> Option<usize> {
        Some(2)
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, h, w] = chw(name, "MaxUnpool2d", &inputs[1])?;
        let [oh, ow] = self.params.out_hw(&format!("layer \"{name}\""), h, w)?;
        if inputs[0] != [c, oh, ow] {
            return Err(shape_error(
                name,
                format!(
                    "MaxUnpool2d input 0 must be the pooled shape [{c}, {oh}, {ow}] of input 1 {:?}, got {:?}",
                    inputs[1], inputs[0]
                ),
            ));
        }
        Ok(inputs[1].clone())
    }

    fn differentiable_inputs(&self, _n: usize) -> Vec<bool> {
        vec![true, false]
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let (pooled, idx) = pool::max_pool2d_with_indices(&cx.inputs[1], &self.params, None)?;
        drop(pooled);
        let x = &cx.inputs[1];
        cx.output = Some(pool::max_unpool2d(
            &cx.inputs[0],
            &idx,
            [x.dim(2), x.dim(3)],
        )?);
        if cx.train {
            cx.extras = vec![idx];
        }
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        cx.input_grads = vec![Some(gather::take_plane(cx.dy, &cx.extras[0])?), None];
        Ok(())
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let pooled = cx.bytes(&cx.inputs[0]);
        let idx = DType::I32.storage_bytes(cx.batch * cx.inputs[0].iter().product::<usize>());
        let mut m = MemSeq::new();
        m.alloc(pooled)
            .alloc(idx)
            .free(pooled)
            .alloc(cx.bytes(cx.output));
        ForwardAlloc {
            extras: if cx.train { vec![idx] } else { Vec::new() },
            peak: m.peak(),
        }
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let dy = cx.bytes(&cx.inputs[0]);
        BackwardAlloc {
            input_grads: vec![if cx.need_input_grad[0] { dy } else { 0 }, 0],
            param_grads: Vec::new(),
            peak: dy,
        }
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let (y, x) = (&inputs[0], &inputs[1]);
        let pooled = weft_kernels::reference::pool::pool2d(
            &x.data,
            x.nchw(),
            weft_kernels::pool::PoolKind::Max,
            &self.params,
        );
        let [n, c, h, w] = x.nchw();
        let mut out = vec![0.0; n * c * h * w];
        let per = y.data.len() / (n * c).max(1);
        for (o, (&v, &i)) in y.data.iter().zip(&pooled.indices).enumerate() {
            let plane = o / per.max(1);
            out[plane * h * w + i as usize] = v;
        }
        Ok(HostArray::new(x.shape.clone(), out))
    }
}
