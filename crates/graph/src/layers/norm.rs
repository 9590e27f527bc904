//! `nn.BatchNorm2d`.

use weft_device::{DType, Result};
use weft_kernels::batch_norm::{self, BatchNormSpec};
use weft_kernels::{Activation, Precision, elementwise, reduce};

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
    /// Statistics frozen: normalise with the running statistics in training
    /// too and never update them (torchvision's `FrozenBatchNorm2d`; set by
    /// [`Graph::freeze`](crate::Graph::freeze) once weight and bias are frozen).
    pub frozen: bool,
}

impl BatchNorm2d {
    pub fn new(num_features: usize) -> BatchNorm2d {
        BatchNorm2d {
            num_features,
            eps: 1e-5,
            momentum: 0.1,
            activation: Activation::None,
            frozen: false,
        }
    }

    /// Freezes the statistics (see [`BatchNorm2d::frozen`]).
    pub fn frozen(mut self, frozen: bool) -> BatchNorm2d {
        self.frozen = frozen;
        self
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

impl BatchNorm2d {
    /// Mirrors `batch_norm_eval_backward`'s allocation order (after the fused
    /// activation's gradient).
    fn frozen_backward_alloc(
        &self,
        cx: &AllocCtx<'_>,
        shape: [usize; 4],
        x: u64,
        c: u64,
    ) -> BackwardAlloc {
        let reduce = reduce::channel_sum_scratch_bytes(shape);
        let [need_dx, need_dg, need_db] = [
            cx.need_input_grad[0],
            cx.need_param_grad[0],
            cx.need_param_grad[1],
        ];
        let mut m = MemSeq::new();
        if self.activation != Activation::None {
            m.alloc(x);
        }
        m.alloc(c);
        if need_dx {
            m.alloc(x);
        }
        if need_dg {
            m.alloc(c).alloc(x).free(c).alloc(x).free(x);
            m.alloc(c).alloc(reduce).free(reduce).free(x);
        }
        if need_db {
            m.alloc(c).alloc(reduce).free(reduce);
        }
        let grad = |need: bool, bytes: u64| if need { bytes } else { 0 };
        BackwardAlloc {
            input_grads: vec![grad(need_dx, x)],
            param_grads: vec![grad(need_dg, c), grad(need_db, c), 0, 0],
            peak: m.peak(),
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

    fn with_frozen_statistics(&self) -> Option<Box<dyn Layer>> {
        Some(Box::new(self.frozen(true)))
    }

    fn in_eval_mode(&self) -> Option<Box<dyn Layer>> {
        self.with_frozen_statistics()
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

    /// With frozen statistics the input is read only for the weight's gradient.
    fn saves_trained(&self, n: usize, trained: &[bool]) -> Saves {
        let mut saves = self.saves(n);
        if self.frozen {
            saves.inputs = vec![trained[0]];
        }
        saves
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let [g, b, rm, rv] = [&cx.params[0], &cx.params[1], &cx.params[2], &cx.params[3]];
        if let (true, false, Some(c)) = (cx.train, self.frozen, cx.collective.as_deref_mut()) {
            let (y, saved) =
                super::sync_norm::forward(&self.spec(), &cx.inputs[0], [g, b, rm, rv], c)?;
            cx.output = Some(y);
            cx.extras = saved.to_vec();
        } else if cx.train && !self.frozen {
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
        let dz = if self.activation == Activation::None {
            cx.dy.clone()
        } else {
            elementwise::activation_backward(
                cx.output.expect("output saved"),
                cx.dy,
                self.activation,
            )?
        };
        if self.frozen {
            let [g, rm, rv] = [&cx.params[0], &cx.params[2], &cx.params[3]];
            let need = [
                cx.need_input_grad[0],
                cx.need_param_grad[0],
                cx.need_param_grad[1],
            ];
            let x = cx.inputs[0].as_ref();
            let [dx, dg, db] =
                batch_norm::batch_norm_eval_backward(&dz, x, g, rm, rv, self.eps, need)?;
            cx.input_grads = vec![dx];
            cx.param_grads = vec![dg, db, None, None];
            return Ok(());
        }
        let x = cx.inputs[0].as_ref().expect("batch norm input saved");
        let saved = [&cx.extras[0], &cx.extras[1]];
        let (dx, dg, db) = match cx.collective.as_deref_mut() {
            Some(c) => super::sync_norm::backward(&dz, x, &cx.params[0], saved, c)?,
            None => batch_norm::batch_norm_backward(&dz, x, &cx.params[0], saved[0], saved[1])?,
        };
        cx.input_grads = vec![cx.need_input_grad[0].then_some(dx)];
        cx.param_grads = vec![Some(dg), Some(db), None, None];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        if self.frozen {
            let [n, c, h, w] = x.nchw();
            let (g, b, mean, var) = (params[0], params[1], params[2], params[3]);
            let y = (0..n * c * h * w)
                .map(|i| {
                    let ch = i / (h * w) % c;
                    (x.data[i] - mean[ch]) / (var[ch] + self.eps as f64).sqrt() * g[ch] + b[ch]
                })
                .collect();
            return Ok(crate::layers::activation::apply_reference(
                self.activation,
                HostArray::new(x.shape.clone(), y),
            ));
        }
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
        if cx.train && !self.frozen {
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
        if self.frozen {
            return self.frozen_backward_alloc(cx, shape, x, c);
        }
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
