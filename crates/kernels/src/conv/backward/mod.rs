//! Gradients of `y = conv2d(x, w) + b` and of `y = conv_transpose2d(x, w) + b`,
//! with PyTorch's semantics. Activation gradients are applied by the caller
//! (to `dy`) before these.
//!
//! | gradient | kernel |
//! |---|---|
//! | conv2d dx, stride 1 (row `forward_conv` of [`data::TABLE`]) | a forward convolution of dy with the 180°-rotated, channel-swapped weights and padding d·(K−1) − pad (the [`crate::conv::forward`] table's choice; never Winograd) |
//! | conv2d dx, otherwise (row `transposed`) | the transposed convolution of dy with w, offset by the conv's top/left padding (asymmetric `same` padding included): the [`crate::conv::transpose`] table's choice |
//! | conv_transpose2d dx | the forward convolution of dy with w read as OIHW at the same stride, padding, dilation and groups, by the [`crate::conv::forward`] table's choice; the direct kernel (`conv_direct`, register-blocked up to 8 channels × 4 pixels) writes the zeros of an empty dy |
//! | dw (both; [`weight::TABLE`]) | one implicit GEMM over K = N·H·W (im2col gathered on the fly, rows shared by the workgroup) with the reduction split over workgroups (f32 partial sums, added in order by a finalize pass) and inside them (fixed-order workgroup sum); im2col + GEMM rows; for 3x3 stride-1 layers with enough tiles, Winograd F(2x2, 3x3) run backwards (16 GEMMs over the tiles, chunks added in order) |
//! | db | one workgroup per channel pair, strided f32 sums then a fixed tree |
//!
//! Every kernel gathers: no float atomics, one summation order, deterministic
//! results. Sums accumulate in f32 at every precision, so f16 data whose partial
//! sums pass 65504 still give finite, correct gradients. Parameter gradients
//! come out in the dtype of `dy`. Every gradient has f32, native-f16 and
//! packed-f16 forms, and an `_into` form writing a given tensor.
//! [`conv2d_backward_scratch_bytes`] and [`conv_transpose2d_backward_scratch_bytes`]
//! give the exact temporary memory (column chunks, split partial sums).

pub mod data;
pub mod weight;
mod weight_gemm;
mod weight_winograd;

use weft_device::{Binding, Device, Error, Kernel, Result, Shader, Tensor};

use super::params::{Conv2dGeometry, Conv2dParams, ConvTranspose2dGeometry, ConvTranspose2dParams};
use super::{IN2_F16P, IN2_TYPED, OUT3_F16P, OUT3_TYPED, same_float_dtype, typed_shader};
use crate::precision::Precision;
use crate::shaders::{plain, typed};

pub use data::{
    DataGradVariant, conv_transpose2d_backward_data, conv_transpose2d_backward_data_into,
    conv_transpose2d_backward_data_scratch_bytes, conv2d_backward_data, conv2d_backward_data_by,
    conv2d_backward_data_into, conv2d_backward_data_scratch_bytes,
};
pub use weight::{
    PARTIALS_BUDGET, WeightGradVariant, conv_transpose2d_backward_weight,
    conv_transpose2d_backward_weight_by, conv_transpose2d_backward_weight_into,
    conv_transpose2d_backward_weight_scratch_bytes, conv2d_backward_weight,
    conv2d_backward_weight_by, conv2d_backward_weight_into, conv2d_backward_weight_scratch_bytes,
};

typed!(DB, [IN2_TYPED, OUT3_TYPED], "conv_backward/db.wgsl");
plain!(DB_F16P, [IN2_F16P, OUT3_F16P], "conv_backward/db.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static Shader> {
    let mut all = crate::shaders::list(&[&DB], &[&DB_F16P]);
    all.extend(data::shaders());
    all.extend(weight::shaders());
    all
}

pub(super) const OP_C2D_DATA: &str = "conv2d_backward_data";
pub(super) const OP_C2D_WEIGHT: &str = "conv2d_backward_weight";
pub(super) const OP_CT_DATA: &str = "conv_transpose2d_backward_data";
pub(super) const OP_CT_WEIGHT: &str = "conv_transpose2d_backward_weight";

/// Validates a conv2d gradient's operands: dy and `other` share a float dtype,
/// the geometry of `x_shape` and `w_shape` is valid, and dy has its output shape.
pub(super) fn check_conv2d(
    op: &str,
    dy: &Tensor,
    other_name: &str,
    other: &Tensor,
    x_shape: &[usize],
    w_shape: &[usize],
    params: &Conv2dParams,
) -> Result<Conv2dGeometry> {
    same_float_dtype(op, "dy", dy, other_name, other)?;
    let geo = Conv2dGeometry::new(op, x_shape, w_shape, params)?;
    check_dy(op, dy, geo.out_shape(), x_shape, w_shape)?;
    Ok(geo)
}

/// [`check_conv2d`] for a transposed convolution.
pub(super) fn check_transposed(
    op: &str,
    dy: &Tensor,
    other_name: &str,
    other: &Tensor,
    x_shape: &[usize],
    w_shape: &[usize],
    params: &ConvTranspose2dParams,
) -> Result<ConvTranspose2dGeometry> {
    same_float_dtype(op, "dy", dy, other_name, other)?;
    let geo = ConvTranspose2dGeometry::new(op, x_shape, w_shape, params)?;
    check_dy(op, dy, geo.out_shape(), x_shape, w_shape)?;
    Ok(geo)
}

/// dy of a bias gradient: a 4-D float tensor.
fn check_bias(dy: &Tensor) -> Result<[usize; 4]> {
    const OP: &str = "conv2d_backward_bias";
    let dims = <[usize; 4]>::try_from(dy.shape()).map_err(|_| {
        Error::shape(
            OP,
            format!("dy must be 4-D (NCHW), got shape {:?}", dy.shape()),
        )
    })?;
    if !dy.dtype().is_float() {
        return Err(Error::invalid(
            OP,
            "dtype",
            format!("expected an f32 or f16 tensor, got {}", dy.dtype()),
        ));
    }
    Ok(dims)
}

/// dy must have the shape the forward pass produces.
fn check_dy(
    op: &str,
    dy: &Tensor,
    want: [usize; 4],
    x_shape: &[usize],
    w_shape: &[usize],
) -> Result<()> {
    if dy.shape() != want {
        return Err(Error::shape(
            op,
            format!(
                "dy: expected {want:?} (the forward output for input {x_shape:?} and weight {w_shape:?}), got {:?}",
                dy.shape()
            ),
        ));
    }
    Ok(())
}

/// db of `y = conv2d(x, w) + b` (or of a transposed convolution): the sum of
/// dy `[N, C, H, W]` over N, H and W, shape `[C]`, in dy's dtype.
pub fn conv2d_backward_bias(dy: &Tensor) -> Result<Tensor> {
    let c = check_bias(dy)?[1];
    let db = dy.device().empty(&[c], dy.dtype())?;
    conv2d_backward_bias_into(dy, None, &db)?;
    Ok(db)
}

/// [`conv2d_backward_bias`] into `db` `[C]`, with an explicit precision (e.g. to
/// force packed f16).
pub fn conv2d_backward_bias_into(
    dy: &Tensor,
    precision: Option<Precision>,
    db: &Tensor,
) -> Result<()> {
    const OP: &str = "conv2d_backward_bias";
    let [n, c, h, w] = check_bias(dy)?;
    crate::check_output(OP, db, &[c], dy.dtype(), &[dy])?;
    let dev = dy.device();
    let precision = Precision::resolve(OP, dev, dy.dtype(), precision)?;
    if c == 0 {
        return Ok(());
    }
    if n * h * w == 0 {
        return crate::elementwise::fill(db, 0.0);
    }
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct DbParams {
        n: u32,
        c: u32,
        hw: u32,
        _pad: u32,
    }
    let params = DbParams {
        n: n as u32,
        c: c as u32,
        hw: (h * w) as u32,
        _pad: 0,
    };
    let shader = match precision {
        Precision::F16Packed => &DB_F16P,
        p => typed_shader(&DB, p),
    };
    dev.dispatch(
        &Kernel::new(OP, shader, "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(dy.binding()),
            Binding::Read(dy.binding()),
            Binding::ReadWrite(db.binding()),
        ],
        c.div_ceil(2) as u64,
    )
}

/// Peak bytes of temporary buffers any one of conv2d's backward functions
/// allocates for `geo` at `precision` (the largest of the data gradient's GEMM
/// columns, when its automatic variant uses them, and the weight gradient's
/// split partial sums; the bias gradient needs none). 0 if none.
pub fn conv2d_backward_scratch_bytes(
    dev: &Device,
    geo: &Conv2dGeometry,
    precision: Precision,
) -> u64 {
    conv2d_backward_data_scratch_bytes(dev, geo, precision).max(
        weight::conv2d_backward_weight_scratch_bytes(dev, geo, precision),
    )
}

/// Peak bytes of temporary buffers any one of conv_transpose2d's backward
/// functions allocates for `geo` at `precision` (the data gradient's forward
/// convolution scratch, the weight gradient's columns or split partial
/// sums). 0 if none.
pub fn conv_transpose2d_backward_scratch_bytes(
    dev: &Device,
    geo: &ConvTranspose2dGeometry,
    precision: Precision,
) -> u64 {
    conv_transpose2d_backward_data_scratch_bytes(dev, geo, precision).max(
        weight::conv_transpose2d_backward_weight_scratch_bytes(dev, geo, precision),
    )
}
