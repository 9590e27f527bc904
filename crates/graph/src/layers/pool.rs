//! Pooling layers: `nn.MaxPool2d`, `nn.AvgPool2d`, and global average pooling
//! (`nn.AdaptiveAvgPool2d(1)`).

use weft_device::{DType, Result};
use weft_kernels::pool::{self, Pool2dParams, PoolKind};

use crate::layer::{AllocCtx, Backward, Forward, ForwardAlloc, HostArray, Layer, Shape};
use crate::layers::{chw, shape_error};
use weft_kernels::reference;

fn pooled_shape(name: &str, kind: &str, params: &Pool2dParams, input: &[usize]) -> Result<Shape> {
    let [c, h, w] = chw(name, kind, input)?;
    let [oh, ow] = params.out_hw(&format!("layer \"{name}\""), h, w)?;
    Ok(vec![c, oh, ow])
}

/// `nn.MaxPool2d(kernel_size, stride=kernel_size, padding=0, dilation=1, ceil_mode=False)`.
/// In training it keeps the argmax indices (not its input) for backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    pub params: Pool2dParams,
}

impl MaxPool2d {
    /// A square window with stride equal to the window, as PyTorch defaults.
    pub fn new(kernel: usize) -> MaxPool2d {
        MaxPool2d {
            params: Pool2dParams::new([kernel, kernel]),
        }
    }

    pub fn stride(mut self, stride: usize) -> MaxPool2d {
        self.params.stride = [stride, stride];
        self
    }

    pub fn padding(mut self, padding: usize) -> MaxPool2d {
        self.params.padding = [padding, padding];
        self
    }

    pub fn dilation(mut self, dilation: usize) -> MaxPool2d {
        self.params.dilation = [dilation, dilation];
        self
    }

    pub fn ceil_mode(mut self, ceil: bool) -> MaxPool2d {
        self.params.ceil_mode = ceil;
        self
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        "MaxPool2d"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        pooled_shape(name, "MaxPool2d", &self.params, &inputs[0])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        if cx.train {
            let (y, idx) = pool::max_pool2d_with_indices(&cx.inputs[0], &self.params, None)?;
            cx.output = Some(y);
            cx.extras = vec![idx];
        } else {
            cx.output = Some(pool::pool2d(
                &cx.inputs[0],
                PoolKind::Max,
                &self.params,
                None,
            )?);
        }
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW");
        cx.input_grads = vec![Some(pool::max_pool2d_backward_windows(
            cx.dy,
            &cx.extras[0],
            shape,
            &self.params,
        )?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        pool_reference(&inputs[0], PoolKind::Max, &self.params)
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let out = cx.bytes(cx.output);
        if cx.train {
            let idx = DType::I32.storage_bytes(cx.batch * cx.output.iter().product::<usize>());
            ForwardAlloc {
                extras: vec![idx],
                peak: out + idx,
            }
        } else {
            ForwardAlloc {
                extras: Vec::new(),
                peak: out,
            }
        }
    }
}

/// `nn.AvgPool2d(kernel_size, stride=kernel_size, padding=0, ceil_mode=False,
/// count_include_pad=True, divisor_override=None)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d {
    pub params: Pool2dParams,
}

impl AvgPool2d {
    pub fn new(kernel: usize) -> AvgPool2d {
        AvgPool2d {
            params: Pool2dParams::new([kernel, kernel]),
        }
    }

    pub fn stride(mut self, stride: usize) -> AvgPool2d {
        self.params.stride = [stride, stride];
        self
    }

    pub fn padding(mut self, padding: usize) -> AvgPool2d {
        self.params.padding = [padding, padding];
        self
    }

    pub fn ceil_mode(mut self, ceil: bool) -> AvgPool2d {
        self.params.ceil_mode = ceil;
        self
    }

    pub fn count_include_pad(mut self, include: bool) -> AvgPool2d {
        self.params.count_include_pad = include;
        self
    }
}

impl Layer for AvgPool2d {
    fn kind(&self) -> &'static str {
        "AvgPool2d"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        pooled_shape(name, "AvgPool2d", &self.params, &inputs[0])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(pool::pool2d(
            &cx.inputs[0],
            PoolKind::Avg,
            &self.params,
            None,
        )?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW");
        cx.input_grads = vec![Some(pool::avg_pool2d_backward(cx.dy, shape, &self.params)?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        pool_reference(&inputs[0], PoolKind::Avg, &self.params)
    }
}

/// Global average pooling, `nn.AdaptiveAvgPool2d(1)`: `[C, H, W]` → `[C, 1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalAvgPool;

impl Layer for GlobalAvgPool {
    fn kind(&self) -> &'static str {
        "AdaptiveAvgPool2d"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, h, w] = chw(name, "GlobalAvgPool", &inputs[0])?;
        if h == 0 || w == 0 {
            return Err(shape_error(name, "GlobalAvgPool needs a non-empty image"));
        }
        Ok(vec![c, 1, 1])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(pool::global_avg_pool(&cx.inputs[0])?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW");
        cx.input_grads = vec![Some(pool::global_avg_pool_backward(cx.dy, shape)?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let [n, c, _, _] = x.nchw();
        let out = reference::pool::global_avg_pool(&x.data, x.nchw());
        Ok(HostArray::new(vec![n, c, 1, 1], out.value))
    }
}

/// `nn.AdaptiveAvgPool2d((oh, ow))`: output `(oy, ox)` averages input rows
/// `[⌊oy·H/oh⌋, ⌈(oy+1)·H/oh⌉)` and the like columns, for any input size
/// (windows overlap where the sizes do not divide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2d {
    pub fn new(output_size: [usize; 2]) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d { output_size }
    }
}

impl Layer for AdaptiveAvgPool2d {
    fn kind(&self) -> &'static str {
        "AdaptiveAvgPool2d"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, h, w] = chw(name, "AdaptiveAvgPool2d", &inputs[0])?;
        if h == 0 || w == 0 || self.output_size.contains(&0) {
            return Err(shape_error(
                name,
                format!(
                    "AdaptiveAvgPool2d needs a non-empty image and output size, got {h}x{w} to {:?}",
                    self.output_size
                ),
            ));
        }
        Ok(vec![c, self.output_size[0], self.output_size[1]])
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(pool::adaptive_avg_pool2d(&cx.inputs[0], self.output_size)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW");
        cx.input_grads = vec![Some(pool::adaptive_avg_pool2d_backward(cx.dy, shape)?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let [n, c, _, _] = x.nchw();
        let out = reference::pool::adaptive_avg_pool2d(&x.data, x.nchw(), self.output_size);
        let [oh, ow] = self.output_size;
        Ok(HostArray::new(vec![n, c, oh, ow], out.value))
    }
}

fn pool_reference(x: &HostArray, kind: PoolKind, params: &Pool2dParams) -> Result<HostArray> {
    let [n, c, h, w] = x.nchw();
    let [oh, ow] = params.out_hw("pool", h, w)?;
    let out = reference::pool::pool2d(&x.data, x.nchw(), kind, params);
    Ok(HostArray::new(vec![n, c, oh, ow], out.out.value))
}
