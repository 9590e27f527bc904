//! `MaxUnpool2d`: a scatter of pooled values to their recorded positions.

use weft_device::{Binding, Error, Kernel, Result, Tensor};

use super::{PARAMS, PoolUniform, check_i32_plane, check_indices, check_u32, launch, nchw};
use crate::elementwise;

crate::shaders::typed!(MAX_UNPOOL, [PARAMS], "pool/max_unpool.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&MAX_UNPOOL], &[])
}

/// PyTorch's `MaxUnpool2d`: an `[N, C, OH, OW]` tensor of zeros with
/// `x[n, c, i]` stored at flat position `indices[n, c, i]` of its plane.
/// `indices` (I32, `x`'s shape) are those of [`max_pool2d_with_indices`](super::max_pool2d_with_indices);
/// positions outside the `OH × OW` plane are skipped (PyTorch raises an error),
/// and when two different values name one position, which lands is unspecified.
pub fn max_unpool2d(x: &Tensor, indices: &Tensor, output_hw: [usize; 2]) -> Result<Tensor> {
    let op = "max_unpool2d";
    let [n, c, _, _] = nchw(op, "input", x)?;
    if output_hw.contains(&0) {
        return Err(Error::invalid(
            op,
            "output_size",
            format!("must be positive, got {output_hw:?}"),
        ));
    }
    let out = x
        .device()
        .empty(&[n, c, output_hw[0], output_hw[1]], x.dtype())?;
    max_unpool2d_into(x, indices, &out)?;
    Ok(out)
}

/// [`max_unpool2d`] into `out`, whose `[N, C, OH, OW]` gives the output size
/// (zero-filled first).
pub fn max_unpool2d_into(x: &Tensor, indices: &Tensor, out: &Tensor) -> Result<()> {
    let op = "max_unpool2d";
    let [n, c, h, w] = nchw(op, "input", x)?;
    check_indices(op, indices, &[n, c, h, w])?;
    let [on, oc, oh, ow] = <[usize; 4]>::try_from(out.shape()).map_err(|_| {
        Error::shape(
            op,
            format!("output must be 4-D (NCHW), got shape {:?}", out.shape()),
        )
    })?;
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
    if oh == 0 || ow == 0 {
        return Err(Error::invalid(
            op,
            "output_size",
            format!("must be positive, got [{oh}, {ow}]"),
        ));
    }
    check_i32_plane(op, oh, ow)?;
    let dev = x.device();
    let precision = crate::precision::Precision::typed_only(op, dev, x.dtype())?;
    crate::check_output(op, out, &[n, c, oh, ow], x.dtype(), &[x, indices])?;
    check_u32(op, "output", out.numel())?;
    elementwise::fill_words(out, 0)?;
    let shader = MAX_UNPOOL
        .get(precision)
        .expect("typed shaders have f32 and f16 forms");
    let kernel = Kernel::new(op, shader, "main");
    launch(
        &kernel,
        PoolUniform::planes(n * c, [h, w], [oh, ow]),
        x.numel(),
        false,
        &[
            Binding::Read(x.binding()),
            Binding::Read(indices.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        dev,
    )
}
