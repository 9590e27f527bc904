//! CPU references for every kernel: plain loops, accumulating in f64.
//!
//! Each reference returns the exact-as-possible result and, per element, the
//! *scale* of the computation: the sum of the magnitudes of the terms that were
//! added (Σ|aᵢbᵢ| for a dot product). Rounding error of a sum is bounded by a
//! multiple of ε·scale, not of ε·|result| (which fails wherever terms cancel), so
//! tests compare with |gpu − ref| ≤ c·ε·scale.

pub mod activation;
pub mod batch_norm;
pub mod concat;
pub mod conv;
pub mod conv_backward;
pub mod conv_transpose;
pub mod dropout;
pub mod filter;
pub mod gemm;
pub mod label;
pub mod loss;
pub mod lrn;
pub mod optim;
pub mod pad;
pub mod pool;
pub mod prelu;
pub mod reduce;
pub mod softmax;
pub mod upsample;

/// A reference result and the scale of each element's computation.
#[derive(Debug, Clone, Default)]
pub struct RefOut {
    pub value: Vec<f64>,
    pub scale: Vec<f64>,
}

impl RefOut {
    pub fn with_capacity(n: usize) -> Self {
        RefOut {
            value: Vec::with_capacity(n),
            scale: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, value: f64, scale: f64) {
        self.value.push(value);
        self.scale.push(scale);
    }

    pub fn len(&self) -> usize {
        self.value.len()
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}
