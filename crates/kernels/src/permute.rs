//! Permuting a tensor's axes into a new contiguous tensor: `torch.permute`
//! followed by `.contiguous()`, ONNX's `Transpose` (ShuffleNet's channel
//! shuffle, pixel shuffle, NHWC ↔ NCHW).
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `permute/permute` | f32, f16, i32 (as f32 bits) | one output element per invocation, bit exact |
//!
//! Packed f16 has no permute kernel: without shader-f16, f16 tensors are a
//! `MissingFeature` error.

use weft_device::{Binding, DType, Error, Feature, Kernel, Result, Tensor};

use crate::precision::Precision;
use crate::shaders;

const WG: usize = 64;
/// Most axes a permutation may have.
pub const MAX_RANK: usize = 8;

shaders::typed!(PERMUTE, [], "permute/permute.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(&[&PERMUTE], &[])
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PermuteUniform {
    n: u32,
    rank: u32,
    _pad: [u32; 2],
    dims: [u32; MAX_RANK],
    src_stride: [u32; MAX_RANK],
}

/// Checks that `perm` is a permutation of `0..rank`.
pub fn check_perm(op: &str, perm: &[usize], rank: usize) -> Result<()> {
    let mut seen = vec![false; rank];
    let ok = perm.len() == rank
        && perm
            .iter()
            .all(|&a| a < rank && !std::mem::replace(&mut seen[a], true));
    if !ok {
        return Err(Error::invalid(
            op,
            "perm",
            format!("{perm:?} is not a permutation of the {rank} axes"),
        ));
    }
    Ok(())
}

/// The dims of `shape` permuted by `perm`: output axis `a` is input axis `perm[a]`.
pub fn permuted_shape(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    perm.iter().map(|&a| shape[a]).collect()
}

/// The inverse permutation (the backward of a permute).
pub fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (a, &p) in perm.iter().enumerate() {
        inv[p] = a;
    }
    inv
}

/// `x` with its axes permuted: `y[c_0, …] = x[…]` with output axis `a` being
/// input axis `perm[a]`.
pub fn permute(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    check_perm("permute", perm, x.rank())?;
    let y = x
        .device()
        .empty(&permuted_shape(x.shape(), perm), x.dtype())?;
    permute_into(x, perm, &y)?;
    Ok(y)
}

/// [`permute`] into `y`.
pub fn permute_into(x: &Tensor, perm: &[usize], y: &Tensor) -> Result<()> {
    let op = "permute";
    let rank = x.rank();
    if rank > MAX_RANK {
        return Err(Error::shape(
            op,
            format!("at most {MAX_RANK} axes, got {:?}", x.shape()),
        ));
    }
    check_perm(op, perm, rank)?;
    crate::check_u32_elements(op, x)?;
    let out_shape = permuted_shape(x.shape(), perm);
    crate::check_output(op, y, &out_shape, x.dtype(), &[x])?;
    let dev = x.device();
    // A copy moves bits: i32 tensors go through the f32 kernel.
    let precision = match x.dtype() {
        DType::I32 | DType::F32 => Precision::F32,
        dtype => Precision::for_dtype(dev, dtype)?,
    };
    if precision == Precision::F16Packed {
        dev.require(op, Feature::ShaderF16)?;
    }
    let strides: Vec<usize> = (0..rank)
        .map(|a| x.shape()[a + 1..].iter().product())
        .collect();
    let mut u = PermuteUniform {
        n: x.numel() as u32,
        rank: rank as u32,
        ..Default::default()
    };
    for (a, &p) in perm.iter().enumerate() {
        u.dims[a] = out_shape[a] as u32;
        u.src_stride[a] = strides[p] as u32;
    }
    let shader = PERMUTE
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    dev.dispatch(
        &Kernel::new(op, shader, "main"),
        bytemuck::bytes_of(&u),
        &[Binding::Read(x.binding()), Binding::ReadWrite(y.binding())],
        x.numel().div_ceil(WG) as u64,
    )
}
