//! Convolutions, laid out as `shaders/conv*/` are:
//!
//! | module | what | shaders |
//! |---|---|---|
//! | [`params`] | hyper-parameters (PyTorch's conventions) and the geometry they resolve to | `conv/params.wgsl`, `conv_transpose/params.wgsl` |
//! | [`forward`] | conv2d: `y = act(conv2d(x, w) + bias)` | `shaders/conv/` |
//! | [`transpose`] | conv_transpose2d | `shaders/conv_transpose/` |
//! | [`backward`] | gradients of both: [`backward::data`], [`backward::weight`], and the bias | `shaders/conv_backward/` |
//!
//! Siblings import from [`params`] and from this module's shared snippets;
//! `backward` uses `forward` and `transpose` (the data gradient runs their
//! kernels), never the reverse.

pub mod backward;
pub mod forward;
pub mod params;
pub mod transpose;

use weft_device::{DType, Error, Result, Shader, ShaderFile, Tensor};

pub use backward::*;
pub use forward::{Conv2dSpec, ConvVariant, conv2d, conv2d_into, shape_class};
pub use params::{
    Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams, Padding,
};
pub use transpose::{
    ConvTranspose2dSpec, ConvTransposeVariant, conv_transpose2d, conv_transpose2d_into,
};

use crate::precision::Precision;
use crate::shaders::wgsl;

/// Parameter block of the gather kernels (transposed convolution, data
/// gradients): [`params::GatherParams`].
pub(crate) const TRANSPOSED_PARAMS: ShaderFile = wgsl!("conv_transpose/params.wgsl");
/// Loads of two T inputs at bindings 1 and 2 (`ld_a`, `ld_b`).
pub(crate) const IN2_TYPED: ShaderFile = wgsl!("conv_backward/in2_typed.wgsl");
/// Loads of two packed-f16 inputs at bindings 1 and 2 (`ld_a`, `ld_b`).
pub(crate) const IN2_F16P: ShaderFile = wgsl!("conv_backward/in2_f16p.wgsl");
/// Stores of a T output at binding 3.
pub(crate) const OUT3_TYPED: ShaderFile = wgsl!("conv_backward/out3_typed.wgsl");
/// Stores of a packed-f16 output at binding 3.
pub(crate) const OUT3_F16P: ShaderFile = wgsl!("conv_backward/out3_f16p.wgsl");

/// Shaders of every convolution module.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    let mut all = forward::shaders();
    all.extend(transpose::shaders());
    all.extend(backward::shaders());
    all
}

/// Output channels per invocation of the register-blocked kernels.
pub(crate) fn channel_block(cout_g: usize) -> usize {
    match cout_g {
        1 => 1,
        2 | 3 => 2,
        4..=7 => 4,
        _ => 8,
    }
}

/// Pixels per invocation of the register-blocked kernels.
pub(crate) fn pixel_block(w_out: usize) -> usize {
    if w_out >= 4 { 4 } else { 1 }
}

/// Both tensors are f32 or f16, and the same.
pub(crate) fn same_float_dtype(
    op: &str,
    a_name: &str,
    a: &Tensor,
    b_name: &str,
    b: &Tensor,
) -> Result<DType> {
    if !a.dtype().is_float() || a.dtype() != b.dtype() {
        return Err(Error::shape(
            op,
            format!(
                "{a_name} and {b_name} must share a float dtype, got {} and {}",
                a.dtype(),
                b.dtype()
            ),
        ));
    }
    Ok(a.dtype())
}

/// The f32 or native-f16 form of a typed shader.
pub(crate) fn typed_shader(t: &'static crate::precision::Typed, p: Precision) -> &'static Shader {
    t.get(p)
        .expect("typed shaders have f32 and f16 forms; packed precision is dispatched separately")
}
