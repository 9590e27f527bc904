//! 2-D pooling with PyTorch's semantics (NCHW): max, average, sum and min
//! pooling ([`pool2d`]), max pooling with PyTorch's indices
//! ([`max_pool2d_with_indices`]), their gradients in gather form
//! ([`max_pool2d_backward`], [`avg_pool2d_backward`]), global pooling,
//! adaptive average pooling to any size ([`adaptive_avg_pool2d`]) and
//! [`max_unpool2d`].
//!
//! | kernel | precisions | mapping |
//! |---|---|---|
//! | `pool/pool2d` (max, avg, sum, min, with indices) | f32, f16, packed f16 | one output (packed: one output word) per invocation |
//! | `pool/avg_backward` | f32, f16, packed f16 | one input-gradient element (word) per invocation, gather |
//! | `pool/max2x2`, `pool/max2x2_vec4` (max, with indices) | f32, f16 | 2×2 stride 2 on even widths: 1 or 2 outputs per invocation with vec2 loads, 4 with vec4 loads and stores where OW % 4 == 0 |
//! | `pool/max_backward_disjoint` | f32, f16 | non-overlapping windows ([`max_pool2d_backward_windows`]): one dx element per invocation, one pass |
//! | `pool/max_backward` + `pool/max_index_ranges` | f32, f16, packed f16 | gather over output ranges derived from the indices |
//! | `pool/global_pool` (avg, max) | f32, f16 (packed: `pool2d` with the whole plane as kernel) | one workgroup per plane, tree reduction |
//! | `pool/global_avg_backward` | f32, f16 (packed: `avg_backward`) | one element per invocation |
//! | `pool/max_unpool` | f32, f16 | zero fill, then one scatter store per input element |
//! | `pool/adaptive_avg`, `pool/adaptive_avg_backward` | f32, f16 | one output (forward) or input-gradient element (backward, gather over the overlapping windows) per invocation |
//!
//! Every kernel reads and accumulates in f32 and rounds once on the store, so
//! f16 sums beyond 65504 stay finite when their average is. Gradients are
//! deterministic: no float atomics anywhere.

pub mod adaptive;
pub mod backward;
pub mod forward;
pub mod global;
pub mod unpool;

use weft_device::{Binding, DType, Device, Error, Kernel, Result, ShaderFile, Tensor};

use crate::float_nchw as nchw;

pub use adaptive::{adaptive_avg_pool2d, adaptive_avg_pool2d_backward};
pub use backward::{
    avg_pool2d_backward, avg_pool2d_backward_into, max_pool2d_backward, max_pool2d_backward_by,
    max_pool2d_backward_into, max_pool2d_backward_temp_bytes, max_pool2d_backward_windows,
    max_pool2d_backward_windows_into,
};
pub use forward::{
    max_pool2d_with_indices, max_pool2d_with_indices_by, max_pool2d_with_indices_into, pool2d,
    pool2d_by, pool2d_into,
};
pub use global::{
    global_avg_pool, global_avg_pool_backward, global_avg_pool_backward_into, global_max_pool,
    global_pool_into,
};
pub use unpool::{max_unpool2d, max_unpool2d_into};

/// Invocations per workgroup of the one-item-per-invocation kernels.
const WG: usize = 64;

/// The uniform block's fields, mirrored by every pooling kernel.
const PARAMS: ShaderFile = crate::shaders::wgsl!("pool/params.wgsl");

/// Shaders of every pooling module.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    let mut all = forward::shaders();
    all.extend(adaptive::shaders());
    all.extend(backward::shaders());
    all.extend(global::shaders());
    all.extend(unpool::shaders());
    all
}

/// Hyper-parameters of a 2-D pooling, as PyTorch's `max_pool2d` / `avg_pool2d`
/// take them (`[height, width]` pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Implicit padding on both sides (−∞ for max, 0 for avg/sum); at most half
    /// the kernel.
    pub padding: [usize; 2],
    /// Spacing of window positions; max and min pooling only.
    pub dilation: [usize; 2],
    /// Round the output size up (the last window must still start inside the
    /// input or its left padding).
    pub ceil_mode: bool,
    /// Average pooling: count padded positions in the divisor.
    pub count_include_pad: bool,
    /// Average pooling: divide by this instead of the window size.
    pub divisor_override: Option<usize>,
}

impl Pool2dParams {
    /// A `kernel`-sized window with PyTorch's defaults: stride = kernel, no
    /// padding, dilation 1, floor mode, `count_include_pad = true`.
    pub fn new(kernel: [usize; 2]) -> Self {
        Pool2dParams {
            kernel,
            stride: kernel,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    /// Output height and width for an `h × w` input, with PyTorch's
    /// `pooling_output_shape` (floor or ceil mode; in ceil mode the last window
    /// must start inside the input or the left padding) and its checks: positive
    /// kernel, stride and dilation, padding at most half the kernel, and at
    /// least one output.
    pub fn out_hw(&self, op: &str, h: usize, w: usize) -> Result<[usize; 2]> {
        for (name, v) in [
            ("kernel", self.kernel),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ] {
            if v.contains(&0) {
                return Err(Error::invalid(
                    op,
                    name,
                    format!("must be positive, got {v:?}"),
                ));
            }
        }
        if self.padding[0] > self.kernel[0] / 2 || self.padding[1] > self.kernel[1] / 2 {
            return Err(Error::invalid(
                op,
                "padding",
                format!(
                    "must be at most half the kernel size: padding {:?}, kernel {:?}",
                    self.padding, self.kernel
                ),
            ));
        }
        if h == 0 || w == 0 {
            return Err(Error::shape(
                op,
                format!("input planes must be non-empty, got {h}x{w}"),
            ));
        }
        let mut out = [0usize; 2];
        for (a, size) in [h, w].into_iter().enumerate() {
            let (k, s, p, d) = (
                self.kernel[a] as i64,
                self.stride[a] as i64,
                self.padding[a] as i64,
                self.dilation[a] as i64,
            );
            let size = size as i64;
            let ceil = if self.ceil_mode { s - 1 } else { 0 };
            let mut o = (size + 2 * p - d * (k - 1) - 1 + ceil).div_euclid(s) + 1;
            if self.ceil_mode && (o - 1) * s >= size + p {
                o -= 1;
            }
            if o < 1 {
                return Err(Error::invalid(
                    op,
                    "kernel",
                    format!(
                        "kernel {:?} (dilation {:?}) is larger than the padded input {}x{} (padding {:?}): no output",
                        self.kernel,
                        self.dilation,
                        h + 2 * self.padding[0],
                        w + 2 * self.padding[1],
                        self.padding
                    ),
                ));
            }
            out[a] = o as usize;
        }
        Ok(out)
    }
}

/// What a pooling window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// PyTorch's `max_pool2d`: NaN propagates, padding is −∞.
    Max,
    /// PyTorch's `avg_pool2d`.
    Avg,
    /// The average times its divisor: the sum of the in-bounds elements.
    Sum,
    /// −max_pool2d(−x).
    Min,
}

impl PoolKind {
    /// Every kind.
    pub const ALL: [PoolKind; 4] = [PoolKind::Max, PoolKind::Avg, PoolKind::Sum, PoolKind::Min];

    /// The `KIND` override constant of `pool/forward.wgsl`.
    fn code(self) -> u32 {
        match self {
            PoolKind::Max => 0,
            PoolKind::Avg => 1,
            PoolKind::Sum => 2,
            PoolKind::Min => 3,
        }
    }

    /// The op name used in errors.
    pub fn op_name(self) -> &'static str {
        match self {
            PoolKind::Max => "max_pool2d",
            PoolKind::Avg => "avg_pool2d",
            PoolKind::Sum => "sum_pool2d",
            PoolKind::Min => "min_pool2d",
        }
    }
}

/// The uniform block of every pooling kernel (`pool/params.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolUniform {
    n: u32,
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    divisor: u32,
    include_pad: u32,
}

impl PoolUniform {
    /// The block for `planes` planes of `h × w` pooled to `oh × ow` by `params`.
    fn new(planes: usize, hw: [usize; 2], ohw: [usize; 2], params: &Pool2dParams) -> Self {
        PoolUniform {
            n: 0,
            planes: planes as u32,
            h: hw[0] as u32,
            w: hw[1] as u32,
            oh: ohw[0] as u32,
            ow: ohw[1] as u32,
            kh: params.kernel[0] as u32,
            kw: params.kernel[1] as u32,
            sh: params.stride[0] as u32,
            sw: params.stride[1] as u32,
            ph: params.padding[0] as u32,
            pw: params.padding[1] as u32,
            dh: params.dilation[0] as u32,
            dw: params.dilation[1] as u32,
            divisor: params.divisor_override.unwrap_or(0) as u32,
            include_pad: params.count_include_pad as u32,
        }
    }

    fn with_n(mut self, n: usize) -> Self {
        self.n = n as u32;
        self
    }

    /// A block with only the plane geometry (global pooling, unpooling).
    fn planes(planes: usize, hw: [usize; 2], ohw: [usize; 2]) -> Self {
        PoolUniform::new(planes, hw, ohw, &Pool2dParams::new([1, 1]))
    }
}

/// Rejects tensors whose flat indices do not fit the kernels' 32-bit arithmetic.
fn check_u32(op: &str, what: &str, elements: usize) -> Result<()> {
    if elements > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!("{what} has {elements} elements, more than 32-bit indexing allows"),
        ));
    }
    Ok(())
}

/// An I32 index tensor of exactly `shape`.
fn check_indices(op: &str, indices: &Tensor, shape: &[usize]) -> Result<()> {
    if indices.dtype() != DType::I32 {
        return Err(Error::invalid(
            op,
            "indices",
            format!("expected an i32 tensor, got {}", indices.dtype()),
        ));
    }
    if indices.shape() != shape {
        return Err(Error::shape(
            op,
            format!(
                "indices: expected shape {shape:?}, got {:?}",
                indices.shape()
            ),
        ));
    }
    Ok(())
}

/// Checks the parameters that depend on the kind (PyTorch's avg_pool2d has no
/// dilation; a zero divisor is an error) and resolves the output size.
fn resolve(
    op: &str,
    kind: PoolKind,
    params: &Pool2dParams,
    h: usize,
    w: usize,
) -> Result<[usize; 2]> {
    if matches!(kind, PoolKind::Avg | PoolKind::Sum) && params.dilation != [1, 1] {
        return Err(Error::invalid(
            op,
            "dilation",
            format!(
                "average and sum pooling take no dilation, got {:?}",
                params.dilation
            ),
        ));
    }
    if params.divisor_override == Some(0) {
        return Err(Error::invalid(op, "divisor_override", "must not be zero"));
    }
    if params
        .divisor_override
        .is_some_and(|d| d > i32::MAX as usize)
    {
        return Err(Error::invalid(
            op,
            "divisor_override",
            "must fit in 32 bits",
        ));
    }
    params.out_hw(op, h, w)
}

/// Launches `kernel` over `items` work items, one per invocation (or two per
/// invocation for packed f16).
fn launch(
    kernel: &Kernel<'_>,
    uniform: PoolUniform,
    items: usize,
    packed: bool,
    bindings: &[Binding<'_>],
    dev: &Device,
) -> Result<()> {
    let units = if packed { items.div_ceil(2) } else { items };
    dev.dispatch(
        kernel,
        bytemuck::bytes_of(&uniform.with_n(items)),
        bindings,
        units.div_ceil(WG) as u64,
    )
}

/// I32 flat positions need planes of at most `i32::MAX` elements.
fn check_i32_plane(op: &str, h: usize, w: usize) -> Result<()> {
    if h.checked_mul(w).is_none_or(|hw| hw > i32::MAX as usize) {
        return Err(Error::shape(
            op,
            format!("a {h}x{w} plane has more positions than i32 indices address"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(p: Pool2dParams, h: usize, w: usize) -> Result<[usize; 2]> {
        p.out_hw("pool", h, w)
    }

    #[test]
    fn output_sizes_follow_pytorch() {
        assert_eq!(out(Pool2dParams::new([2, 2]), 7, 8).unwrap(), [3, 4]);
        let ceil = Pool2dParams {
            ceil_mode: true,
            ..Pool2dParams::new([2, 2])
        };
        assert_eq!(out(ceil, 7, 8).unwrap(), [4, 4]);
        // ceil mode: the last window must start inside the input or left padding.
        let p = Pool2dParams {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            ceil_mode: true,
            ..Pool2dParams::new([3, 3])
        };
        assert_eq!(out(p, 6, 6).unwrap(), [4, 4]);
        assert_eq!(out(p, 5, 5).unwrap(), [3, 3]);
        // (5 + 2 - 2 + 1) / 2 + 1 = 4, but window 3 would start at 3*2 - 1 = 5,
        // in the right padding: dropped.
        let p = Pool2dParams {
            padding: [1, 1],
            ceil_mode: true,
            ..Pool2dParams::new([2, 2])
        };
        assert_eq!(out(p, 5, 5).unwrap(), [3, 3]);
        // 1x1 input with ceil mode and a kernel larger than the input.
        let p = Pool2dParams {
            ceil_mode: true,
            ..Pool2dParams::new([2, 2])
        };
        assert_eq!(out(p, 1, 1).unwrap(), [1, 1]);
        let p = Pool2dParams {
            dilation: [2, 3],
            stride: [1, 1],
            ..Pool2dParams::new([3, 2])
        };
        assert_eq!(out(p, 9, 9).unwrap(), [5, 6]);
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = out(Pool2dParams::new([3, 3]), 2, 5).unwrap_err();
        assert!(
            e.to_string().contains("larger than the padded input"),
            "{e}"
        );
        let p = Pool2dParams {
            padding: [2, 0],
            ..Pool2dParams::new([3, 3])
        };
        assert!(out(p, 9, 9).unwrap_err().to_string().contains("padding"));
        let p = Pool2dParams {
            stride: [0, 1],
            ..Pool2dParams::new([3, 3])
        };
        assert!(out(p, 9, 9).unwrap_err().to_string().contains("stride"));
    }
}
