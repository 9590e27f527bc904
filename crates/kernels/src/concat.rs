//! Concatenation along the channel dimension (dim 1) and its inverse, for
//! tensors of any rank ≥ 2 and any dtype: the backward of concatenation is a
//! split, and the backward of a split a concatenation.
//!
//! Both are one strided block copy per input (output): bit-exact, so a single
//! dtype-free kernel serves each element width — 32-bit words (`concat/copy`:
//! f32, i32, u32) and f16 halves in packed storage (`concat/copy_f16p`, which
//! needs no shader-f16 and lets each invocation own whole output words).

use weft_device::{Binding, DType, Error, Kernel, Result, ShaderFile, Tensor};

use crate::shaders;

const WG: usize = 64;

const PARAMS: ShaderFile = shaders::wgsl!("concat/params.wgsl");

shaders::plain!(COPY, [PARAMS], "concat/copy.wgsl");
shaders::plain!(COPY_F16P, [PARAMS], "concat/copy_f16p.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[], &[&COPY, &COPY_F16P])
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyUniform {
    blocks: u32,
    len: u32,
    src_stride: u32,
    src_off: u32,
    dst_stride: u32,
    dst_off: u32,
    enum_blocks: u32,
    enum_len: u32,
    words_per_block: u32,
    _pad: [u32; 3],
}

/// `dst[b·dst_stride + dst_off + j] = src[b·src_stride + src_off + j]` for
/// `b < blocks`, `j < len` (in elements).
#[derive(Debug, Clone, Copy)]
struct BlockCopy {
    blocks: usize,
    len: usize,
    src_stride: usize,
    src_off: usize,
    dst_stride: usize,
    dst_off: usize,
}

fn block_copy(op: &str, src: &Tensor, dst: &Tensor, c: BlockCopy) -> Result<()> {
    if c.blocks * c.len == 0 {
        return Ok(());
    }
    let dev = dst.device();
    let mut u = CopyUniform {
        blocks: c.blocks as u32,
        len: c.len as u32,
        src_stride: c.src_stride as u32,
        src_off: c.src_off as u32,
        dst_stride: c.dst_stride as u32,
        dst_off: c.dst_off as u32,
        ..Default::default()
    };
    let (shader, units) = if dst.dtype() == DType::F16 {
        // Runs of destination words: one run when the destination region is
        // contiguous (adjacent runs would share words), else one per block.
        let (runs, run_len) = if c.dst_stride == c.len {
            (1, c.blocks * c.len)
        } else {
            (c.blocks, c.len)
        };
        u.enum_blocks = runs as u32;
        u.enum_len = run_len as u32;
        u.words_per_block = (run_len / 2 + 1) as u32;
        (&COPY_F16P, runs * (run_len / 2 + 1))
    } else {
        (&COPY, c.blocks * c.len)
    };
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&u),
        &[
            Binding::Read(src.binding()),
            Binding::ReadWrite(dst.binding()),
        ],
        units.div_ceil(WG) as u64,
    )
}

/// Rank ≥ 2 and 32-bit-addressable.
fn check_tensor(op: &str, what: &str, t: &Tensor) -> Result<()> {
    if t.rank() < 2 {
        return Err(Error::shape(
            op,
            format!(
                "{what} must have rank >= 2 (channels are dim 1), got shape {:?}",
                t.shape()
            ),
        ));
    }
    if t.numel() > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!(
                "{what} {:?} has more elements than 32-bit indexing allows",
                t.shape()
            ),
        ));
    }
    Ok(())
}

/// The output shape of concatenating `xs` along dim 1, after checking that they
/// agree on rank, dtype, device and every other dimension.
fn concat_shape(op: &str, xs: &[&Tensor]) -> Result<Vec<usize>> {
    let Some(first) = xs.first() else {
        return Err(Error::invalid(op, "inputs", "expected at least one tensor"));
    };
    let mut shape = first.shape().to_vec();
    let mut channels = 0usize;
    for (i, x) in xs.iter().enumerate() {
        check_tensor(op, &format!("input {i}"), x)?;
        let same_rest = x.rank() == first.rank()
            && x.shape()[0] == first.shape()[0]
            && x.shape()[2..] == first.shape()[2..];
        if !same_rest {
            return Err(Error::shape(
                op,
                format!(
                    "input {i}: shape {:?} must match input 0 {:?} in every dimension but 1",
                    x.shape(),
                    first.shape()
                ),
            ));
        }
        if x.dtype() != first.dtype() {
            return Err(Error::shape(
                op,
                format!(
                    "input {i}: expected dtype {} like input 0, got {}",
                    first.dtype(),
                    x.dtype()
                ),
            ));
        }
        if !x.device().same(first.device()) {
            return Err(Error::invalid(
                op,
                "inputs",
                format!("input {i} lives on another device than input 0"),
            ));
        }
        channels += x.shape()[1];
    }
    shape[1] = channels;
    Ok(shape)
}

/// Concatenates `xs` along dim 1 (channels). Every input has the same rank
/// (≥ 2), dtype and size in every other dimension.
pub fn concat_channels(xs: &[&Tensor]) -> Result<Tensor> {
    let shape = concat_shape("concat_channels", xs)?;
    let out = xs[0].device().empty(&shape, xs[0].dtype())?;
    concat_channels_into(xs, &out)?;
    Ok(out)
}

/// [`concat_channels`] into `out`.
pub fn concat_channels_into(xs: &[&Tensor], out: &Tensor) -> Result<()> {
    let op = "concat_channels";
    let shape = concat_shape(op, xs)?;
    crate::check_output(op, out, &shape, xs[0].dtype(), xs)?;
    check_tensor(op, "output", out)?;
    let batch = shape[0];
    let inner: usize = shape[2..].iter().product();
    let total = shape[1] * inner;
    let mut offset = 0;
    for x in xs {
        let len = x.shape()[1] * inner;
        block_copy(
            op,
            x,
            out,
            BlockCopy {
                blocks: batch,
                len,
                src_stride: len,
                src_off: 0,
                dst_stride: total,
                dst_off: offset,
            },
        )?;
        offset += len;
    }
    Ok(())
}

/// Splits `x` along dim 1 into pieces of `sizes` channels (which must sum to
/// `x`'s channel count): the inverse of [`concat_channels`], and its gradient.
pub fn split_channels(x: &Tensor, sizes: &[usize]) -> Result<Vec<Tensor>> {
    let op = "split_channels";
    check_split(op, x, sizes)?;
    let outs = sizes
        .iter()
        .map(|&s| {
            let mut shape = x.shape().to_vec();
            shape[1] = s;
            x.device().empty(&shape, x.dtype())
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&Tensor> = outs.iter().collect();
    split_channels_into(x, &refs)?;
    Ok(outs)
}

fn check_split(op: &str, x: &Tensor, sizes: &[usize]) -> Result<()> {
    check_tensor(op, "input", x)?;
    if sizes.is_empty() {
        return Err(Error::invalid(op, "sizes", "expected at least one piece"));
    }
    let sum: usize = sizes.iter().sum();
    if sum != x.shape()[1] {
        return Err(Error::shape(
            op,
            format!(
                "sizes {sizes:?} sum to {sum} channels, input {:?} has {}",
                x.shape(),
                x.shape()[1]
            ),
        ));
    }
    Ok(())
}

/// [`split_channels`] into `outs`, whose channel counts give the sizes.
pub fn split_channels_into(x: &Tensor, outs: &[&Tensor]) -> Result<()> {
    let op = "split_channels";
    let sizes: Vec<usize> = outs
        .iter()
        .map(|t| t.shape().get(1).copied().unwrap_or(0))
        .collect();
    check_split(op, x, &sizes)?;
    let batch = x.shape()[0];
    let inner: usize = x.shape()[2..].iter().product();
    let total = x.shape()[1] * inner;
    let mut offset = 0;
    for (out, &s) in outs.iter().zip(&sizes) {
        let mut shape = x.shape().to_vec();
        shape[1] = s;
        crate::check_output(op, out, &shape, x.dtype(), &[x])?;
        let len = s * inner;
        block_copy(
            op,
            x,
            out,
            BlockCopy {
                blocks: batch,
                len,
                src_stride: total,
                src_off: offset,
                dst_stride: len,
                dst_off: 0,
            },
        )?;
        offset += len;
    }
    Ok(())
}
