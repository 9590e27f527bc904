//! Local response normalisation across channels (AlexNet, GoogLeNet, ZFNet):
//! PyTorch's `nn.LocalResponseNorm` and ONNX's `LRN`,
//! `y_c = x_c / (k + alpha/size · Σ_{c' ∈ window(c)} x_{c'}²)^beta`, and its
//! gradient.
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `lrn/forward` | f32, f16 | one element per invocation, `size` loads |
//! | `lrn/backward` | f32, f16 | one element per invocation, recomputing the `size` scales it depends on |
//!
//! Packed f16 has no LRN kernels: without shader-f16, f16 tensors are a
//! `MissingFeature` error.

use weft_device::{Binding, Error, Kernel, Result, ShaderFile, Tensor};

use crate::precision::Precision;
use crate::shaders;

const WG: usize = 64;

const PARAMS: ShaderFile = shaders::wgsl!("lrn/params.wgsl");

shaders::typed!(LRN, [PARAMS], "lrn/forward.wgsl");
shaders::typed!(LRN_BACKWARD, [PARAMS], "lrn/backward.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[&LRN, &LRN_BACKWARD], &[])
}

/// The normalisation's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrnParams {
    /// Channels in the window.
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub k: f32,
    /// Channels of the window before the centre: PyTorch's `size / 2`
    /// ([`LrnParams::torch`]), ONNX's `(size − 1) / 2` ([`LrnParams::onnx`]);
    /// the two differ for even sizes.
    pub before: usize,
}

impl LrnParams {
    /// `nn.LocalResponseNorm(size, alpha, beta, k)`.
    pub fn torch(size: usize, alpha: f32, beta: f32, k: f32) -> LrnParams {
        LrnParams {
            size,
            alpha,
            beta,
            k,
            before: size / 2,
        }
    }

    /// ONNX's `LRN(size, alpha, beta, bias)`.
    pub fn onnx(size: usize, alpha: f32, beta: f32, bias: f32) -> LrnParams {
        LrnParams {
            before: size.saturating_sub(1) / 2,
            ..LrnParams::torch(size, alpha, beta, bias)
        }
    }

    /// Checks the parameters (the error names the one at fault).
    pub fn validate(&self, op: &str) -> Result<()> {
        if self.size == 0 {
            return Err(Error::invalid(op, "size", "must be at least 1, got 0"));
        }
        if self.before >= self.size {
            return Err(Error::invalid(
                op,
                "before",
                format!("{} is not inside a window of {}", self.before, self.size),
            ));
        }
        for (name, v) in [("alpha", self.alpha), ("beta", self.beta), ("k", self.k)] {
            if !v.is_finite() {
                return Err(Error::invalid(op, name, format!("must be finite, got {v}")));
            }
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct LrnUniform {
    n: u32,
    channels: u32,
    inner: u32,
    size: u32,
    before: u32,
    _pad: [u32; 3],
    alpha_over_size: f32,
    beta: f32,
    k: f32,
    _pad1: f32,
}

/// Checks `x` (rank ≥ 3: `[N, C, ...]`, float) and builds the uniform.
fn uniform(op: &str, x: &Tensor, p: &LrnParams) -> Result<LrnUniform> {
    p.validate(op)?;
    if !x.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("expected an f32 or f16 input, got {}", x.dtype()),
        ));
    }
    if x.rank() < 3 {
        return Err(Error::shape(
            op,
            format!(
                "expected an input [N, C, ...] of rank 3 or more, got {:?}",
                x.shape()
            ),
        ));
    }
    crate::check_u32_elements(op, x)?;
    Ok(LrnUniform {
        n: x.numel() as u32,
        channels: x.dim(1) as u32,
        inner: x.shape()[2..].iter().product::<usize>() as u32,
        size: p.size as u32,
        before: p.before as u32,
        alpha_over_size: p.alpha / p.size as f32,
        beta: p.beta,
        k: p.k,
        ..Default::default()
    })
}

/// Local response normalisation of `x` (`[N, C, ...]`) across channels.
pub fn lrn(x: &Tensor, p: &LrnParams) -> Result<Tensor> {
    let y = x.device().empty(x.shape(), x.dtype())?;
    lrn_into(x, p, &y)?;
    Ok(y)
}

/// [`lrn`] into `y`.
pub fn lrn_into(x: &Tensor, p: &LrnParams, y: &Tensor) -> Result<()> {
    let op = "lrn";
    let u = uniform(op, x, p)?;
    let dev = x.device();
    let precision = Precision::typed_only(op, dev, x.dtype())?;
    crate::check_output(op, y, x.shape(), x.dtype(), &[x])?;
    let shader = LRN
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&u),
        &[Binding::Read(x.binding()), Binding::ReadWrite(y.binding())],
        x.numel().div_ceil(WG) as u64,
    )
}

/// Gradient of [`lrn`] with respect to `x`, given the gradient `dy` of its output.
pub fn lrn_backward(x: &Tensor, dy: &Tensor, p: &LrnParams) -> Result<Tensor> {
    let dx = x.device().empty(x.shape(), x.dtype())?;
    lrn_backward_into(x, dy, p, &dx)?;
    Ok(dx)
}

/// [`lrn_backward`] into `dx`.
pub fn lrn_backward_into(x: &Tensor, dy: &Tensor, p: &LrnParams, dx: &Tensor) -> Result<()> {
    let op = "lrn_backward";
    let u = uniform(op, x, p)?;
    if dy.shape() != x.shape() || dy.dtype() != x.dtype() {
        return Err(Error::shape(
            op,
            format!(
                "dy: expected {:?} {} like the input, got {:?} {}",
                x.shape(),
                x.dtype(),
                dy.shape(),
                dy.dtype()
            ),
        ));
    }
    let dev = x.device();
    let precision = Precision::typed_only(op, dev, x.dtype())?;
    crate::check_output(op, dx, x.shape(), x.dtype(), &[x, dy])?;
    let shader = LRN_BACKWARD
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&u),
        &[
            Binding::Read(x.binding()),
            Binding::Read(dy.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        x.numel().div_ceil(WG) as u64,
    )
}
