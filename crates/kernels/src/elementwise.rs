//! Elementwise kernels: activations and their gradients, binary arithmetic with
//! broadcasting, scale-and-shift, fill, and f32 ↔ f16 conversion.
//!
//! Every elementwise op binds its tensors through windows no larger than the
//! device's `max_storage_buffer_binding_size`, so tensors of any size work.

use weft_device::{Binding, DType, Device, Error, Kernel, Result, Tensor};

use crate::precision::Precision;
use crate::{Activation, shaders};

const WG: usize = 256;

/// Element windows `(start, len)` covering `n`, each small enough to bind and
/// starting on a 4 KiB boundary (any offset alignment, whole f16 words).
pub(crate) fn windows(dev: &Device, n: usize) -> Vec<(usize, usize)> {
    let limit = dev.limits().max_storage_buffer_binding_size as usize;
    let step = (limit / 4 / 1024 * 1024).max(1024);
    if n <= step {
        return vec![(0, n)];
    }
    (0..n).step_by(step).map(|s| (s, step.min(n - s))).collect()
}

fn float_dtype(op: &str, t: &Tensor) -> Result<DType> {
    if !t.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("expected an f32 or f16 tensor, got {}", t.dtype()),
        ));
    }
    Ok(t.dtype())
}

fn same_shape(op: &str, what: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() || a.dtype() != b.dtype() {
        return Err(Error::shape(
            op,
            format!(
                "{what}: expected {:?} {}, got {:?} {}",
                a.shape(),
                a.dtype(),
                b.shape(),
                b.dtype()
            ),
        ));
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CountParams {
    n: u32,
    _pad: [u32; 3],
}

fn count(n: usize) -> CountParams {
    CountParams {
        n: n as u32,
        _pad: [0; 3],
    }
}

/// Launches a kernel of one element (or one f16 word) per invocation over
/// `inputs` → `output`, window by window.
fn launch_unary_like(
    kernel: &Kernel<'_>,
    precision: Precision,
    inputs: &[&Tensor],
    output: &Tensor,
    params: impl Fn(usize) -> Vec<u8>,
) -> Result<()> {
    let dev = output.device();
    for (start, len) in windows(dev, output.numel()) {
        let mut bindings = Vec::with_capacity(inputs.len() + 1);
        for t in inputs {
            bindings.push(Binding::Read(t.window(start, len)?));
        }
        bindings.push(Binding::ReadWrite(output.window(start, len)?));
        let units = match precision {
            Precision::F16Packed => len.div_ceil(2),
            _ => len,
        };
        dev.dispatch(kernel, &params(units), &bindings, units.div_ceil(WG) as u64)?;
    }
    Ok(())
}

/// y = act(x).
pub fn activation(x: &Tensor, act: Activation) -> Result<Tensor> {
    let y = x.device().empty(x.shape(), x.dtype())?;
    activation_into(x, act, &y, None)?;
    Ok(y)
}

/// y = act(x) into `y`, with an explicit precision (e.g. to force packed f16).
pub fn activation_into(
    x: &Tensor,
    act: Activation,
    y: &Tensor,
    precision: Option<Precision>,
) -> Result<()> {
    let op = act.name();
    let dev = x.device();
    let precision = Precision::resolve(op, dev, float_dtype(op, x)?, precision)?;
    crate::check_output(op, y, x.shape(), x.dtype(), &[x])?;
    let constants = act.constants();
    let shader = match precision {
        Precision::F16Packed => &shaders::ACTIVATION_FORWARD_F16P,
        p => shaders::ACTIVATION_FORWARD.get(p).expect("typed"),
    };
    let kernel = Kernel::new(op, shader, "main").with_constants(&constants);
    launch_unary_like(&kernel, precision, &[x], y, |n| {
        bytemuck::bytes_of(&count(n)).to_vec()
    })
}

/// dx = dy · act'(v), where `saved` is the activation's output for relu, sigmoid
/// and tanh ([`Activation::grad_uses_output`]) and its input otherwise.
pub fn activation_backward(saved: &Tensor, dy: &Tensor, act: Activation) -> Result<Tensor> {
    let dx = dy.device().empty(dy.shape(), dy.dtype())?;
    activation_backward_into(saved, dy, act, &dx, None)?;
    Ok(dx)
}

/// [`activation_backward`] into `dx`, with an explicit precision.
pub fn activation_backward_into(
    saved: &Tensor,
    dy: &Tensor,
    act: Activation,
    dx: &Tensor,
    precision: Option<Precision>,
) -> Result<()> {
    let op = format!("{}_backward", act.name());
    same_shape(&op, "gradient shape", saved, dy)?;
    let dev = dy.device();
    let precision = Precision::resolve(&op, dev, float_dtype(&op, dy)?, precision)?;
    crate::check_output(&op, dx, dy.shape(), dy.dtype(), &[saved, dy])?;
    let constants = act.constants();
    let shader = match precision {
        Precision::F16Packed => &shaders::ACTIVATION_BACKWARD_F16P,
        p => shaders::ACTIVATION_BACKWARD.get(p).expect("typed"),
    };
    let kernel = Kernel::new(&op, shader, "main").with_constants(&constants);
    launch_unary_like(&kernel, precision, &[saved, dy], dx, |n| {
        bytemuck::bytes_of(&count(n)).to_vec()
    })
}

/// Arithmetic of [`binary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Elementwise maximum; NaN propagates.
    Max,
    /// Elementwise minimum; NaN propagates.
    Min,
}

impl BinaryOp {
    fn code(self) -> u32 {
        self as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
        }
    }

    /// The operation in f32, as the kernels compute it.
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Max => {
                if a.is_nan() || b.is_nan() {
                    f32::NAN
                } else {
                    a.max(b)
                }
            }
            BinaryOp::Min => {
                if a.is_nan() || b.is_nan() {
                    f32::NAN
                } else {
                    a.min(b)
                }
            }
        }
    }
}

/// How `y` of a [`binary`] op is broadcast against `x`: element i of x pairs
/// with y[(i / inner) % ny].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    pub inner: usize,
    pub ny: usize,
}

impl Broadcast {
    /// Infers the broadcast of `y_shape` against `x_shape`: equal shapes; a
    /// per-channel vector (`[C]` or `[1, C, 1, 1]` against NC…); or trailing
    /// dimensions (`x` ends with `y`'s shape).
    pub fn infer(op: &str, x_shape: &[usize], y_shape: &[usize]) -> Result<Broadcast> {
        let nx: usize = x_shape.iter().product();
        let ny: usize = y_shape.iter().product();
        if x_shape == y_shape {
            return Ok(Broadcast { inner: 1, ny: nx });
        }
        let squeezed: Vec<usize> = y_shape.iter().copied().filter(|&d| d != 1).collect();
        if x_shape.len() >= 2 && squeezed.len() <= 1 && ny == x_shape[1] {
            let per_channel = y_shape.len() == 1
                || (y_shape.len() == x_shape.len()
                    && y_shape.iter().enumerate().all(|(i, &d)| d == 1 || i == 1));
            if per_channel {
                let inner = x_shape[2..].iter().product();
                return Ok(Broadcast { inner, ny });
            }
        }
        if ny > 0 && x_shape.ends_with(y_shape) {
            return Ok(Broadcast { inner: 1, ny });
        }
        Err(Error::shape(
            op,
            format!(
                "cannot broadcast {y_shape:?} against {x_shape:?} (same shape, per-channel, or trailing dims)"
            ),
        ))
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BinaryParams {
    n: u32,
    inner: u32,
    ny: u32,
    base: u32,
}

/// z = x OP y, with `y` broadcast as [`Broadcast::infer`] allows.
pub fn binary(x: &Tensor, y: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let z = x.device().empty(x.shape(), x.dtype())?;
    binary_into(x, y, op, &z, None)?;
    Ok(z)
}

/// [`binary`] into `z`, with an explicit precision.
pub fn binary_into(
    x: &Tensor,
    y: &Tensor,
    op: BinaryOp,
    z: &Tensor,
    precision: Option<Precision>,
) -> Result<()> {
    let name = op.name();
    if x.dtype() != y.dtype() {
        return Err(Error::shape(
            name,
            format!("dtypes differ: {} and {}", x.dtype(), y.dtype()),
        ));
    }
    let bc = Broadcast::infer(name, x.shape(), y.shape())?;
    let dev = x.device();
    let precision = Precision::resolve(name, dev, float_dtype(name, x)?, precision)?;
    crate::check_output(name, z, x.shape(), x.dtype(), &[x, y])?;
    let same = bc.inner == 1 && bc.ny == x.numel();
    let (shader, constants) = match precision {
        Precision::F16Packed => (&shaders::BINARY_F16P, vec![("OP", op.code() as f64)]),
        p => (
            shaders::BINARY.get(p).expect("typed"),
            vec![("OP", op.code() as f64), ("SAME", same as u8 as f64)],
        ),
    };
    let kernel = Kernel::new(name, shader, "main").with_constants(&constants);
    for (start, len) in windows(dev, x.numel()) {
        let yb = if same {
            y.window(start, len)?
        } else {
            y.binding()
        };
        let params = BinaryParams {
            n: len as u32,
            inner: bc.inner as u32,
            ny: if same { len as u32 } else { bc.ny as u32 },
            base: if same { 0 } else { start as u32 },
        };
        let units = match precision {
            Precision::F16Packed => len.div_ceil(2),
            _ => len,
        };
        dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(x.window(start, len)?),
                Binding::Read(yb),
                Binding::ReadWrite(z.window(start, len)?),
            ],
            units.div_ceil(WG) as u64,
        )?;
    }
    Ok(())
}

/// The shape `a` and `b` broadcast to by NumPy's rules (trailing dims
/// aligned; each pair equal, or one of them 1), or the error that names
/// both.
pub fn broadcast_shape(op: &str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], k: usize| (k + s.len()).checked_sub(rank).map_or(1, |i| s[i]);
    (0..rank)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            (x, y) => Err(Error::shape(
                op,
                format!(
                    "cannot broadcast {a:?} with {b:?}: dims {x} and {y} differ and neither is 1"
                ),
            )),
        })
        .collect()
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BroadcastParams {
    n: u32,
    rank: u32,
    base: u32,
    _pad: u32,
    dims: [u32; 8],
    y_strides: [u32; 8],
}

/// z = x OP y (add, sub, mul or div) with `y` broadcast to `x`'s shape by
/// NumPy's rules, whatever the pattern (`[N, C, H, W]` by `[N, 1, H, W]`,
/// `[C, 1, W]`, ...); ranks up to 8. `z` has `x`'s shape. Equal shapes and
/// the patterns [`binary`] knows take its faster kernel.
pub fn binary_broadcast_into(x: &Tensor, y: &Tensor, op: BinaryOp, z: &Tensor) -> Result<()> {
    let name = op.name();
    if !matches!(
        op,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
    ) {
        return Err(Error::invalid(
            name,
            "op",
            "broadcasting runs add, sub, mul and div",
        ));
    }
    if x.dtype() != y.dtype() {
        return Err(Error::shape(
            name,
            format!("dtypes differ: {} and {}", x.dtype(), y.dtype()),
        ));
    }
    let full = broadcast_shape(name, x.shape(), y.shape())?;
    if full != x.shape() || y.rank() > x.rank() {
        return Err(Error::shape(
            name,
            format!(
                "{:?} does not broadcast to {:?} (the first operand holds the result's shape)",
                y.shape(),
                x.shape()
            ),
        ));
    }
    // binary's patterns that agree with NumPy's alignment (its rank-1
    // per-channel vector aligns with axis 1, not the last): equal shapes,
    // trailing dims, and a same-rank [1, C, 1, ...] vector.
    let (xs, ys) = (x.shape(), y.shape());
    let same_rank_channels = xs.len() == ys.len()
        && xs.len() >= 2
        && ys[1] == xs[1]
        && ys.iter().enumerate().all(|(k, &d)| d == 1 || k == 1);
    if same_rank_channels || xs == ys {
        return binary_into(x, y, op, z, None);
    }
    if xs.ends_with(ys) && y.numel() > 0 {
        // [rows, ny] by [ny]: binary pairs element i with y[i % ny].
        let ny = y.numel();
        let rows = x.numel() / ny;
        crate::check_output(name, z, x.shape(), x.dtype(), &[x, y])?;
        return binary_into(
            &x.reshape(&[rows, ny])?,
            &y.reshape(&[ny])?,
            op,
            &z.reshape(&[rows, ny])?,
            None,
        );
    }
    let rank = x.rank();
    if rank > 8 {
        return Err(Error::shape(name, format!("rank {rank} above 8")));
    }
    let dev = x.device();
    let precision = Precision::typed_only(name, dev, float_dtype(name, x)?)?;
    crate::check_output(name, z, x.shape(), x.dtype(), &[x, y])?;
    if x.numel() > u32::MAX as usize {
        return Err(Error::shape(
            name,
            format!("{:?}: past 32-bit indexing", x.shape()),
        ));
    }
    let mut dims = [1u32; 8];
    let mut y_strides = [0u32; 8];
    let offset = rank - y.rank();
    let mut stride = 1usize;
    for k in (0..rank).rev() {
        dims[k] = x.dim(k) as u32;
        if k >= offset {
            let d = y.dim(k - offset);
            if d != 1 {
                y_strides[k] = stride as u32;
            }
            stride *= d;
        }
    }
    let shader = shaders::BINARY_BROADCAST.get(precision).expect("typed");
    let constants = [("OP", op.code() as f64)];
    let kernel = Kernel::new(name, shader, "main").with_constants(&constants);
    for (start, len) in windows(dev, x.numel()) {
        let params = BroadcastParams {
            n: len as u32,
            rank: rank as u32,
            base: start as u32,
            _pad: 0,
            dims,
            y_strides,
        };
        dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(x.window(start, len)?),
                Binding::Read(y.binding()),
                Binding::ReadWrite(z.window(start, len)?),
            ],
            len.div_ceil(WG) as u64,
        )?;
    }
    Ok(())
}

/// [`binary_broadcast_into`] into a new tensor of `x`'s shape.
pub fn binary_broadcast(x: &Tensor, y: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let z = x.device().empty(x.shape(), x.dtype())?;
    binary_broadcast_into(x, y, op, &z)?;
    Ok(z)
}

/// x + y (broadcasting y).
pub fn add(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(x, y, BinaryOp::Add)
}

/// x · y (broadcasting y).
pub fn mul(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(x, y, BinaryOp::Mul)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ScaleParams {
    n: u32,
    a: f32,
    b: f32,
    _pad: u32,
}

/// y = x·a + b (rounded after the product and after the sum).
pub fn scale(x: &Tensor, a: f32, b: f32) -> Result<Tensor> {
    let y = x.device().empty(x.shape(), x.dtype())?;
    scale_into(x, a, b, &y, None)?;
    Ok(y)
}

/// [`scale`] into `y`, with an explicit precision.
pub fn scale_into(
    x: &Tensor,
    a: f32,
    b: f32,
    y: &Tensor,
    precision: Option<Precision>,
) -> Result<()> {
    let dev = x.device();
    let precision = Precision::resolve("scale", dev, float_dtype("scale", x)?, precision)?;
    crate::check_output("scale", y, x.shape(), x.dtype(), &[x])?;
    let shader = match precision {
        Precision::F16Packed => &shaders::SCALE_F16P,
        p => shaders::SCALE.get(p).expect("typed"),
    };
    let kernel = Kernel::new("scale", shader, "main");
    launch_unary_like(&kernel, precision, &[x], y, |n| {
        bytemuck::bytes_of(&ScaleParams {
            n: n as u32,
            a,
            b,
            _pad: 0,
        })
        .to_vec()
    })
}

/// `y += x` in place, elementwise (same shape and dtype; f32 or native f16),
/// rounded once per element.
pub fn accumulate(y: &Tensor, x: &Tensor) -> Result<()> {
    const OP: &str = "accumulate";
    let dev = y.device();
    let precision = Precision::typed_only(OP, dev, float_dtype(OP, y)?)?;
    if x.shape() != y.shape() || x.dtype() != y.dtype() {
        return Err(Error::shape(
            OP,
            format!(
                "x is {:?} {}, y is {:?} {}",
                x.shape(),
                x.dtype(),
                y.shape(),
                y.dtype()
            ),
        ));
    }
    let kernel = Kernel::new(
        OP,
        shaders::ACCUMULATE.get(precision).expect("typed"),
        "main",
    );
    launch_unary_like(&kernel, precision, &[x], y, |n| {
        bytemuck::bytes_of(&[n as u32, 0, 0, 0]).to_vec()
    })
}

/// Fills a tensor with `value` (converted to its dtype; u32/i32 tensors take the
/// value's integer part).
pub fn fill(t: &Tensor, value: f32) -> Result<()> {
    let word = match t.dtype() {
        DType::F32 => value.to_bits(),
        DType::F16 => {
            let h = half::f16::from_f32(value).to_bits() as u32;
            h | (h << 16)
        }
        DType::U32 => value as u32,
        DType::I32 => (value as i32) as u32,
    };
    fill_words(t, word)
}

/// Fills a tensor's storage with one 32-bit pattern.
pub fn fill_words(t: &Tensor, word: u32) -> Result<()> {
    let dev = t.device();
    let words = (t.byte_size() / 4) as usize;
    let kernel = Kernel::new("fill", &shaders::FILL, "main");
    let view = t.as_words();
    for (start, len) in windows(dev, words) {
        let params = [len as u32, word, 0, 0];
        dev.dispatch(
            &kernel,
            bytemuck::cast_slice(&params),
            &[Binding::ReadWrite(view.window(start, len)?)],
            len.div_ceil(WG) as u64,
        )?;
    }
    Ok(())
}

/// A tensor of zeros.
pub fn zeros(dev: &Device, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let t = dev.empty(shape, dtype)?;
    fill_words(&t, 0)?;
    Ok(t)
}

/// Converts between f32 and f16 (round to nearest even); a tensor already of
/// `dtype` is returned as is.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    let y = x.device().empty(x.shape(), dtype)?;
    cast_into(x, &y)?;
    Ok(y)
}

/// [`cast`] into `y`, of x's element count and the other float dtype.
pub fn cast_into(x: &Tensor, y: &Tensor) -> Result<()> {
    let dev = x.device();
    let dtype = y.dtype();
    if x.numel() != y.numel() {
        return Err(Error::invalid(
            "cast",
            "output",
            format!("{} elements for {}", y.numel(), x.numel()),
        ));
    }
    match (x.dtype(), dtype) {
        (a, b) if a == b => dev.copy(x, y),
        (DType::F32, DType::F16) | (DType::F16, DType::F32) => {
            let entry = if dtype == DType::F16 {
                "to_f16"
            } else {
                "to_f32"
            };
            let kernel = Kernel::new("cast", &shaders::CONVERT, entry);
            for (start, len) in windows(dev, x.numel()) {
                dev.dispatch(
                    &kernel,
                    bytemuck::bytes_of(&count(len)),
                    &[
                        Binding::Read(x.window(start, len)?),
                        Binding::ReadWrite(y.window(start, len)?),
                    ],
                    len.div_ceil(2).div_ceil(WG) as u64,
                )?;
            }
            Ok(())
        }
        (a, b) => Err(Error::invalid(
            "cast",
            "dtype",
            format!("no conversion from {a} to {b}"),
        )),
    }
}
