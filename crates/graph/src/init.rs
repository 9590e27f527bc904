//! Parameter initialisers, seeded and reproducible: PyTorch's defaults for each
//! layer, plus Kaiming and Xavier on request.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// How a parameter's initial values are drawn. `fan_in`/`fan_out` follow
/// PyTorch's `_calculate_fan_in_and_fan_out` (channels × receptive field).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Every element equal.
    Const(f32),
    /// Uniform in `[-bound, bound]`.
    Uniform { bound: f32 },
    /// Normal with mean 0.
    Normal { std: f32 },
    /// `kaiming_uniform_(mode="fan_in")` with the leaky-relu slope `a` (PyTorch's
    /// conv/linear default is `a = √5`, i.e. bound = 1/√fan_in).
    KaimingUniform { fan_in: usize, a: f32 },
    /// `kaiming_normal_(mode="fan_in" or "fan_out", nonlinearity="relu")`: std = √2/√fan.
    KaimingNormal { fan: usize },
    /// `xavier_uniform_`: bound = √(6/(fan_in + fan_out)).
    XavierUniform { fan_in: usize, fan_out: usize },
    /// `xavier_normal_`: std = √(2/(fan_in + fan_out)).
    XavierNormal { fan_in: usize, fan_out: usize },
}

impl Init {
    /// PyTorch's default for a conv/linear weight.
    pub fn torch_default_weight(fan_in: usize) -> Init {
        Init::KaimingUniform {
            fan_in,
            a: 5f32.sqrt(),
        }
    }

    /// PyTorch's default for a conv/linear bias: U(−1/√fan_in, 1/√fan_in).
    pub fn torch_default_bias(fan_in: usize) -> Init {
        Init::Uniform {
            bound: if fan_in > 0 {
                1.0 / (fan_in as f32).sqrt()
            } else {
                0.0
            },
        }
    }

    /// Draws `n` values.
    pub fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        match *self {
            Init::Const(v) => vec![v; n],
            Init::Uniform { bound } => uniform(n, bound, rng),
            Init::Normal { std } => normal(n, std, rng),
            Init::KaimingUniform { fan_in, a } => {
                let gain = (2.0 / (1.0 + a * a)).sqrt();
                let bound = gain * (3.0 / fan_in.max(1) as f32).sqrt();
                uniform(n, bound, rng)
            }
            Init::KaimingNormal { fan } => normal(n, (2.0 / fan.max(1) as f32).sqrt(), rng),
            Init::XavierUniform { fan_in, fan_out } => {
                uniform(n, (6.0 / (fan_in + fan_out).max(1) as f32).sqrt(), rng)
            }
            Init::XavierNormal { fan_in, fan_out } => {
                normal(n, (2.0 / (fan_in + fan_out).max(1) as f32).sqrt(), rng)
            }
        }
    }
}

fn uniform(n: usize, bound: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    if bound <= 0.0 {
        return vec![0.0; n];
    }
    (0..n).map(|_| rng.random_range(-bound..=bound)).collect()
}

fn normal(n: usize, std: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let dist = Normal::new(0.0f32, std.max(0.0)).expect("finite std");
    (0..n).map(|_| dist.sample(rng)).collect()
}

/// A generator for parameter `index` of a model seeded with `seed`: every
/// parameter gets its own stream, so adding a layer does not change the others.
pub fn param_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64 + 1);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_default_weight_bound_is_inverse_sqrt_fan_in() {
        let mut rng = param_rng(1, 0);
        let v = Init::torch_default_weight(25).sample(10_000, &mut rng);
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(max <= 0.2 + 1e-6 && max > 0.19, "{max}");
        let mean: f32 = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.01);
    }

    #[test]
    fn seeded_streams_are_reproducible_and_distinct() {
        let a = Init::Normal { std: 1.0 }.sample(8, &mut param_rng(7, 3));
        let b = Init::Normal { std: 1.0 }.sample(8, &mut param_rng(7, 3));
        let c = Init::Normal { std: 1.0 }.sample(8, &mut param_rng(7, 4));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
