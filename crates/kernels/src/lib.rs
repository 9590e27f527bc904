//! weft's kernels: hand-written WGSL compute shaders (under `shaders/`), a Rust
//! launcher for each, and a CPU reference beside it ([`reference`](mod@reference)).
//!
//! Launchers validate shapes and parameters before anything reaches the GPU and
//! return [`weft_device::Error`] values naming the op, the parameter, and the
//! expected and actual values. Ops with several kernel variants take an optional
//! variant (the benchmark harness and tests enumerate them); `None` picks the
//! default for the problem.

pub mod activation;
pub mod augment;
pub mod batch_norm;
mod binding;
pub mod concat;
pub mod conv;
pub mod dropout;
pub mod elementwise;
pub mod filter;
pub mod gather;
pub mod gemm;
pub mod label;
pub mod loss;
pub mod lrn;
pub mod optim;
pub mod pad;
pub mod peak;
pub mod permute;
pub mod pool;
pub mod precision;
pub mod prelu;
pub mod reduce;
pub mod reference;
pub mod registry;
pub mod shaders;
pub mod softmax;
pub mod testing;
pub mod tune;
pub mod upsample;

pub use activation::Activation;
pub use precision::Precision;

use weft_device::{DType, Error, Result, Tensor};

/// The `[N, C, H, W]` of a float NCHW tensor (`what` names it in errors).
pub(crate) fn float_nchw(op: &str, what: &str, t: &Tensor) -> Result<[usize; 4]> {
    let shape = <[usize; 4]>::try_from(t.shape()).map_err(|_| {
        Error::shape(
            op,
            format!("{what} must be 4-D (NCHW), got shape {:?}", t.shape()),
        )
    })?;
    if !t.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("{what} must be f32 or f16, got {}", t.dtype()),
        ));
    }
    Ok(shape)
}

/// Checks that `x` can be indexed with the kernels' 32-bit element indices.
pub(crate) fn check_u32_elements(op: &str, x: &Tensor) -> Result<()> {
    if x.numel() > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!(
                "input {:?} has more elements than 32-bit indexing allows",
                x.shape()
            ),
        ));
    }
    Ok(())
}

/// Checks that `out` can receive an op's result: the expected shape and dtype,
/// and no storage shared with an input (a kernel cannot read and write one
/// buffer through two bindings).
pub(crate) fn check_output(
    op: &str,
    out: &Tensor,
    shape: &[usize],
    dtype: DType,
    inputs: &[&Tensor],
) -> Result<()> {
    if out.shape() != shape || out.dtype() != dtype {
        return Err(Error::shape(
            op,
            format!(
                "output: expected {shape:?} {dtype}, got {:?} {}",
                out.shape(),
                out.dtype()
            ),
        ));
    }
    if inputs.iter().any(|t| t.shares_storage(out)) {
        return Err(Error::invalid(
            op,
            "output",
            "output shares storage with an input",
        ));
    }
    Ok(())
}
