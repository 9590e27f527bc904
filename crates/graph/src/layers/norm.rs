//! `nn.BatchNorm2d`.

use weft_device::{DType, Result};
use weft_kernels::batch_norm::{self, BatchNormSpec};
use weft_kernels::{Activation, Precision, elementwise};

use crate::init::Init;
use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, ForwardAlloc, HostArray, Layer, MemSeq, ParamDecl,
    ParamKind, Saves, Shape,
};
use crate::layers::{chw, shape_error};

/// `nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True,
/// track_running_stats=True)`. Parameters `weight` (γ), `bias` (β); buffers
/// `running_mean`, `running_var` (and `num_batches_tracked`, kept by the model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm2d {
    pub num_features: usize,
    pub eps: f32,
    pub momentum: f32,
    /// Activation fused after the affine transform.
    pub activation: Activation,
}

impl BatchNorm2d {
    pub fn new(num_features: usize) -> BatchNorm2d {
        BatchNorm2d {
            num_features,
            eps: 1e-5,
            momentum: 0.1,
            activation: Activation::None,
        }
    }

    pub fn eps(mut self, eps: f32) -> BatchNorm2d {
        self.eps = eps;
        self
    }

    pub fn momentum(mut self, momentum: f32) -> BatchNorm2d {
        self.momentum = momentum;
        self
    }

    pub fn activation(mut self, act: Activation) -> BatchNorm2d {
        self.activation = act;
        self
    }

    fn spec(&self) -> BatchNormSpec {
        BatchNormSpec {
            eps: self.eps,
            momentum: self.momentum,
            activation: self.activation,
            precision: None,
        }
    }
}

impl Layer for BatchNorm2d {
    fn as_batch_norm(&self) -> Option<&BatchNorm2d> {
        Some(self)
    }

    fn fuse(&self, act: Activation) -> Option<Box<dyn Layer>> {
        (self.activation == Activation::None).then(|| {
            let mut fused = *self;
            fused.activation = act;
            Box::new(fused) as Box<dyn Layer>
        })
    }

    fn kind(&self) -> &'static str {
        "BatchNorm2d"
    }

    fn tracks_batches(&self) -> bool {
        true
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [c, _, _] = chw(name, "BatchNorm2d", &inputs[0])?;
        if c != self.num_features {
            return Err(shape_error(
                name,
                format!("expected {} channels, got {c}", self.num_features),
            ));
        }
        Ok(inputs[0].clone())
    }

    fn params(&self, _inputs: &[Shape]) -> Vec<ParamDecl> {
        let c = vec![self.num_features];
        let decl = |name, kind, init| ParamDecl {
            name,
            shape: c.clone(),
            kind,
            init,
        };
        vec![
            decl("weight", ParamKind::Trainable, Init::Const(1.0)),
            decl("bias", ParamKind::Trainable, Init::Const(0.0)),
            decl("running_mean", ParamKind::Buffer, Init::Const(0.0)),
            decl("running_var", ParamKind::Buffer, Init::Const(1.0)),
        ]
    }

    fn saves(&self, _n: usize) -> Saves {
        Saves {
            inputs: vec![true],
            output: self.activation != Activation::None,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let [g, b, rm, rv] = [&cx.params[0], &cx.params[1], &cx.params[2], &cx.params[3]];
        if cx.train {
            let out = batch_norm::batch_norm_train(&cx.inputs[0], g, b, rm, rv, &self.spec())?;
            cx.output = Some(out.y);
            cx.extras = vec![out.save_mean, out.save_invstd];
        } else {
            cx.output = Some(batch_norm::batch_norm_eval(
                &cx.inputs[0],
                g,
                b,
                rm,
                rv,
                &self.spec(),
            )?);
        }
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let x = cx.inputs[0].as_ref().expect("batch norm input saved");
        let dz = if self.activation == Activation::None {
            cx.dy.clone()
        } else {
            elementwise::activation_backward(
                cx.output.expect("output saved"),
                cx.dy,
                self.activation,
            )?
        };
        let (dx, dg, db) =
            batch_norm::batch_norm_backward(&dz, x, &cx.params[0], &cx.extras[0], &cx.extras[1])?;
        cx.input_grads = vec![cx.need_input_grad[0].then_some(dx)];
        cx.param_grads = vec![Some(dg), Some(db), None, None];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let (y, _, _) = weft_kernels::reference::batch_norm::forward_f64(
            &x.data,
            x.nchw(),
            params[0],
            params[1],
            self.eps as f64,
        );
        Ok(crate::layers::activation::apply_reference(
            self.activation,
            HostArray::new(x.shape.clone(), y),
        ))
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let c = AllocCtx::raw(&[self.num_features], DType::F32);
        let out = cx.bytes(cx.output);
        let shape: [usize; 4] = cx.batched(&cx.inputs[0]).try_into().expect("NCHW");
        let precision = Precision::for_dtype(cx.device, cx.dtype).expect("float dtype");
        let scratch = batch_norm::batch_norm_train_scratch_bytes(cx.device, shape, precision);
        let mut m = MemSeq::new();
        if cx.train {
            m.alloc(scratch).alloc(out).alloc(c).alloc(c).free(scratch);
            ForwardAlloc {
                extras: vec![c, c],
                peak: m.peak(),
            }
        } else {
            ForwardAlloc {
                extras: Vec::new(),
                peak: out,
            }
        }
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let c = AllocCtx::raw(&[self.num_features], DType::F32);
        let x = cx.bytes(&cx.inputs[0]);
        let shape: [usize; 4] = cx.batched(&cx.inputs[0]).try_into().expect("NCHW");
        let precision = Precision::for_dtype(cx.device, cx.dtype).expect("float dtype");
        let scratch = batch_norm::batch_norm_scratch_bytes(cx.device, shape, precision);
        let mut m = MemSeq::new();
        if self.activation != Activation::None {
            m.alloc(x);
        }
        m.alloc(scratch).alloc(x).alloc(c).alloc(c).free(scratch);
        let dx = if cx.need_input_grad[0] { x } else { 0 };
        BackwardAlloc {
            input_grads: vec![dx],
            param_grads: vec![c, c, 0, 0],
            peak: m.peak(),
        }
    }
}
