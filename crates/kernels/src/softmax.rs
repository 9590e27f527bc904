//! softmax and log_softmax along any axis, and their gradients, with PyTorch's
//! semantics: numerically stable (the row maximum is subtracted before `exp`),
//! f32 arithmetic for f32 and native-f16 storage, NaN anywhere in a row makes
//! the whole row NaN.
//!
//! The tensor is viewed as `[outer, len, inner]` around the axis; each of the
//! `outer·inner` rows is reduced independently (`shaders/softmax/`): one
//! invocation per row for rows of up to 64 elements, one 256-invocation
//! workgroup per row (tree reductions in workgroup memory) for longer ones.
//! Deterministic. f16 tensors need the shader-f16 feature (there is no packed
//! form: rows do not align with u32 words).

use weft_device::{Binding, DType, Error, Feature, Kernel, Result, ShaderFile, Tensor};

use crate::precision::Precision;
use crate::reduce::check_numel;
use crate::shaders;

const PARAMS: ShaderFile = shaders::wgsl!("softmax/params.wgsl");

shaders::typed!(FORWARD, [PARAMS], "softmax/forward.wgsl");
shaders::typed!(BACKWARD, [PARAMS], "softmax/backward.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[&FORWARD, &BACKWARD], &[])
}

/// Longest row handled by one invocation; longer rows get a workgroup each.
pub(crate) const SERIAL_MAX: usize = 64;
const WG: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RowParams {
    rows: u32,
    len: u32,
    inner: u32,
    _pad: u32,
}

/// The rows of `shape` along `axis`: `(rows, len, inner)`.
fn rows_of(op: &str, shape: &[usize], axis: usize) -> Result<(usize, usize, usize)> {
    if axis >= shape.len() {
        return Err(Error::invalid(
            op,
            "axis",
            format!(
                "axis {axis} is out of range for a rank-{} tensor of shape {shape:?}",
                shape.len()
            ),
        ));
    }
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    Ok((outer * inner, shape[axis], inner))
}

/// The precision of a softmax-family kernel on `t`: f32, or native f16.
pub(crate) fn row_precision(op: &str, t: &Tensor) -> Result<Precision> {
    match t.dtype() {
        DType::F32 => Ok(Precision::F32),
        DType::F16 => {
            t.device().require(op, Feature::ShaderF16)?;
            Ok(Precision::F16)
        }
        other => Err(Error::invalid(
            op,
            "dtype",
            format!("expected an f32 or f16 tensor, got {other}"),
        )),
    }
}

/// Launches `shader` over the rows: serial for short rows, a workgroup per row
/// otherwise.
fn launch(
    op: &str,
    shader: &'static weft_device::Shader,
    log: bool,
    shape: &[usize],
    axis: usize,
    bindings: &[Binding<'_>],
    dev: &weft_device::Device,
) -> Result<()> {
    let (rows, len, inner) = rows_of(op, shape, axis)?;
    if rows == 0 || len == 0 {
        return Ok(());
    }
    let params = RowParams {
        rows: rows as u32,
        len: len as u32,
        inner: inner as u32,
        _pad: 0,
    };
    let constants = [("LOG", log as u32 as f64)];
    let (entry, workgroups) = if len <= SERIAL_MAX {
        ("serial", rows.div_ceil(WG))
    } else {
        ("tree", rows)
    };
    dev.dispatch(
        &Kernel::new(op, shader, entry).with_constants(&constants),
        bytemuck::bytes_of(&params),
        bindings,
        workgroups as u64,
    )
}

fn forward_into(op: &str, log: bool, x: &Tensor, axis: usize, y: &Tensor) -> Result<()> {
    rows_of(op, x.shape(), axis)?;
    let precision = row_precision(op, x)?;
    check_numel(op, "x", x)?;
    crate::check_output(op, y, x.shape(), x.dtype(), &[x])?;
    let shader = FORWARD.get(precision).expect("typed");
    launch(
        op,
        shader,
        log,
        x.shape(),
        axis,
        &[Binding::Read(x.binding()), Binding::ReadWrite(y.binding())],
        x.device(),
    )
}

fn backward_into(
    op: &str,
    log: bool,
    y: &Tensor,
    dy: &Tensor,
    axis: usize,
    dx: &Tensor,
) -> Result<()> {
    rows_of(op, y.shape(), axis)?;
    if dy.shape() != y.shape() || dy.dtype() != y.dtype() {
        return Err(Error::shape(
            op,
            format!(
                "dy: expected {:?} {} like y, got {:?} {}",
                y.shape(),
                y.dtype(),
                dy.shape(),
                dy.dtype()
            ),
        ));
    }
    let precision = row_precision(op, y)?;
    check_numel(op, "y", y)?;
    crate::check_output(op, dx, y.shape(), y.dtype(), &[y, dy])?;
    let shader = BACKWARD.get(precision).expect("typed");
    launch(
        op,
        shader,
        log,
        y.shape(),
        axis,
        &[
            Binding::Read(y.binding()),
            Binding::Read(dy.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        y.device(),
    )
}

/// `exp(x − max) / Σ exp(x − max)` along `axis`.
pub fn softmax(x: &Tensor, axis: usize) -> Result<Tensor> {
    let y = x.device().empty(x.shape(), x.dtype())?;
    softmax_into(x, axis, &y)?;
    Ok(y)
}

/// [`softmax`] into an existing output.
pub fn softmax_into(x: &Tensor, axis: usize, y: &Tensor) -> Result<()> {
    forward_into("softmax", false, x, axis, y)
}

/// `(x − max) − log Σ exp(x − max)` along `axis`.
pub fn log_softmax(x: &Tensor, axis: usize) -> Result<Tensor> {
    let y = x.device().empty(x.shape(), x.dtype())?;
    log_softmax_into(x, axis, &y)?;
    Ok(y)
}

/// [`log_softmax`] into an existing output.
pub fn log_softmax_into(x: &Tensor, axis: usize, y: &Tensor) -> Result<()> {
    forward_into("log_softmax", true, x, axis, y)
}

/// Gradient of [`softmax`] from its output `y`: `dx = y · (dy − Σ dy·y)`.
pub fn softmax_backward(y: &Tensor, dy: &Tensor, axis: usize) -> Result<Tensor> {
    let dx = y.device().empty(y.shape(), y.dtype())?;
    softmax_backward_into(y, dy, axis, &dx)?;
    Ok(dx)
}

/// [`softmax_backward`] into an existing output.
pub fn softmax_backward_into(y: &Tensor, dy: &Tensor, axis: usize, dx: &Tensor) -> Result<()> {
    backward_into("softmax_backward", false, y, dy, axis, dx)
}

/// Gradient of [`log_softmax`] from its output `y`: `dx = dy − exp(y) · Σ dy`.
pub fn log_softmax_backward(y: &Tensor, dy: &Tensor, axis: usize) -> Result<Tensor> {
    let dx = y.device().empty(y.shape(), y.dtype())?;
    log_softmax_backward_into(y, dy, axis, &dx)?;
    Ok(dx)
}

/// [`log_softmax_backward`] into an existing output.
pub fn log_softmax_backward_into(y: &Tensor, dy: &Tensor, axis: usize, dx: &Tensor) -> Result<()> {
    backward_into("log_softmax_backward", true, y, dy, axis, dx)
}
