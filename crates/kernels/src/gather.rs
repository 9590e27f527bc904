//! Gathers by index within image planes: the backward of max-unpooling.

use weft_device::{Binding, DType, Error, Kernel, Result, Tensor};

use crate::precision::Precision;
use crate::shaders::typed;

typed!(TAKE_PLANE, [], "gather/take_plane.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&TAKE_PLANE], &[])
}

/// `out[n, c, o] = src[n, c, idx[n, c, o]]` with `idx` (I32, the shape of the
/// output) holding flat positions within each `[H, W]` plane of `src`, as
/// PyTorch's pooling indices do. Positions outside the plane give 0.
pub fn take_plane(src: &Tensor, indices: &Tensor) -> Result<Tensor> {
    const OP: &str = "take_plane";
    let (s, i) = (src.shape(), indices.shape());
    if s.len() != 4 || i.len() != 4 || s[..2] != i[..2] {
        return Err(Error::shape(
            OP,
            format!("src {s:?} and indices {i:?} must be NCHW with the same N and C"),
        ));
    }
    if indices.dtype() != DType::I32 {
        return Err(Error::invalid(
            OP,
            "indices",
            format!("expected i32, got {}", indices.dtype()),
        ));
    }
    let dev = src.device();
    let precision = Precision::for_dtype(dev, src.dtype())?;
    let shader = TAKE_PLANE.get(precision).ok_or_else(|| {
        Error::invalid(
            OP,
            "dtype",
            "packed f16 has no gather form; use native f16 or f32",
        )
    })?;
    let out = dev.empty(i, src.dtype())?;
    let planes = i[0] * i[1];
    let params = [planes as u32, (i[2] * i[3]) as u32, (s[2] * s[3]) as u32, 0];
    dev.dispatch(
        &Kernel::new(OP, shader, "main"),
        bytemuck::cast_slice(&params),
        &[
            Binding::Read(src.binding()),
            Binding::Read(indices.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        indices.numel().div_ceil(256) as u64,
    )?;
    Ok(out)
}
