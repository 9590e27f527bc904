//! A convolution with the evaluation-mode batch norm after it folded into its
//! weights: `w' = w · γ/√(var + ε)` per output channel and
//! `b' = (b − mean) · γ/√(var + ε) + β`, computed on the device at every
//! forward (so it always reflects the current weights and running statistics)
//! and then one convolution with bias and the fused activation. Inference
//! skips batch norm's pass over the activations and the activation's own pass;
//! folding costs one pass over the weights, so where the weights outnumber the
//! batch's outputs (deep layers at batch 1: 2.4 M weights against 25 K
//! outputs for ResNet-18's last convolutions) the layer runs the convolution
//! and then batch norm's pass instead. [`Graph::fused`](crate::Graph::fused)
//! builds it for inference only: it has no backward.

use weft_device::{DType, Error, Result};
use weft_kernels::batch_norm::{self, BatchNormSpec};
use weft_kernels::conv::forward::Conv2dProblem;
use weft_kernels::conv::{self, Conv2dSpec};
use weft_kernels::{Activation, Precision};

use crate::layer::{
    AllocCtx, Backward, Forward, ForwardAlloc, HostArray, Layer, MemSeq, ParamDecl, Shape,
};
use crate::layers::activation::apply_reference;
use crate::layers::{BatchNorm2d, Conv2d, param_as, param_cast_bytes};

/// `Conv2d` followed by `BatchNorm2d` in evaluation mode, as one layer. Its
/// parameters are the convolution's, then batch norm's (weight, bias,
/// running_mean, running_var).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dBatchNorm {
    pub conv: Conv2d,
    pub eps: f32,
    /// Applied after the folded affine transform (the convolution's own
    /// activation must be none: batch norm came after it).
    pub activation: Activation,
}

impl Conv2dBatchNorm {
    /// The fold of `conv` and `bn`, where the convolution has no activation of
    /// its own (one between them could not be folded through).
    pub fn new(conv: Conv2d, bn: &BatchNorm2d) -> Option<Conv2dBatchNorm> {
        (conv.activation == Activation::None && conv.out_channels == bn.num_features).then_some(
            Conv2dBatchNorm {
                conv,
                eps: bn.eps,
                activation: bn.activation,
            },
        )
    }

    /// Index of batch norm's first parameter.
    fn bn_at(&self) -> usize {
        1 + self.conv.bias as usize
    }

    /// Whether to fold at this geometry: when the weights are no more than
    /// the outputs batch norm's pass would read and write.
    fn folds(geo: &weft_kernels::conv::params::Conv2dGeometry) -> bool {
        let weights: usize = geo.weight_shape().iter().product();
        weights <= geo.out_shape().iter().product::<usize>()
    }

    fn bn_spec(&self) -> BatchNormSpec {
        BatchNormSpec {
            eps: self.eps,
            momentum: 0.1,
            activation: self.activation,
            precision: None,
        }
    }
}

impl Layer for Conv2dBatchNorm {
    fn fuse(&self, act: Activation) -> Option<Box<dyn Layer>> {
        (self.activation == Activation::None).then(|| {
            let mut fused = *self;
            fused.activation = act;
            Box::new(fused) as Box<dyn Layer>
        })
    }

    fn kind(&self) -> &'static str {
        "Conv2d+BatchNorm2d"
    }

    fn flops(&self, inputs: &[Shape], output: &Shape) -> u64 {
        self.conv.flops(inputs, output)
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.conv.infer(name, inputs)
    }

    fn params(&self, inputs: &[Shape]) -> Vec<ParamDecl> {
        let bn = BatchNorm2d::new(self.conv.out_channels);
        [self.conv.params(inputs), bn.params(inputs)].concat()
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        if cx.train {
            return Err(Error::invalid(
                "Conv2d+BatchNorm2d",
                "mode",
                "a folded convolution and batch norm runs in evaluation mode only",
            ));
        }
        let w = param_as(&cx.params[0], cx.dtype)?;
        let b = if self.conv.bias {
            Some(param_as(&cx.params[1], cx.dtype)?)
        } else {
            None
        };
        let k = self.bn_at();
        let [gamma, beta, mean, var] = [
            &cx.params[k],
            &cx.params[k + 1],
            &cx.params[k + 2],
            &cx.params[k + 3],
        ];
        let x = &cx.inputs[0];
        let geo = self.conv.geometry("forward", x.dim(0), &x.shape()[1..])?;
        if !Self::folds(&geo) {
            let spec = Conv2dSpec {
                params: self.conv.params,
                activation: Activation::None,
                variant: self.conv.variant,
                precision: None,
            };
            let y = conv::conv2d(x, &w, b.as_ref(), &spec)?;
            let spec = self.bn_spec();
            cx.output = Some(batch_norm::batch_norm_eval(
                &y, gamma, beta, mean, var, &spec,
            )?);
            return Ok(());
        }
        let (w, b) = batch_norm::fold_into_conv(&w, b.as_ref(), gamma, beta, mean, var, self.eps)?;
        let spec = Conv2dSpec {
            params: self.conv.params,
            activation: self.activation,
            variant: self.conv.variant,
            precision: None,
        };
        cx.output = Some(conv::conv2d(x, &w, Some(&b), &spec)?);
        Ok(())
    }

    fn backward(&self, _cx: &mut Backward<'_>) -> Result<()> {
        Err(Error::invalid(
            "Conv2d+BatchNorm2d",
            "backward",
            "a folded convolution and batch norm has no backward (gradients run on the unfolded graph)",
        ))
    }

    /// The evaluation-mode forward in f64: batch norm with its running
    /// statistics (unlike the training-mode references of other layers).
    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let geo = self.conv.geometry("reference", x.shape[0], &x.shape[1..])?;
        let k = self.bn_at();
        let [gamma, beta, mean, var] = [params[k], params[k + 1], params[k + 2], params[k + 3]];
        let scale: Vec<f64> = (0..self.conv.out_channels)
            .map(|o| gamma[o] / (var[o] + self.eps as f64).sqrt())
            .collect();
        let per_out = params[0].len() / self.conv.out_channels.max(1);
        let w: Vec<f64> = params[0]
            .iter()
            .enumerate()
            .map(|(i, w)| w * scale[i / per_out])
            .collect();
        let b: Vec<f64> = (0..self.conv.out_channels)
            .map(|o| {
                let b = if self.conv.bias { params[1][o] } else { 0.0 };
                (b - mean[o]) * scale[o] + beta[o]
            })
            .collect();
        let y = weft_kernels::reference::conv_backward::conv2d_f64(&geo, &x.data, &w, Some(&b));
        Ok(apply_reference(
            self.activation,
            HostArray::new(geo.out_shape().to_vec(), y),
        ))
    }

    /// Mirrors `forward`: the parameter casts, the fold's copies (in f16 also
    /// its f32 bias and the bias in f32), then the convolution's output and
    /// scratch; unfolded, the convolution's output and scratch, then batch
    /// norm's output.
    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let geo = self
            .conv
            .geometry("plan", cx.batch, &cx.inputs[0])
            .expect("validated at build time");
        let precision = Precision::for_dtype(cx.device, cx.dtype).expect("float dtype");
        let folds = Self::folds(&geo);
        let problem = Conv2dProblem {
            geo,
            bias: folds || self.conv.bias,
            activation: if folds {
                self.activation
            } else {
                Activation::None
            },
            precision,
        };
        let (wn, c) = (geo.weight_shape().iter().product(), self.conv.out_channels);
        let mut m = MemSeq::new();
        m.alloc(param_cast_bytes(wn, cx.dtype));
        if self.conv.bias {
            m.alloc(param_cast_bytes(c, cx.dtype));
        }
        let scratch = conv::forward::TABLE.scratch_bytes(cx.device, &problem, self.conv.variant);
        if !folds {
            let y = cx.bytes(cx.output);
            m.alloc(y).alloc(scratch).free(scratch).alloc(y);
            return ForwardAlloc {
                extras: Vec::new(),
                peak: m.peak(),
            };
        }
        // fold_into_conv: w', the bias in f32 (a copy only when it is f16),
        // b' in f32, and in f16 b' stored as f16 (the f32 copies then freed).
        m.alloc(AllocCtx::raw(&[wn], cx.dtype));
        let b32 = if self.conv.bias && cx.dtype != DType::F32 {
            AllocCtx::raw(&[c], DType::F32)
        } else {
            0
        };
        let bf32 = AllocCtx::raw(&[c], DType::F32);
        m.alloc(b32).alloc(bf32);
        if cx.dtype != DType::F32 {
            m.alloc(AllocCtx::raw(&[c], cx.dtype)).free(bf32).free(b32);
        }
        m.alloc(cx.bytes(cx.output));
        m.alloc(scratch);
        ForwardAlloc {
            extras: Vec::new(),
            peak: m.peak(),
        }
    }
}
