//! PReLU with PyTorch's semantics: `y = x > 0 ? x : w[c]·x` with one weight
//! shared by every element (`[1]`, or a scalar) or one per channel (`[C]`,
//! channels being dim 1 of an input of rank ≥ 2), and its backward, whose
//! weight gradient is reduced deterministically in two passes with f32
//! accumulation.
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `prelu/prelu` | f32, f16 | one element per invocation |
//! | `prelu/backward` | f32, f16 | one workgroup per (channel, 2048-element chunk): dx, and a partial weight gradient |
//! | `prelu/weight_grad` | f32, f16 | one workgroup per channel: adds the partials |
//!
//! Packed f16 has no PReLU kernels: without shader-f16, f16 tensors are a
//! `MissingFeature` error.

use weft_device::{Binding, DType, Error, Kernel, Result, ShaderFile, Tensor};

use crate::precision::Precision;
use crate::shaders;

const WG: usize = 64;
/// Invocations per workgroup of the reductions.
const REDUCE_WG: usize = 256;
/// Elements one invocation of `prelu/backward` covers.
const ITEMS: usize = 8;
/// Elements of one channel a `prelu/backward` workgroup covers.
const CHUNK: usize = REDUCE_WG * ITEMS;

const PARAMS: ShaderFile = shaders::wgsl!("prelu/params.wgsl");

shaders::typed!(PRELU, [PARAMS], "prelu/prelu.wgsl");
shaders::typed!(PRELU_BACKWARD, [PARAMS], "prelu/backward.wgsl");
shaders::typed!(PRELU_WEIGHT_GRAD, [PARAMS], "prelu/weight_grad.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[&PRELU, &PRELU_BACKWARD, &PRELU_WEIGHT_GRAD], &[])
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PreluUniform {
    n: u32,
    inner: u32,
    channels: u32,
    per_channel: u32,
    chunks: u32,
    chunk_len: u32,
    _pad: [u32; 2],
}

/// How the input is viewed against the weight: `[outer, channels, inner]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    outer: usize,
    channels: usize,
    inner: usize,
}

impl Layout {
    fn per_channel(&self) -> usize {
        self.outer * self.inner
    }

    fn chunks(&self) -> usize {
        self.per_channel().div_ceil(CHUNK)
    }

    fn uniform(&self) -> PreluUniform {
        PreluUniform {
            n: (self.outer * self.channels * self.inner) as u32,
            inner: self.inner as u32,
            channels: self.channels as u32,
            per_channel: self.per_channel() as u32,
            chunks: self.chunks() as u32,
            chunk_len: CHUNK as u32,
            _pad: [0; 2],
        }
    }
}

/// Checks `x` against `weight` (PyTorch's rules: rank ≥ 1 input, a scalar or
/// 1-D weight of 1 or C = `x.shape[1]` elements, C = 1 for 1-D inputs).
fn layout(op: &str, x: &Tensor, weight: &Tensor) -> Result<Layout> {
    if !x.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("expected an f32 or f16 input, got {}", x.dtype()),
        ));
    }
    if x.rank() == 0 {
        return Err(Error::shape(op, "input must have rank >= 1, got a scalar"));
    }
    if weight.rank() > 1 {
        return Err(Error::shape(
            op,
            format!(
                "weight must be a scalar or 1-D, got shape {:?}",
                weight.shape()
            ),
        ));
    }
    if weight.dtype() != x.dtype() {
        return Err(Error::shape(
            op,
            format!(
                "weight: expected dtype {} like the input, got {}",
                x.dtype(),
                weight.dtype()
            ),
        ));
    }
    crate::check_u32_elements(op, x)?;
    let c = if x.rank() >= 2 { x.shape()[1] } else { 1 };
    match weight.numel() {
        1 => Ok(Layout {
            outer: 1,
            channels: 1,
            inner: x.numel(),
        }),
        k if k == c => Ok(Layout {
            outer: x.shape()[0],
            channels: c,
            inner: x.shape()[2..].iter().product(),
        }),
        k => Err(Error::shape(
            op,
            format!(
                "weight has {k} parameters; expected 1 or the {c} channels of input {:?}",
                x.shape()
            ),
        )),
    }
}

/// `y = x > 0 ? x : w[c]·x`.
pub fn prelu(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let y = x.device().empty(x.shape(), x.dtype())?;
    prelu_into(x, weight, &y)?;
    Ok(y)
}

/// [`prelu`] into `y`.
pub fn prelu_into(x: &Tensor, weight: &Tensor, y: &Tensor) -> Result<()> {
    let op = "prelu";
    let l = layout(op, x, weight)?;
    let dev = x.device();
    let precision = Precision::typed_only(op, dev, x.dtype())?;
    crate::check_output(op, y, x.shape(), x.dtype(), &[x, weight])?;
    let shader = PRELU
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&l.uniform()),
        &[
            Binding::Read(x.binding()),
            Binding::Read(weight.binding()),
            Binding::ReadWrite(y.binding()),
        ],
        x.numel().div_ceil(WG) as u64,
    )
}

/// Bytes of the one temporary tensor [`prelu_backward`] allocates: the f32
/// partial weight gradients, one per (weight, 2048-element chunk of its
/// elements).
pub fn prelu_backward_temp_bytes(x_shape: &[usize], weight_len: usize) -> u64 {
    let n: usize = x_shape.iter().product();
    let per_channel = n.checked_div(weight_len).unwrap_or(0);
    DType::F32.storage_bytes((weight_len * per_channel.div_ceil(CHUNK)).max(1))
}

/// Gradients of [`prelu`]: `dx = x > 0 ? dy : w[c]·dy` and
/// `dweight[c] = Σ (x > 0 ? 0 : x·dy)` over the elements of channel c, summed
/// in f32 in a fixed order (deterministic). Returns `(dx, dweight)`, dweight
/// with the weight's shape.
pub fn prelu_backward(x: &Tensor, weight: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    let dev = x.device();
    let dx = dev.empty(x.shape(), x.dtype())?;
    let dw = dev.empty(weight.shape(), weight.dtype())?;
    prelu_backward_into(x, weight, dy, &dx, &dw)?;
    Ok((dx, dw))
}

/// [`prelu_backward`] into `dx` (the input's shape) and `dweight` (the weight's).
pub fn prelu_backward_into(
    x: &Tensor,
    weight: &Tensor,
    dy: &Tensor,
    dx: &Tensor,
    dweight: &Tensor,
) -> Result<()> {
    let op = "prelu_backward";
    let l = layout(op, x, weight)?;
    if dy.shape() != x.shape() || dy.dtype() != x.dtype() {
        return Err(Error::shape(
            op,
            format!(
                "grad_output: expected {:?} {} like the input, got {:?} {}",
                x.shape(),
                x.dtype(),
                dy.shape(),
                dy.dtype()
            ),
        ));
    }
    let dev = x.device();
    let precision = Precision::typed_only(op, dev, x.dtype())?;
    crate::check_output(op, dx, x.shape(), x.dtype(), &[x, weight, dy])?;
    crate::check_output(
        op,
        dweight,
        weight.shape(),
        weight.dtype(),
        &[x, weight, dy, dx],
    )?;
    let u = l.uniform();
    let partials = dev.empty(&[(l.channels * l.chunks()).max(1)], DType::F32)?;
    let shader = PRELU_BACKWARD
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&u),
        &[
            Binding::Read(x.binding()),
            Binding::Read(weight.binding()),
            Binding::Read(dy.binding()),
            Binding::ReadWrite(dx.binding()),
            Binding::ReadWrite(partials.binding()),
        ],
        (l.channels * l.chunks()) as u64,
    )?;
    let shader = PRELU_WEIGHT_GRAD
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&u),
        &[
            Binding::Read(partials.binding()),
            Binding::ReadWrite(dweight.binding()),
        ],
        l.channels as u64,
    )
}
