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
    /// `hardtanh(min_val, max_val)`: x clamped to [min, max] (`relu6` is
    /// `Hardtanh(0, 6)`; ONNX's `Clip`). An infinite bound leaves that side open.
    Hardtanh(f32, f32),
    /// ONNX's `HardSigmoid(alpha, beta)`: max(0, min(1, alpha·x + beta))
    /// (PyTorch's `hardsigmoid` is alpha 1/6, beta 1/2).
    HardSigmoid(f32, f32),
    /// `hardswish`: x · relu6(x + 3) / 6, as PyTorch computes it.
    HardSwish,
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
            Activation::Hardtanh(..) => 9,
            Activation::HardSigmoid(..) => 10,
            Activation::HardSwish => 11,
        }
    }

    /// The `ALPHA` override constant. Override constants must be finite: an
    /// infinite hardtanh bound becomes the largest finite f32, which the
    /// shader reads as "no bound".
    pub fn alpha(self) -> f32 {
        match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) | Activation::HardSigmoid(a, _) => a,
            Activation::Hardtanh(lo, _) => lo.max(f32::MIN),
            _ => 0.01,
        }
    }

    /// The `BETA` override constant: hardtanh's upper bound, hard sigmoid's offset.
    pub fn beta(self) -> f32 {
        match self {
            Activation::Hardtanh(_, hi) => hi.min(f32::MAX),
            Activation::HardSigmoid(_, b) => b,
            _ => 0.0,
        }
    }

    /// Override constants selecting this activation.
    pub fn constants(self) -> [(&'static str, f64); 3] {
        [
            ("ACT", self.code() as f64),
            ("ALPHA", self.alpha() as f64),
            ("BETA", self.beta() as f64),
        ]
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
            Activation::Hardtanh(..) => "hardtanh",
            Activation::HardSigmoid(..) => "hardsigmoid",
            Activation::HardSwish => "hardswish",
        }
    }

    /// Every activation with PyTorch's default parameters.
    pub const ALL: [Activation; 12] = [
        Activation::None,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu(1.0),
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Hardtanh(-1.0, 1.0),
        Activation::HardSigmoid(1.0 / 6.0, 0.5),
        Activation::HardSwish,
    ];
}
