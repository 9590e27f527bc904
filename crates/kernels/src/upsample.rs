//! 2-D upsampling of NCHW tensors to a given size, with PyTorch's
//! `F.interpolate(size=...)` semantics (nearest, and bilinear with or without
//! `align_corners`), and its gradient as a deterministic gather.
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `upsample/upsample` | f32, f16, packed f16 | one output (packed: one output word) per invocation |
//! | `upsample/backward` | f32, f16 | one input-gradient element per invocation, gather over the output ranges that read it |
//!
//! Source coordinates are computed in f32 from an f32 scale rounded on the host,
//! as PyTorch does; nearest therefore picks exactly PyTorch's source pixels.

use weft_device::{Binding, DType, Error, Kernel, Result, ShaderFile, Tensor};

use crate::precision::Precision;

const WG: usize = 64;

const PARAMS: ShaderFile = crate::shaders::wgsl!("upsample/params.wgsl");
const FORWARD: ShaderFile = crate::shaders::wgsl!("upsample/forward.wgsl");

crate::shaders::typed!(UPSAMPLE, [PARAMS, FORWARD], "upsample/upsample.wgsl");
crate::shaders::plain!(
    UPSAMPLE_F16P,
    [PARAMS, FORWARD],
    "upsample/upsample_f16p.wgsl"
);
crate::shaders::typed!(UPSAMPLE_BACKWARD, [PARAMS], "upsample/backward.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&UPSAMPLE, &UPSAMPLE_BACKWARD], &[&UPSAMPLE_F16P])
}

/// Interpolation of [`upsample2d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsampleMode {
    /// PyTorch's `mode="nearest"`: source `min(floor(dst · in/out), in − 1)`.
    Nearest,
    /// PyTorch's `mode="bilinear"`.
    Bilinear { align_corners: bool },
}

impl UpsampleMode {
    /// The `MODE` override constant.
    fn code(self) -> u32 {
        match self {
            UpsampleMode::Nearest => 0,
            UpsampleMode::Bilinear { .. } => 1,
        }
    }

    /// The f32 scale PyTorch maps output indices to input coordinates with
    /// (`area_pixel_compute_scale` / `compute_scales_value` without a scale
    /// factor).
    pub fn scale(self, in_size: usize, out_size: usize) -> f32 {
        self.scale_with(in_size, out_size, None)
    }

    /// [`scale`](Self::scale) where `F.interpolate(scale_factor=f)` gave the
    /// size: PyTorch then maps with `1/f` (computed in f64, rounded to f32),
    /// except with `align_corners`, which always uses the sizes.
    pub fn scale_with(self, in_size: usize, out_size: usize, factor: Option<f64>) -> f32 {
        match (self, factor) {
            (
                UpsampleMode::Bilinear {
                    align_corners: true,
                },
                _,
            ) => {
                if out_size > 1 {
                    (in_size - 1) as f32 / (out_size - 1) as f32
                } else {
                    0.0
                }
            }
            (_, Some(f)) => (1.0 / f) as f32,
            _ => in_size as f32 / out_size as f32,
        }
    }
}

/// The input index nearest upsampling reads for output `dst` of an axis of
/// `in_size` → `out_size` (PyTorch's `nearest_idx`, as the kernel computes
/// it): equal sizes copy, doubled sizes halve, otherwise the floored f32
/// product with [`UpsampleMode::scale_with`]'s scale.
pub fn nearest_source(dst: usize, in_size: usize, out_size: usize, factor: Option<f64>) -> usize {
    if out_size == in_size {
        dst
    } else if out_size == 2 * in_size {
        dst / 2
    } else {
        let scale = UpsampleMode::Nearest.scale_with(in_size, out_size, factor);
        ((dst as f32 * scale).floor() as usize).min(in_size - 1)
    }
}

/// The output length of an axis of `len` scaled by `factor`, as PyTorch
/// computes it (`floor(len · factor)` in f64), or the error that names it.
pub fn scaled_len(op: &str, len: usize, factor: f64) -> Result<usize> {
    let out = (len as f64 * factor).floor();
    if !(factor.is_finite() && factor > 0.0) || out < 1.0 || out > u32::MAX as f64 {
        return Err(Error::invalid(
            op,
            "scale_factor",
            format!("{factor} on an axis of {len} gives no valid output size"),
        ));
    }
    Ok(out as usize)
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct UpsampleUniform {
    n: u32,
    planes: u32,
    ih: u32,
    iw: u32,
    oh: u32,
    ow: u32,
    align_corners: u32,
    _pad0: u32,
    scale_h: f32,
    scale_w: f32,
    _pad1: [u32; 2],
}

impl UpsampleUniform {
    fn new(
        n: usize,
        planes: usize,
        input: [usize; 2],
        output: [usize; 2],
        mode: UpsampleMode,
        factors: Option<[f64; 2]>,
    ) -> Self {
        UpsampleUniform {
            n: n as u32,
            planes: planes as u32,
            ih: input[0] as u32,
            iw: input[1] as u32,
            oh: output[0] as u32,
            ow: output[1] as u32,
            align_corners: matches!(
                mode,
                UpsampleMode::Bilinear {
                    align_corners: true
                }
            ) as u32,
            scale_h: mode.scale_with(input[0], output[0], factors.map(|f| f[0])),
            scale_w: mode.scale_with(input[1], output[1], factors.map(|f| f[1])),
            ..Default::default()
        }
    }
}

/// The `[N, C, H, W]` of a float NCHW tensor with non-empty planes.
fn nchw(op: &str, what: &str, shape: &[usize], dtype: DType) -> Result<[usize; 4]> {
    let s = <[usize; 4]>::try_from(shape).map_err(|_| {
        Error::shape(
            op,
            format!("{what} must be 4-D (NCHW), got shape {shape:?}"),
        )
    })?;
    if !dtype.is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("{what} must be f32 or f16, got {dtype}"),
        ));
    }
    if s[2] == 0 || s[3] == 0 {
        return Err(Error::shape(
            op,
            format!("{what} planes must be non-empty, got {}x{}", s[2], s[3]),
        ));
    }
    Ok(s)
}

fn check_u32(op: &str, t: &Tensor) -> Result<()> {
    if t.numel() > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!(
                "{:?} has more elements than 32-bit indexing allows",
                t.shape()
            ),
        ));
    }
    Ok(())
}

/// Resizes the planes of `x` (`[N, C, H, W]`) to `out_hw`.
pub fn upsample2d(
    x: &Tensor,
    out_hw: [usize; 2],
    mode: UpsampleMode,
    precision: Option<Precision>,
) -> Result<Tensor> {
    let [n, c, _, _] = nchw("upsample2d", "input", x.shape(), x.dtype())?;
    if out_hw.contains(&0) {
        return Err(Error::invalid(
            "upsample2d",
            "size",
            format!("output size must be positive, got {out_hw:?}"),
        ));
    }
    let out = x.device().empty(&[n, c, out_hw[0], out_hw[1]], x.dtype())?;
    upsample2d_into(x, mode, precision, &out)?;
    Ok(out)
}

/// Resizes the planes of `x` by `factors` (height, width), as
/// `F.interpolate(scale_factor=factors)`: the output is `floor(H·f_h) ×
/// floor(W·f_w)`, and coordinates map by `1/f` (not input / output).
pub fn upsample2d_by(
    x: &Tensor,
    factors: [f64; 2],
    mode: UpsampleMode,
    precision: Option<Precision>,
) -> Result<Tensor> {
    let op = "upsample2d";
    let [n, c, h, w] = nchw(op, "input", x.shape(), x.dtype())?;
    let out_hw = [
        scaled_len(op, h, factors[0])?,
        scaled_len(op, w, factors[1])?,
    ];
    let out = x.device().empty(&[n, c, out_hw[0], out_hw[1]], x.dtype())?;
    upsample2d_scaled_into(x, mode, Some(factors), precision, &out)?;
    Ok(out)
}

/// [`upsample2d`] into `out`, whose `[N, C, OH, OW]` gives the output size.
pub fn upsample2d_into(
    x: &Tensor,
    mode: UpsampleMode,
    precision: Option<Precision>,
    out: &Tensor,
) -> Result<()> {
    upsample2d_scaled_into(x, mode, None, precision, out)
}

/// [`upsample2d_into`], with coordinates mapped by `1/factors` when the
/// output size came from scale factors ([`upsample2d_by`]).
pub fn upsample2d_scaled_into(
    x: &Tensor,
    mode: UpsampleMode,
    factors: Option<[f64; 2]>,
    precision: Option<Precision>,
    out: &Tensor,
) -> Result<()> {
    let op = "upsample2d";
    let dev = x.device();
    let [n, c, h, w] = nchw(op, "input", x.shape(), x.dtype())?;
    let [on, oc, oh, ow] = nchw(op, "output", out.shape(), out.dtype())?;
    if (on, oc) != (n, c) {
        return Err(Error::shape(
            op,
            format!(
                "output {:?} and input {:?} differ in batch or channels",
                out.shape(),
                x.shape()
            ),
        ));
    }
    let precision = Precision::resolve(op, dev, x.dtype(), precision)?;
    crate::check_output(op, out, &[n, c, oh, ow], x.dtype(), &[x])?;
    check_u32(op, x)?;
    check_u32(op, out)?;
    let shader = match precision {
        Precision::F16Packed => &UPSAMPLE_F16P,
        p => UPSAMPLE
            .get(p)
            .expect("typed shaders have f32 and f16 forms"),
    };
    let constants = [("MODE", mode.code() as f64)];
    let kernel = Kernel::new(op, shader, "main").with_constants(&constants);
    let items = out.numel();
    let units = if precision == Precision::F16Packed {
        items.div_ceil(2)
    } else {
        items
    };
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&UpsampleUniform::new(
            items,
            n * c,
            [h, w],
            [oh, ow],
            mode,
            factors,
        )),
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        units.div_ceil(WG) as u64,
    )
}

/// Gradient of [`upsample2d`]: `dy` is `[N, C, OH, OW]`, the result has
/// `input_shape`. Each input element gathers, in output order, the weighted
/// `dy` of the outputs that read it (deterministic).
pub fn upsample2d_backward(
    dy: &Tensor,
    input_shape: [usize; 4],
    mode: UpsampleMode,
) -> Result<Tensor> {
    let dx = dy.device().empty(&input_shape, dy.dtype())?;
    upsample2d_backward_into(dy, mode, &dx)?;
    Ok(dx)
}

/// [`upsample2d_backward`] into `dx`, whose shape is the forward input's.
pub fn upsample2d_backward_into(dy: &Tensor, mode: UpsampleMode, dx: &Tensor) -> Result<()> {
    upsample2d_backward_scaled_into(dy, mode, None, dx)
}

/// Gradient of [`upsample2d_by`] (or of any upsampling whose coordinates
/// mapped by `1/factors`) into `dx`.
pub fn upsample2d_backward_scaled_into(
    dy: &Tensor,
    mode: UpsampleMode,
    factors: Option<[f64; 2]>,
    dx: &Tensor,
) -> Result<()> {
    let op = "upsample2d_backward";
    let dev = dy.device();
    let [n, c, oh, ow] = nchw(op, "grad_output", dy.shape(), dy.dtype())?;
    let [dn, dc, h, w] = nchw(op, "grad_input", dx.shape(), dx.dtype())?;
    if (dn, dc) != (n, c) {
        return Err(Error::shape(
            op,
            format!(
                "input shape {:?} and grad_output {:?} differ in batch or channels",
                dx.shape(),
                dy.shape()
            ),
        ));
    }
    let precision = Precision::typed_only(op, dev, dy.dtype())?;
    crate::check_output(op, dx, &[n, c, h, w], dy.dtype(), &[dy])?;
    check_u32(op, dx)?;
    check_u32(op, dy)?;
    let shader = UPSAMPLE_BACKWARD
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    let constants = [("MODE", mode.code() as f64)];
    let kernel = Kernel::new(op, shader, "main").with_constants(&constants);
    let items = dx.numel();
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&UpsampleUniform::new(
            items,
            n * c,
            [h, w],
            [oh, ow],
            mode,
            factors,
        )),
        &[
            Binding::Read(dy.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        items.div_ceil(WG) as u64,
    )
}
