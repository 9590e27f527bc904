//! Elementwise activations as layers.

use weft_device::Result;
use weft_kernels::{Activation, elementwise, reference};

use crate::layer::{Backward, Forward, HostArray, Layer, Saves, Shape};

/// An activation layer: any [`Activation`] (ReLU, LeakyReLU, Sigmoid, Tanh, ELU,
/// GELU, SiLU, Hardtanh/ReLU6, Hardsigmoid, Hardswish). Backward keeps the output for relu/sigmoid/tanh (what PyTorch
/// saves) and the input otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Act(pub Activation);

/// `nn.ReLU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relu;
/// `nn.Sigmoid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sigmoid;
/// `nn.Tanh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tanh;
/// `nn.GELU()` (exact, erf form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gelu;
/// `nn.SiLU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silu;

macro_rules! named_activation {
    ($t:ident, $act:expr, $kind:literal) => {
        impl Layer for $t {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
                Act($act).infer(name, inputs)
            }
            fn saves(&self, n: usize) -> Saves {
                Act($act).saves(n)
            }
            fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
                Act($act).forward(cx)
            }
            fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
                Act($act).backward(cx)
            }
            fn as_activation(&self) -> Option<Activation> {
                Some($act)
            }
            fn reference(&self, inputs: &[HostArray], params: &[&[f64]]) -> Result<HostArray> {
                Act($act).reference(inputs, params)
            }
        }
    };
}

named_activation!(Relu, Activation::Relu, "ReLU");
named_activation!(Sigmoid, Activation::Sigmoid, "Sigmoid");
named_activation!(Tanh, Activation::Tanh, "Tanh");
named_activation!(Gelu, Activation::Gelu, "GELU");
named_activation!(Silu, Activation::Silu, "SiLU");

impl Layer for Act {
    fn kind(&self) -> &'static str {
        match self.0 {
            Activation::None => "Identity",
            Activation::Relu => "ReLU",
            Activation::LeakyRelu(_) => "LeakyReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::Elu(_) => "ELU",
            Activation::Gelu | Activation::GeluTanh => "GELU",
            Activation::Silu => "SiLU",
            Activation::Hardtanh(lo, hi) if lo == 0.0 && hi == 6.0 => "ReLU6",
            Activation::Hardtanh(..) => "Hardtanh",
            Activation::HardSigmoid(..) => "Hardsigmoid",
            Activation::HardSwish => "Hardswish",
        }
    }

    fn infer(&self, _name: &str, inputs: &[Shape]) -> Result<Shape> {
        Ok(inputs[0].clone())
    }

    fn saves(&self, _n: usize) -> Saves {
        let out = self.0.grad_uses_output();
        Saves {
            inputs: vec![!out],
            output: out,
        }
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(elementwise::activation(&cx.inputs[0], self.0)?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let saved = if self.0.grad_uses_output() {
            cx.output.expect("activation output saved")
        } else {
            cx.inputs[0].as_ref().expect("activation input saved")
        };
        cx.input_grads = vec![Some(elementwise::activation_backward(
            saved, cx.dy, self.0,
        )?)];
        Ok(())
    }

    fn as_activation(&self) -> Option<Activation> {
        Some(self.0)
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        Ok(apply_reference(self.0, inputs[0].clone()))
    }
}

/// Applies an activation to a host array in f64.
pub(crate) fn apply_reference(act: Activation, mut x: HostArray) -> HostArray {
    if act != Activation::None {
        x.data
            .iter_mut()
            .for_each(|v| *v = reference::activation::forward(act, *v));
    }
    x
}
