//! `nn.Dropout`.

use weft_device::{Error, Result};
use weft_kernels::dropout;

use crate::layer::{AllocCtx, Backward, Forward, ForwardAlloc, Layer, Shape};

/// `nn.Dropout(p)`: in training zeroes each element with probability `p` and
/// scales the rest by 1/(1−p), from a counter-based RNG seeded per step and
/// layer, so backward regenerates the mask instead of storing it. In evaluation
/// it is the identity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    pub p: f32,
}

impl Dropout {
    pub fn new(p: f32) -> Dropout {
        Dropout { p }
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(Error::invalid(
                format!("layer \"{name}\""),
                "p",
                format!("dropout probability must be in [0, 1), got {}", self.p),
            ));
        }
        Ok(inputs[0].clone())
    }

    fn in_eval_mode(&self) -> Option<Box<dyn Layer>> {
        Some(Box::new(crate::layers::Identity))
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(if cx.train {
            dropout::dropout(&cx.inputs[0], self.p, cx.seed)?
        } else {
            cx.inputs[0].clone()
        });
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        cx.input_grads = vec![Some(dropout::dropout_backward(cx.dy, self.p, cx.seed)?)];
        Ok(())
    }

    fn forward_alloc(&self, cx: &AllocCtx<'_>) -> ForwardAlloc {
        ForwardAlloc {
            extras: Vec::new(),
            peak: if cx.train { cx.bytes(cx.output) } else { 0 },
        }
    }
}
