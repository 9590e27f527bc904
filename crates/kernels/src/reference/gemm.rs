//! GEMM reference: `C[b] = op(A[b]) · op(B[b]) + bias`, then activation.

use super::RefOut;
use super::activation;
use crate::Activation;
use crate::gemm::{BiasMode, GemmDims};

/// Reference GEMM over data laid out as the launcher expects (see [`GemmDims`]).
/// `scale` is Σₖ|A·B| + |bias|; the activation is applied to the value and its
/// scale is propagated through the activation's slope bound (≤ 1 for every
/// activation weft has, except elu/gelu overshoot which stays below 1.13).
pub fn gemm(
    dims: &GemmDims,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    bias_mode: BiasMode,
    act: Activation,
) -> RefOut {
    let GemmDims { batch, m, n, .. } = *dims;
    let mut out = RefOut::with_capacity(batch * m * n);
    for i in 0..batch * m * n {
        let (y, scale) = gemm_at(dims, a, b, bias, bias_mode, act, i);
        out.push(y, scale);
    }
    out
}

/// The value and scale of [`gemm`]'s output element `index` (flat over
/// `[batch, M, N]`) alone, for checking samples of outputs too large to
/// compute whole.
pub fn gemm_at(
    dims: &GemmDims,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    bias_mode: BiasMode,
    act: Activation,
    index: usize,
) -> (f64, f64) {
    let GemmDims { m, n, k, .. } = *dims;
    let (bt, row, col) = (index / (m * n), (index / n) % m, index % n);
    let mut acc = 0.0f64;
    let mut mag = 0.0f64;
    for kk in 0..k {
        let prod = a[dims.a_index(bt, row, kk)] as f64 * b[dims.b_index(bt, kk, col)] as f64;
        acc += prod;
        mag += prod.abs();
    }
    if let Some(bias) = bias {
        let bv = match bias_mode {
            BiasMode::None => 0.0,
            BiasMode::PerRow => bias[row] as f64,
            BiasMode::PerColumn => bias[col] as f64,
        };
        acc += bv;
        mag += bv.abs();
    }
    let y = activation::forward(act, acc);
    // Error in acc is scaled by |act'| (≤ 1.13 for all of weft's activations);
    // the activation adds its own.
    (y, 1.13 * mag + activation::error_scale(act, acc, y))
}
