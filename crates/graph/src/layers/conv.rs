//! `nn.Conv2d` and `nn.ConvTranspose2d`.

use weft_device::{DType, Result, Tensor};
use weft_kernels::conv::backward as conv_backward;
use weft_kernels::conv::forward::Conv2dProblem;
use weft_kernels::conv::params::GatherGeometry;
use weft_kernels::conv::params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams, Padding,
};
use weft_kernels::conv::transpose::ConvTranspose2dProblem;
use weft_kernels::conv::transpose::{
    self as conv_transpose, ConvTranspose2dSpec, ConvTransposeVariant,
};
use weft_kernels::conv::{self, Conv2dSpec, ConvVariant};
use weft_kernels::{Activation, Precision, elementwise};

use crate::init::Init;
use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, ForwardAlloc, HostArray, Layer, MemSeq, ParamDecl,
    ParamKind, Saves, Shape,
};
use crate::layers::activation::apply_reference;
use crate::layers::{chw, param_as, param_cast_bytes, shape_error};

/// `nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub params: Conv2dParams,
    pub bias: bool,
    /// Activation fused into the output (set by the fusion pass or by hand).
    pub activation: Activation,
    /// Kernel variant; `None` lets the kernels choose.
    pub variant: Option<&'static ConvVariant>,
}

impl Conv2d {
    /// A square `kernel`×`kernel` convolution, stride 1, no padding, with bias.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Conv2d {
        Conv2d {
            in_channels,
            out_channels,
            kernel: [kernel, kernel],
            params: Conv2dParams::default(),
            bias: true,
            activation: Activation::None,
            variant: None,
        }
    }

    pub fn kernel_hw(mut self, kernel: [usize; 2]) -> Conv2d {
        self.kernel = kernel;
        self
    }

    pub fn stride(mut self, stride: usize) -> Conv2d {
        self.params.stride = [stride, stride];
        self
    }

    pub fn padding(mut self, padding: usize) -> Conv2d {
        self.params.padding = Padding::Explicit([padding, padding]);
        self
    }

    /// `padding="same"` or `"valid"`, or per-axis explicit padding.
    pub fn padding_mode(mut self, padding: Padding) -> Conv2d {
        self.params.padding = padding;
        self
    }

    pub fn dilation(mut self, dilation: usize) -> Conv2d {
        self.params.dilation = [dilation, dilation];
        self
    }

    pub fn groups(mut self, groups: usize) -> Conv2d {
        self.params.groups = groups;
        self
    }

    pub fn bias(mut self, bias: bool) -> Conv2d {
        self.bias = bias;
        self
    }

    pub fn activation(mut self, act: Activation) -> Conv2d {
        self.activation = act;
        self
    }

    pub fn variant(mut self, variant: &'static ConvVariant) -> Conv2d {
        self.variant = Some(variant);
        self
    }

    fn weight_shape(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.in_channels / self.params.groups.max(1),
            self.kernel[0],
            self.kernel[1],
        ]
    }

    pub(crate) fn geometry(
        &self,
        op: &str,
        batch: usize,
        input: &[usize],
    ) -> Result<Conv2dGeometry> {
        let x = [vec![batch], input.to_vec()].concat();
        Conv2dGeometry::new(op, &x, &self.weight_shape(), &self.params)
    }

    fn fan_in(&self) -> usize {
        self.in_channels / self.params.groups.max(1) * self.kernel[0] * self.kernel[1]
    }
}

impl Layer for Conv2d {
    fn fold_batch_norm(&self, bn: &crate::layers::BatchNorm2d) -> Option<Box<dyn Layer>> {
        crate::layers::Conv2dBatchNorm::new(*self, bn).map(|l| Box::new(l) as Box<dyn Layer>)
    }

    fn fuse(&self, act: Activation) -> Option<Box<dyn Layer>> {
        (self.activation == Activation::None).then(|| {
            let mut fused = *self;
            fused.activation = act;
            Box::new(fused) as Box<dyn Layer>
        })
    }

    fn kind(&self) -> &'static str {
        "Conv2d"
    }

    fn flops(&self, _inputs: &[Shape], output: &Shape) -> u64 {
        // Every output element sums fan_in products.
        2 * output.iter().product::<usize>() as u64 * self.fan_in() as u64
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, _, _] = chw(name, "Conv2d", &inputs[0])?;
        if c != self.in_channels {
            return Err(shape_error(
                name,
                format!("expected {} input channels, got {c}", self.in_channels),
            ));
        }
        let g = self.geometry(&format!("layer \"{name}\""), 1, &inputs[0])?;
        Ok(vec![g.c_out, g.oh, g.ow])
    }

    fn params(&self, _inputs: &[Shape]) -> Vec<ParamDecl> {
        let mut p = vec![ParamDecl {
            name: "weight",
            shape: self.weight_shape().to_vec(),
            kind: ParamKind::Trainable,
            init: Init::torch_default_weight(self.fan_in()),
        }];
        if self.bias {
            p.push(ParamDecl {
                name: "bias",
                shape: vec![self.out_channels],
                kind: ParamKind::Trainable,
                init: Init::torch_default_bias(self.fan_in()),
            });
        }
        p
    }

    fn saves(&self, _n: usize) -> Saves {
        Saves {
            inputs: vec![true],
            output: self.activation != Activation::None,
        }
    }

    /// The input is read only for the weight's gradient.
    fn saves_trained(&self, n: usize, trained: &[bool]) -> Saves {
        let mut saves = self.saves(n);
        saves.inputs = vec![trained[0]];
        saves
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let w = param_as(&cx.params[0], cx.dtype)?;
        let b = if self.bias {
            Some(param_as(&cx.params[1], cx.dtype)?)
        } else {
            None
        };
        let spec = Conv2dSpec {
            params: self.params,
            activation: self.activation,
            variant: self.variant,
            precision: None,
        };
        cx.output = Some(conv::conv2d(&cx.inputs[0], &w, b.as_ref(), &spec)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let x = cx.inputs[0].as_ref();
        let dz = fused_activation_grad(self.activation, cx)?;
        let x_shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW input");
        let dx = if cx.need_input_grad[0] {
            let w = param_as(&cx.params[0], cx.dtype)?;
            Some(conv_backward::conv2d_backward_data(
                &dz,
                &w,
                x_shape,
                &self.params,
                None,
            )?)
        } else {
            None
        };
        cx.param_grads = param_grads(cx, x, &dz, self.bias, |x, dz| {
            conv_backward::conv2d_backward_weight(x, dz, self.weight_shape(), &self.params, None)
        })?;
        cx.input_grads = vec![dx];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let geo = self.geometry("reference", x.shape[0], &x.shape[1..])?;
        let bias = self.bias.then(|| params[1]);
        let y = weft_kernels::reference::conv_backward::conv2d_f64(&geo, &x.data, params[0], bias);
        Ok(apply_reference(
            self.activation,
            HostArray::new(geo.out_shape().to_vec(), y),
        ))
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let geo = self
            .geometry("plan", cx.batch, &cx.inputs[0])
            .expect("validated at build time");
        let precision = Precision::for_dtype(cx.device, cx.dtype).expect("float dtype");
        let problem = Conv2dProblem {
            geo,
            bias: self.bias,
            activation: self.activation,
            precision,
        };
        let mut m = MemSeq::new();
        m.alloc(param_cast_bytes(
            geo.weight_shape().iter().product(),
            cx.dtype,
        ));
        if self.bias {
            m.alloc(param_cast_bytes(self.out_channels, cx.dtype));
        }
        m.alloc(cx.bytes(cx.output));
        m.alloc(conv::forward::TABLE.scratch_bytes(cx.device, &problem, self.variant));
        ForwardAlloc {
            extras: Vec::new(),
            peak: m.peak(),
        }
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let geo = self
            .geometry("plan", cx.batch, &cx.inputs[0])
            .expect("validated at build time");
        let precision = Precision::for_dtype(cx.device, cx.dtype).expect("float dtype");
        let scratch = BackwardScratch {
            data: conv_backward::conv2d_backward_data_scratch_bytes(cx.device, &geo, precision),
            weight: conv_backward::conv2d_backward_weight_scratch_bytes(cx.device, &geo, precision),
        };
        let w_numel: usize = geo.weight_shape().iter().product();
        backward_memory(
            cx,
            self.activation,
            self.bias,
            self.out_channels,
            w_numel,
            scratch,
        )
    }
}

/// `nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
/// output_padding, groups, bias, dilation)`; weight `[in, out/groups, kh, kw]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvTranspose2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub params: ConvTranspose2dParams,
    pub bias: bool,
    pub activation: Activation,
    pub variant: Option<&'static ConvTransposeVariant>,
}

impl ConvTranspose2d {
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> ConvTranspose2d {
        ConvTranspose2d {
            in_channels,
            out_channels,
            kernel: [kernel, kernel],
            params: ConvTranspose2dParams::default(),
            bias: true,
            activation: Activation::None,
            variant: None,
        }
    }

    pub fn stride(mut self, stride: usize) -> ConvTranspose2d {
        self.params.stride = [stride, stride];
        self
    }

    pub fn padding(mut self, padding: usize) -> ConvTranspose2d {
        self.params.padding = [padding, padding];
        self
    }

    pub fn output_padding(mut self, output_padding: usize) -> ConvTranspose2d {
        self.params.output_padding = [output_padding, output_padding];
        self
    }

    pub fn dilation(mut self, dilation: usize) -> ConvTranspose2d {
        self.params.dilation = [dilation, dilation];
        self
    }

    pub fn groups(mut self, groups: usize) -> ConvTranspose2d {
        self.params.groups = groups;
        self
    }

    pub fn bias(mut self, bias: bool) -> ConvTranspose2d {
        self.bias = bias;
        self
    }

    pub fn activation(mut self, act: Activation) -> ConvTranspose2d {
        self.activation = act;
        self
    }

    fn weight_shape(&self) -> [usize; 4] {
        [
            self.in_channels,
            self.out_channels / self.params.groups.max(1),
            self.kernel[0],
            self.kernel[1],
        ]
    }

    fn geometry(&self, op: &str, batch: usize, input: &[usize]) -> Result<ConvTranspose2dGeometry> {
        let x = [vec![batch], input.to_vec()].concat();
        ConvTranspose2dGeometry::new(op, &x, &self.weight_shape(), &self.params)
    }

    /// PyTorch computes fan-in from the weight's dimension 1: out/groups · kh · kw.
    fn fan_in(&self) -> usize {
        self.out_channels / self.params.groups.max(1) * self.kernel[0] * self.kernel[1]
    }
}

impl Layer for ConvTranspose2d {
    fn fuse(&self, act: Activation) -> Option<Box<dyn Layer>> {
        (self.activation == Activation::None).then(|| {
            let mut fused = *self;
            fused.activation = act;
            Box::new(fused) as Box<dyn Layer>
        })
    }

    fn kind(&self) -> &'static str {
        "ConvTranspose2d"
    }

    fn flops(&self, inputs: &[Shape], _output: &Shape) -> u64 {
        // Every input element spreads over out/groups · kh · kw outputs.
        2 * inputs[0].iter().product::<usize>() as u64 * self.fan_in() as u64
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, _, _] = chw(name, "ConvTranspose2d", &inputs[0])?;
        if c != self.in_channels {
            return Err(shape_error(
                name,
                format!("expected {} input channels, got {c}", self.in_channels),
            ));
        }
        if self.params.groups == 0 || !self.out_channels.is_multiple_of(self.params.groups) {
            return Err(shape_error(
                name,
                format!(
                    "out_channels ({}) must be divisible by groups ({})",
                    self.out_channels, self.params.groups
                ),
            ));
        }
        let g = self.geometry(&format!("layer \"{name}\""), 1, &inputs[0])?;
        Ok(vec![g.c_out, g.oh, g.ow])
    }

    fn params(&self, _inputs: &[Shape]) -> Vec<ParamDecl> {
        let mut p = vec![ParamDecl {
            name: "weight",
            shape: self.weight_shape().to_vec(),
            kind: ParamKind::Trainable,
            init: Init::torch_default_weight(self.fan_in()),
        }];
        if self.bias {
            p.push(ParamDecl {
                name: "bias",
                shape: vec![self.out_channels],
                kind: ParamKind::Trainable,
                init: Init::torch_default_bias(self.fan_in()),
            });
        }
        p
    }

    fn saves(&self, _n: usize) -> Saves {
        Saves {
            inputs: vec![true],
            output: self.activation != Activation::None,
        }
    }

    /// The input is read only for the weight's gradient.
    fn saves_trained(&self, n: usize, trained: &[bool]) -> Saves {
        let mut saves = self.saves(n);
        saves.inputs = vec![trained[0]];
        saves
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let w = param_as(&cx.params[0], cx.dtype)?;
        let b = if self.bias {
            Some(param_as(&cx.params[1], cx.dtype)?)
        } else {
            None
        };
        let spec = ConvTranspose2dSpec {
            params: self.params,
            activation: self.activation,
            variant: self.variant,
            precision: None,
        };
        cx.output = Some(conv_transpose::conv_transpose2d(
            &cx.inputs[0],
            &w,
            b.as_ref(),
            &spec,
        )?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let x = cx.inputs[0].as_ref();
        let dz = fused_activation_grad(self.activation, cx)?;
        let x_shape: [usize; 4] = cx.input_shapes[0].clone().try_into().expect("NCHW input");
        let dx = if cx.need_input_grad[0] {
            let w = param_as(&cx.params[0], cx.dtype)?;
            Some(conv_backward::conv_transpose2d_backward_data(
                &dz,
                &w,
                x_shape,
                &self.params,
                None,
            )?)
        } else {
            None
        };
        cx.param_grads = param_grads(cx, x, &dz, self.bias, |x, dz| {
            conv_backward::conv_transpose2d_backward_weight(
                x,
                dz,
                self.weight_shape(),
                &self.params,
                None,
            )
        })?;
        cx.input_grads = vec![dx];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let geo = self.geometry("reference", x.shape[0], &x.shape[1..])?;
        let bias = self.bias.then(|| params[1]);
        let y = weft_kernels::reference::conv_transpose::conv_transpose2d_f64(
            &geo, &x.data, params[0], bias,
        );
        Ok(apply_reference(
            self.activation,
            HostArray::new(geo.out_shape().to_vec(), y),
        ))
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let geo = self
            .geometry("plan", cx.batch, &cx.inputs[0])
            .expect("validated at build time");
        let precision = Precision::for_dtype(cx.device, cx.dtype).expect("float dtype");
        let problem = ConvTranspose2dProblem {
            g: GatherGeometry::transposed(&geo),
            bias: self.bias,
            activation: self.activation,
            precision,
        };
        let mut m = MemSeq::new();
        m.alloc(param_cast_bytes(
            geo.weight_shape().iter().product(),
            cx.dtype,
        ));
        if self.bias {
            m.alloc(param_cast_bytes(self.out_channels, cx.dtype));
        }
        m.alloc(cx.bytes(cx.output));
        m.alloc(conv_transpose::TABLE.scratch_bytes(cx.device, &problem, self.variant));
        ForwardAlloc {
            extras: Vec::new(),
            peak: m.peak(),
        }
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let geo = self
            .geometry("plan", cx.batch, &cx.inputs[0])
            .expect("validated at build time");
        let precision = Precision::for_dtype(cx.device, cx.dtype).expect("float dtype");
        let scratch = BackwardScratch {
            data: conv_backward::conv_transpose2d_backward_data_scratch_bytes(
                cx.device, &geo, precision,
            ),
            weight: conv_backward::conv_transpose2d_backward_weight_scratch_bytes(
                cx.device, &geo, precision,
            ),
        };
        let w_numel: usize = geo.weight_shape().iter().product();
        backward_memory(
            cx,
            self.activation,
            self.bias,
            self.out_channels,
            w_numel,
            scratch,
        )
    }
}

/// dz = dy · act'(y) for a fused activation (its output was saved), else dy.
fn fused_activation_grad(act: Activation, cx: &Backward<'_>) -> Result<Tensor> {
    if act == Activation::None {
        return Ok(cx.dy.clone());
    }
    assert!(
        act.grad_uses_output(),
        "only output-saving activations are fused"
    );
    elementwise::activation_backward(cx.output.expect("conv output saved"), cx.dy, act)
}

/// The weight gradient (by `weight_grad` from the saved input and dz) and the
/// bias gradient, each only where the parameter is trained; f32.
fn param_grads(
    cx: &Backward<'_>,
    x: Option<&Tensor>,
    dz: &Tensor,
    bias: bool,
    weight_grad: impl FnOnce(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Vec<Option<Tensor>>> {
    let mut grads = vec![None, None];
    if cx.need_param_grad[0] {
        let x = x.expect("conv input saved when its weight is trained");
        grads[0] = Some(to_f32(weight_grad(x, dz)?)?);
    }
    if bias && cx.need_param_grad[1] {
        grads[1] = Some(to_f32(conv_backward::conv2d_backward_bias(dz)?)?);
    }
    Ok(grads)
}

fn to_f32(t: Tensor) -> Result<Tensor> {
    if t.dtype() == DType::F32 {
        Ok(t)
    } else {
        elementwise::cast(&t, DType::F32)
    }
}

/// Temporaries of a convolution's backward functions, after their outputs.
struct BackwardScratch {
    data: u64,
    weight: u64,
}

/// The allocation sequence of a convolution's backward: dz (fused activation),
/// then dx (with an f16 weight copy), then dW (and its f32 cast), then db (and
/// its cast), each kernel's temporaries allocated after its output.
fn backward_memory(
    cx: &AllocCtx<'_>,
    act: Activation,
    bias: bool,
    out_channels: usize,
    w_numel: usize,
    scratch: BackwardScratch,
) -> BackwardAlloc {
    let w16 = param_cast_bytes(w_numel, cx.dtype);
    let dx = if cx.need_input_grad[0] {
        cx.bytes(&cx.inputs[0])
    } else {
        0
    };
    let need_dw = cx.need_param_grad[0];
    let need_db = bias && cx.need_param_grad[1];
    let dw = if need_dw {
        AllocCtx::raw(&[w_numel], DType::F32)
    } else {
        0
    };
    let db = if need_db {
        AllocCtx::raw(&[out_channels], DType::F32)
    } else {
        0
    };
    let mut m = MemSeq::new();
    if act != Activation::None {
        m.alloc(cx.bytes(cx.output));
    }
    if dx > 0 {
        m.alloc(w16)
            .alloc(dx)
            .alloc(scratch.data)
            .free(scratch.data)
            .free(w16);
    }
    if need_dw {
        let dw_native = cx.dtype.storage_bytes(w_numel);
        m.alloc(dw_native)
            .alloc(scratch.weight)
            .free(scratch.weight);
        if cx.dtype != DType::F32 {
            m.alloc(dw).free(dw_native);
        }
    }
    if need_db {
        let db_native = cx.dtype.storage_bytes(out_channels);
        m.alloc(db_native);
        if cx.dtype != DType::F32 {
            m.alloc(db).free(db_native);
        }
    }
    let mut param_grads = vec![dw];
    if bias {
        param_grads.push(db);
    }
    BackwardAlloc {
        input_grads: vec![dx],
        param_grads,
        peak: m.peak(),
    }
}
