//! Binding helpers shared by launchers: windows of large tensors at aligned
//! offsets, and vector views of scalar tensors.

use weft_device::{BufferRange, ComputeLimits, DType, Error, Result, Tensor};

/// Elements between aligned binding offsets of a `dtype` tensor.
pub(crate) fn align_elems(limits: &ComputeLimits, dtype: DType) -> usize {
    let align = limits.min_storage_buffer_offset_alignment.max(4) as usize;
    align / dtype.element_bytes()
}

/// A window of `len` elements of `t` starting at element `start`, bound from
/// the aligned offset at or before it; returns the binding and `start`'s index
/// within it.
pub(crate) fn window(
    t: &Tensor,
    start: usize,
    len: usize,
    align: usize,
) -> Result<(BufferRange<'_>, u32)> {
    let begin = start - start % align;
    let delta = start - begin;
    Ok((t.window(begin, len + delta)?, delta as u32))
}

/// `range` as a binding for an `array<vec4<T>>` view, and whether it still is
/// `range`: wgpu wants at least one whole vector bound, so the size is rounded
/// up to 16 bytes within the buffer (pooled buffers hold at least 256 bytes;
/// the kernels only read vectors that lie inside the tensor). When even that
/// is too short, a read-only input stands in and the caller must not use the
/// vector path.
pub(crate) fn vec4_alias<'a>(
    op: &str,
    range: BufferRange<'a>,
    fallback: &[&'a Tensor],
) -> Result<(BufferRange<'a>, bool)> {
    let widen = |r: BufferRange<'a>| {
        let room = r.buffer.size() - r.offset;
        BufferRange {
            size: r.size.div_ceil(16).saturating_mul(16).min(room),
            ..r
        }
    };
    std::iter::once(range)
        .chain(fallback.iter().map(|t| t.binding()))
        .map(widen)
        .enumerate()
        .find(|(_, r)| r.size >= 16)
        .map(|(i, r)| (r, i == 0))
        .ok_or_else(|| {
            Error::invalid(
                op,
                "input",
                "tensors of fewer than 16 bytes in buffers of the same size",
            )
        })
}
