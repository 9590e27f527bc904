//! Adaptive average pooling to any output size (PyTorch's
//! `adaptive_avg_pool2d`) and its gradient.

use weft_device::{Binding, Error, Kernel, Result, Tensor};

use super::{PARAMS, PoolUniform, check_u32, launch, nchw};
use crate::precision::Precision;

crate::shaders::typed!(ADAPTIVE_AVG, [PARAMS], "pool/adaptive_avg.wgsl");
crate::shaders::typed!(
    ADAPTIVE_AVG_BACKWARD,
    [PARAMS],
    "pool/adaptive_avg_backward.wgsl"
);

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&ADAPTIVE_AVG, &ADAPTIVE_AVG_BACKWARD], &[])
}

/// Checks a pooling between `h × w` input planes and `oh × ow` outputs, the
/// products the kernels form included.
fn check_sizes(op: &str, hw: [usize; 2], ohw: [usize; 2], elements: usize) -> Result<()> {
    if ohw.contains(&0) {
        return Err(Error::invalid(
            op,
            "output_size",
            format!("must be positive, got {ohw:?}"),
        ));
    }
    if hw.contains(&0) {
        return Err(Error::shape(
            op,
            format!("input planes must be non-empty, got {}x{}", hw[0], hw[1]),
        ));
    }
    // (o + 1)·h and (i + 1)·oh must fit in 32 bits.
    for a in 0..2 {
        check_u32(op, "a window bound", (ohw[a] + 1) * hw[a] + ohw[a] + hw[a])?;
    }
    check_u32(op, "the tensor", elements)
}

/// `[N, C, H, W]` → `[N, C, OH, OW]`: output `(oy, ox)` is the mean of input
/// rows `[⌊oy·H/OH⌋, ⌈(oy+1)·H/OH⌉)` and the like columns, PyTorch's
/// `adaptive_avg_pool2d(x, (OH, OW))`. Sums in f32. A 1×1 output is the
/// global mean's reduction tree, which splits a plane of any size over many
/// invocations (one invocation looping over a whole plane would run past
/// lavapipe's loop limit from 256² on).
pub fn adaptive_avg_pool2d(x: &Tensor, output_hw: [usize; 2]) -> Result<Tensor> {
    let op = "adaptive_avg_pool2d";
    let [n, c, h, w] = nchw(op, "input", x)?;
    if output_hw == [1, 1] && h * w > 1 {
        return super::global_avg_pool(x);
    }
    check_sizes(
        op,
        [h, w],
        output_hw,
        x.numel().max(n * c * output_hw[0] * output_hw[1]),
    )?;
    let dev = x.device();
    let precision = Precision::typed_only(op, dev, x.dtype())?;
    let y = dev.empty(&[n, c, output_hw[0], output_hw[1]], x.dtype())?;
    let shader = ADAPTIVE_AVG.get(precision).expect("typed");
    launch(
        &Kernel::new(op, shader, "main"),
        PoolUniform::planes(n * c, [h, w], output_hw),
        y.numel(),
        false,
        &[Binding::Read(x.binding()), Binding::ReadWrite(y.binding())],
        dev,
    )?;
    Ok(y)
}

/// Gradient of [`adaptive_avg_pool2d`] for an input of `input_shape`: each
/// input element gathers `dy / area` from every window that holds it (windows
/// overlap where the sizes do not divide); deterministic, sums in f32.
pub fn adaptive_avg_pool2d_backward(dy: &Tensor, input_shape: [usize; 4]) -> Result<Tensor> {
    let op = "adaptive_avg_pool2d_backward";
    let [n, c, oh, ow] = nchw(op, "grad_output", dy)?;
    let [dn, dc, h, w] = input_shape;
    if (dn, dc) != (n, c) {
        return Err(Error::shape(
            op,
            format!(
                "grad_output {:?} and input {input_shape:?} differ in batch or channels",
                dy.shape()
            ),
        ));
    }
    let elements: usize = input_shape.iter().product();
    check_sizes(op, [h, w], [oh, ow], elements.max(dy.numel()))?;
    if [oh, ow] == [1, 1] && h * w > 1 {
        return super::global_avg_pool_backward(dy, input_shape);
    }
    let dev = dy.device();
    let precision = Precision::typed_only(op, dev, dy.dtype())?;
    let dx = dev.empty(&input_shape, dy.dtype())?;
    let shader = ADAPTIVE_AVG_BACKWARD.get(precision).expect("typed");
    launch(
        &Kernel::new(op, shader, "main"),
        PoolUniform::planes(n * c, [h, w], [oh, ow]),
        elements,
        false,
        &[
            Binding::Read(dy.binding()),
            Binding::ReadWrite(dx.binding()),
        ],
        dev,
    )?;
    Ok(dx)
}
