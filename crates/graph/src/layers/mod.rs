//! The layer library. Each layer implements [`Layer`] by
//! calling weft's kernels; constructors follow PyTorch's argument conventions.

pub(crate) mod activation;
mod binary;
mod conv;
mod conv_bn;
mod dropout;
mod linear;
mod lrn;
mod norm;
mod pad;
mod permute;
mod pool;
mod prelu;
mod product;
mod shape;
mod softmax;
mod sync_norm;
mod unpool;
mod upsample;

pub use activation::{Act, Gelu, Relu, Sigmoid, Silu, Tanh};
pub use binary::{Binary, ConstantBinary};
pub use conv::{Conv2d, ConvTranspose2d};
pub use conv_bn::Conv2dBatchNorm;
pub use dropout::Dropout;
pub use linear::Linear;
pub use lrn::LocalResponseNorm;
pub use norm::BatchNorm2d;
pub use pad::Pad2d;
pub use permute::Permute;
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool, MaxPool2d};
pub use prelu::PRelu;
pub use product::Mul;
pub use shape::{Add, Concat, Flatten, Identity, Reshape};
pub use softmax::Softmax;
pub use unpool::MaxUnpool2d;
pub use upsample::{Upsample, UpsampleTarget};

use weft_device::{DType, Error, Result, Tensor};

use crate::layer::Layer;

/// `.boxed()` for any layer, to hand it to [`Graph::add`](crate::Graph::add).
pub trait Boxed: Layer + Sized + 'static {
    fn boxed(self) -> Box<dyn Layer> {
        Box::new(self)
    }
}

impl<T: Layer + Sized + 'static> Boxed for T {}

/// The error for a wrong input shape, named after the layer.
pub(crate) fn shape_error(name: &str, message: impl Into<String>) -> Error {
    Error::shape(format!("layer \"{name}\""), message)
}

/// Expects a per-sample image shape `[C, H, W]`.
pub(crate) fn chw(name: &str, kind: &str, shape: &[usize]) -> Result<[usize; 3]> {
    <[usize; 3]>::try_from(shape).map_err(|_| {
        shape_error(
            name,
            format!("{kind} expects [C, H, W] inputs (NCHW with the batch), got {shape:?}"),
        )
    })
}

/// A parameter in the activation dtype: f32 parameters are cast for f16 networks
/// (a temporary the planner counts as scratch).
pub(crate) fn param_as(p: &Tensor, dtype: DType) -> Result<Tensor> {
    weft_kernels::elementwise::cast(p, dtype)
}

/// Bytes [`param_as`] allocates for a parameter of `numel` elements.
pub(crate) fn param_cast_bytes(numel: usize, dtype: DType) -> u64 {
    if dtype == DType::F32 {
        0
    } else {
        dtype.storage_bytes(numel)
    }
}
