//! Activation functions: the PyTorch family, fused into GEMM, convolution and
//! batch norm, or run on their own ([`crate::elementwise`]).

/// An activation function, with PyTorch's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    /// `leaky_relu` with this negative slope (PyTorch's default is 0.01).
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// `elu` with this alpha (PyTorch's default is 1.0).
    Elu(f32),
    /// `gelu`, exact form with erf.
    Gelu,
    /// `gelu(approximate="tanh")`.
    GeluTanh,
    /// `silu` (swish): x * sigmoid(x).
    Silu,
}

impl Activation {
    /// The `ACT` override constant of `shaders/common/activation.wgsl`.
    pub fn code(self) -> u32 {
        match self {
            Activation::None => 0,
            Activation::Relu => 1,
            Activation::LeakyRelu(_) => 2,
            Activation::Sigmoid => 3,
            Activation::Tanh => 4,
            Activation::Elu(_) => 5,
            Activation::Gelu => 6,
            Activation::GeluTanh => 7,
            Activation::Silu => 8,
        }
    }

    /// The `ALPHA` override constant.
    pub fn alpha(self) -> f32 {
        match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) => a,
            _ => 0.01,
        }
    }

    /// Override constants selecting this activation.
    pub fn constants(self) -> [(&'static str, f64); 2] {
        [("ACT", self.code() as f64), ("ALPHA", self.alpha() as f64)]
    }

    /// Whether the backward pass needs the activation's output (relu, sigmoid,
    /// tanh) rather than its input.
    pub fn grad_uses_output(self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::Sigmoid | Activation::Tanh
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "none",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Elu(_) => "elu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Silu => "silu",
        }
    }

    /// Every activation with PyTorch's default parameters.
    pub const ALL: [Activation; 9] = [
        Activation::None,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu(1.0),
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
    ];
}
