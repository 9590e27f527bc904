//! `nn.Linear`: y = x·Wᵀ + b on GEMM, with an optionally fused activation,
//! over the last dimension of inputs of any rank (leading dimensions are
//! rows, as PyTorch's).

use weft_device::{DType, Result, Tensor};
use weft_kernels::gemm::{self, BiasMode, GemmSpec};
use weft_kernels::reduce;
use weft_kernels::{Activation, elementwise};

use crate::init::Init;
use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, ForwardAlloc, HostArray, Layer, MemSeq, ParamDecl,
    ParamKind, Saves, Shape,
};
use crate::layers::{param_as, param_cast_bytes, shape_error};

/// `nn.Linear(in_features, out_features, bias=True)`: weight `[out, in]`, bias `[out]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    pub bias: bool,
    /// Activation applied to the output (set by the fusion pass or by hand).
    pub activation: Activation,
}

impl Linear {
    pub fn new(in_features: usize, out_features: usize) -> Linear {
        Linear {
            in_features,
            out_features,
            bias: true,
            activation: Activation::None,
        }
    }

    pub fn bias(mut self, bias: bool) -> Linear {
        self.bias = bias;
        self
    }

    /// Fuses `act` into the layer's output.
    pub fn activation(mut self, act: Activation) -> Linear {
        self.activation = act;
        self
    }

    /// `t` (batched, features last) as rows of `features`: a view.
    fn rows(t: &Tensor, features: usize) -> Result<Tensor> {
        t.reshape(&[t.numel() / features.max(1), features])
    }
}

impl Layer for Linear {
    fn fuse(&self, act: Activation) -> Option<Box<dyn Layer>> {
        (self.activation == Activation::None).then(|| {
            let mut fused = *self;
            fused.activation = act;
            Box::new(fused) as Box<dyn Layer>
        })
    }

    fn kind(&self) -> &'static str {
        "Linear"
    }

    fn flops(&self, inputs: &[Shape], _output: &Shape) -> u64 {
        let rows: usize = inputs[0][..inputs[0].len().saturating_sub(1)]
            .iter()
            .product();
        2 * (rows * self.in_features * self.out_features) as u64
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        let Some((&features, leading)) = s.split_last() else {
            return Err(shape_error(
                name,
                "Linear needs inputs with a features dimension, got a scalar".to_string(),
            ));
        };
        if features != self.in_features {
            let message = if leading.is_empty() {
                format!(
                    "expected {} input features, got {features}",
                    self.in_features
                )
            } else {
                format!(
                    "expected {} input features in the last dimension of {s:?}, got {features} (to use all of an image, add a Flatten)",
                    self.in_features
                )
            };
            return Err(shape_error(name, message));
        }
        Ok([leading, &[self.out_features]].concat())
    }

    fn params(&self, _inputs: &[Shape]) -> Vec<ParamDecl> {
        let mut p = vec![ParamDecl {
            name: "weight",
            shape: vec![self.out_features, self.in_features],
            kind: ParamKind::Trainable,
            init: Init::torch_default_weight(self.in_features),
        }];
        if self.bias {
            p.push(ParamDecl {
                name: "bias",
                shape: vec![self.out_features],
                kind: ParamKind::Trainable,
                init: Init::torch_default_bias(self.in_features),
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
        let spec = GemmSpec {
            trans_b: true,
            bias: if self.bias {
                BiasMode::PerColumn
            } else {
                BiasMode::None
            },
            activation: self.activation,
            ..Default::default()
        };
        let x = &cx.inputs[0];
        let y = gemm::gemm(&Self::rows(x, self.in_features)?, &w, b.as_ref(), &spec)?;
        let mut shape = x.shape().to_vec();
        *shape.last_mut().expect("features") = self.out_features;
        cx.output = Some(y.reshape(&shape)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let x = cx.inputs[0].as_ref();
        let dz = if self.activation == Activation::None {
            cx.dy.clone()
        } else {
            let saved = if self.activation.grad_uses_output() {
                cx.output.expect("linear output saved").clone()
            } else {
                unreachable!("only output-saving activations are fused into Linear")
            };
            elementwise::activation_backward(&saved, cx.dy, self.activation)?
        };
        let dz = Self::rows(&dz, self.out_features)?;
        let dx = if cx.need_input_grad[0] {
            let w = param_as(&cx.params[0], cx.dtype)?;
            let dx = gemm::gemm(&dz, &w, None, &GemmSpec::default())?;
            Some(dx.reshape(&cx.input_shapes[0])?)
        } else {
            None
        };
        let mut grads = vec![None, None];
        if cx.need_param_grad[0] {
            let x = Self::rows(x.expect("linear input saved"), self.in_features)?;
            let dw = gemm::gemm(
                &dz,
                &x,
                None,
                &GemmSpec {
                    trans_a: true,
                    ..Default::default()
                },
            )?;
            grads[0] = Some(if cx.dtype == DType::F32 {
                dw
            } else {
                elementwise::cast(&dw, DType::F32)?
            });
        }
        if self.bias && cx.need_param_grad[1] {
            let n = dz.dim(0);
            grads[1] = Some(reduce::channel_sum(&dz.reshape(&[
                n,
                self.out_features,
                1,
                1,
            ])?)?);
        }
        cx.input_grads = vec![dx];
        cx.param_grads = grads;
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let (fin, fout) = (self.in_features, self.out_features);
        let n = x.data.len() / fin.max(1);
        let mut y = vec![0.0; n * fout];
        for r in 0..n {
            for o in 0..fout {
                let mut acc = if self.bias { params[1][o] } else { 0.0 };
                for i in 0..fin {
                    acc += x.data[r * fin + i] * params[0][o * fin + i];
                }
                y[r * fout + o] = acc;
            }
        }
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("features") = fout;
        Ok(crate::layers::activation::apply_reference(
            self.activation,
            HostArray::new(shape, y),
        ))
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let mut m = MemSeq::new();
        m.alloc(param_cast_bytes(
            self.in_features * self.out_features,
            cx.dtype,
        ));
        if self.bias {
            m.alloc(param_cast_bytes(self.out_features, cx.dtype));
        }
        m.alloc(cx.bytes(cx.output));
        ForwardAlloc {
            extras: Vec::new(),
            peak: m.peak(),
        }
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let w_numel = self.in_features * self.out_features;
        // Rows: the batch times the leading dimensions.
        let rows = cx.batch * cx.output[..cx.output.len() - 1].iter().product::<usize>();
        let w16 = param_cast_bytes(w_numel, cx.dtype);
        let dx = if cx.need_input_grad[0] {
            cx.bytes(&cx.inputs[0])
        } else {
            0
        };
        let need_dw = cx.need_param_grad[0];
        let need_db = self.bias && cx.need_param_grad[1];
        let dw = if need_dw {
            AllocCtx::raw(&[w_numel], DType::F32)
        } else {
            0
        };
        let db = if need_db {
            AllocCtx::raw(&[self.out_features], DType::F32)
        } else {
            0
        };
        let mut m = MemSeq::new();
        if self.activation != Activation::None {
            m.alloc(cx.bytes(cx.output)); // dz
        }
        if dx > 0 {
            // A weight wider than one binding splits the product's reduction,
            // holding one partial product meanwhile.
            let split = gemm::gemm_temp_bytes(
                cx.device,
                &[rows, self.out_features],
                &[self.out_features, self.in_features],
                &GemmSpec::default(),
                cx.dtype,
            );
            m.alloc(w16).alloc(dx).alloc(split).free(split).free(w16);
        }
        if need_dw {
            m.alloc(w16).alloc(dw).free(w16); // f16 dW, then its f32 cast
        }
        let reduce_scratch = if need_db {
            reduce::channel_sum_scratch_bytes([rows, self.out_features, 1, 1])
        } else {
            0
        };
        m.alloc(reduce_scratch).alloc(db).free(reduce_scratch);
        let mut param_grads = vec![dw];
        if self.bias {
            param_grads.push(db);
        }
        BackwardAlloc {
            input_grads: vec![dx],
            param_grads,
            peak: m.peak(),
        }
    }
}
