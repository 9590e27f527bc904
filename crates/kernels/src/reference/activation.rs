//! Activation functions in f64, as PyTorch defines them.

use crate::Activation;

/// act(x) in f64.
pub fn forward(act: Activation, x: f64) -> f64 {
    match act {
        Activation::None => x,
        Activation::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        Activation::LeakyRelu(a) => {
            if x > 0.0 {
                x
            } else {
                x * a as f64
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
        Activation::Elu(a) => {
            if x > 0.0 {
                x
            } else {
                a as f64 * x.exp_m1()
            }
        }
        Activation::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        Activation::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        Activation::Silu => x / (1.0 + (-x).exp()),
        Activation::Hardtanh(lo, hi) => x.max(lo as f64).min(hi as f64),
        Activation::HardSigmoid(a, b) => (a as f64 * x + b as f64).clamp(0.0, 1.0),
        Activation::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
    }
}

/// d act / dx at input x, in f64.
pub fn derivative(act: Activation, x: f64) -> f64 {
    match act {
        Activation::None => 1.0,
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu(a) => {
            if x > 0.0 {
                1.0
            } else {
                a as f64
            }
        }
        Activation::Sigmoid => {
            let s = forward(act, x);
            s * (1.0 - s)
        }
        Activation::Tanh => 1.0 - x.tanh().powi(2),
        Activation::Elu(a) => {
            if x > 0.0 {
                1.0
            } else {
                a as f64 * x.exp()
            }
        }
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            cdf + x * pdf
        }
        Activation::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let t = (c * (x + 0.044715 * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x)
        }
        Activation::Silu => {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 + x * (1.0 - s))
        }
        Activation::Hardtanh(lo, hi) => {
            if x <= lo as f64 || x >= hi as f64 {
                0.0
            } else {
                1.0
            }
        }
        Activation::HardSigmoid(a, b) => {
            let t = a as f64 * x + b as f64;
            if t > 0.0 && t < 1.0 { a as f64 } else { 0.0 }
        }
        Activation::HardSwish => {
            if x < -3.0 {
                0.0
            } else if x <= 3.0 {
                x / 3.0 + 0.5
            } else {
                1.0
            }
        }
    }
}

/// Scale of the error an f32 kernel may make computing act(x) = y, beyond the
/// error already in x: a few ulps of |y| for the piecewise-linear functions, and
/// an absolute allowance for the exp/tanh-based ones, whose WGSL accuracy is
/// absolute near zero (tanh inherits sinh/cosh's).
pub fn error_scale(act: Activation, x: f64, y: f64) -> f64 {
    match act {
        Activation::None
        | Activation::Relu
        | Activation::LeakyRelu(_)
        | Activation::Hardtanh(..) => y.abs(),
        // One rounding in the affine map, one or two in the product.
        Activation::HardSigmoid(..) | Activation::HardSwish => y.abs() + x.abs(),
        _ => y.abs() + 1.0 + x.abs(),
    }
}
