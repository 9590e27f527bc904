//! `nn.PReLU`.

use weft_device::{DType, Result};
use weft_kernels::{elementwise, prelu};

use crate::init::Init;
use crate::layer::{
    AllocCtx, Backward, BackwardAlloc, Forward, ForwardAlloc, HostArray, Layer, MemSeq, ParamDecl,
    ParamKind, Saves, Shape,
};
use crate::layers::{param_as, param_cast_bytes, shape_error};

/// `nn.PReLU(num_parameters=1, init=0.25)`: `max(0, x) + a·min(0, x)` with one
/// learned slope `a`, or one per channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PRelu {
    pub num_parameters: usize,
    pub init: f32,
}

impl PRelu {
    pub fn new(num_parameters: usize) -> PRelu {
        PRelu {
            num_parameters,
            init: 0.25,
        }
    }
}

impl Layer for PRelu {
    fn kind(&self) -> &'static str {
        "PReLU"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        if self.num_parameters != 1 && s.first() != Some(&self.num_parameters) {
            return Err(shape_error(
                name,
                format!("expected {} channels, got shape {s:?}", self.num_parameters),
            ));
        }
        Ok(s.clone())
    }

    fn params(&self, _inputs: &[Shape]) -> Vec<ParamDecl> {
        vec![ParamDecl {
            name: "weight",
            shape: vec![self.num_parameters],
            kind: ParamKind::Trainable,
            init: Init::Const(self.init),
        }]
    }

    fn saves(&self, _n: usize) -> Saves {
        Saves {
            inputs: vec![true],
            output: false,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        let w = param_as(&cx.params[0], cx.dtype)?;
        cx.output = Some(prelu::prelu(&cx.inputs[0], &w)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let x = cx.inputs[0].as_ref().expect("prelu input saved");
        let w = param_as(&cx.params[0], cx.dtype)?;
        // One kernel makes both gradients; a frozen slope's is dropped here.
        let (dx, dw) = prelu::prelu_backward(x, &w, cx.dy)?;
        drop(w);
        let dw = if !cx.need_param_grad[0] {
            None
        } else if dw.dtype() == DType::F32 {
            Some(dw)
        } else {
            Some(elementwise::cast(&dw, DType::F32)?)
        };
        cx.input_grads = vec![cx.need_input_grad[0].then_some(dx)];
        cx.param_grads = vec![dw];
        Ok(())
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        let mut m = MemSeq::new();
        m.alloc(param_cast_bytes(self.num_parameters, cx.dtype))
            .alloc(cx.bytes(cx.output));
        ForwardAlloc {
            extras: Vec::new(),
            peak: m.peak(),
        }
    }

    fn backward_alloc(&self, cx: &AllocCtx<'_>) -> BackwardAlloc {
        let w16 = param_cast_bytes(self.num_parameters, cx.dtype);
        let x = cx.bytes(&cx.inputs[0]);
        let dw_native = cx.dtype.storage_bytes(self.num_parameters);
        let dw = DType::F32.storage_bytes(self.num_parameters);
        let temp =
            prelu::prelu_backward_temp_bytes(&cx.batched(&cx.inputs[0]), self.num_parameters);
        let mut m = MemSeq::new();
        m.alloc(w16)
            .alloc(x)
            .alloc(dw_native)
            .alloc(temp)
            .free(temp)
            .free(w16);
        let dw = if !cx.need_param_grad[0] {
            m.free(dw_native);
            0
        } else if cx.dtype != DType::F32 {
            m.alloc(dw).free(dw_native);
            dw
        } else {
            dw
        };
        let dx = if cx.need_input_grad[0] { x } else { 0 };
        if dx == 0 {
            m.free(x);
        }
        BackwardAlloc {
            input_grads: vec![dx],
            param_grads: vec![dw],
            peak: m.peak(),
        }
    }

    fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let per_sample: usize = x.shape[1..].iter().product();
        let plane: usize = x.shape[2..].iter().product();
        let y = x
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let a = if self.num_parameters == 1 {
                    params[0][0]
                } else {
                    params[0][(i % per_sample) / plane.max(1)]
                };
                if v >= 0.0 { v } else { a * v }
            })
            .collect();
        Ok(HostArray::new(x.shape.clone(), y))
    }
}
