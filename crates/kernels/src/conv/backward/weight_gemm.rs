//! The weight gradient as im2col + GEMM: per chunk of images, A's channels
//! laid out as rows `[a_c, W]` (`dw_rows.wgsl`) and B's receptive fields
//! unrolled, then one GEMM over the chunk's `W` pixels. Two layouts of the
//! unrolled B, two rows of the table:
//!
//! - patch-major `[patch, W]` (`conv_im2col.wgsl`): `dW = rows · colsᵀ`,
//!   both operands contiguous along the reduction (the vec4 NT kernel);
//! - pixel-major `[W, patch]` (`dw_pixels.wgsl`): `dW = rows · cols`, a
//!   row-major GEMM for the 16x16 vec4 kernels (patch a multiple of 4).
//!
//! The reduction is split into batches of the GEMM when its tiles alone would
//! leave the device idle; the f32 products of the splits, then of the chunks,
//! are added in order by `dw_sum.wgsl` (deterministic).

use weft_device::{Binding, BufferRange, DType, Device, Error, Kernel, Result, Tensor};

use super::weight::{F32Sum, WeightGrad, WeightGradArgs, WeightGradProblem, WeightGradVariant};
use crate::binding::{align_elems, window};
use crate::conv::forward::{SCRATCH_BUDGET, im2col_into, round4};
use crate::conv::params::Conv2dGeometry;
use crate::conv::typed_shader;
use crate::gemm::{self, BiasMode, GemmArgs, GemmDims, GemmProblem};
use crate::precision::Precision;
use crate::registry::Unsupported;
use crate::shaders::{plain, typed};
use crate::{Activation, registry};

typed!(DW_ROWS, [], "conv_backward/dw_rows.wgsl");
typed!(DW_PIXELS, [], "conv_backward/dw_pixels.wgsl");
plain!(DW_SUM, [], "conv_backward/dw_sum.wgsl");

/// Workgroups a launch should offer before the reduction is split (enough to
/// fill a GPU's cores a few times over).
const TARGET_WORKGROUPS: usize = 128;
/// The shortest reduction a split may have, in columns.
const MIN_SPLIT: usize = 1024;

/// How one weight gradient is cut into launches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GemmPlan {
    /// Images per chunk (the last chunk may hold fewer).
    pub imgs: usize,
    /// Batches of the GEMM per chunk, each `split_len` columns of the reduction.
    pub splits: usize,
    pub split_len: usize,
    /// Columns of the first (largest) chunk: `splits · split_len`.
    pub width: usize,
    /// Chunks covering the batch.
    pub chunks: usize,
}

impl GemmPlan {
    /// Whether the GEMM writes dW itself (one chunk, one split).
    fn direct(&self) -> bool {
        self.chunks == 1 && self.splits == 1
    }

    /// Elements of the scratch tensors, in allocation order: columns, rows,
    /// and the partial products (when not direct).
    fn scratch_elems(&self, wg: &WeightGrad) -> [usize; 3] {
        let part = if self.direct() {
            0
        } else {
            self.splits * wg.numel()
        };
        [patch(wg) * self.width, wg.a_c * self.width, part]
    }

    pub fn scratch_bytes(&self, wg: &WeightGrad) -> u64 {
        self.scratch_elems(wg)
            .iter()
            .map(|&n| DType::F32.storage_bytes(n))
            .sum()
    }
}

/// Rows of B per column of the GEMM: (b, ky, kx) of one group.
fn patch(wg: &WeightGrad) -> usize {
    wg.ncols()
}

/// The GEMM's columns for a chunk of `imgs` images, before splitting.
fn columns(wg: &WeightGrad, imgs: usize) -> usize {
    imgs * wg.a_h * wg.a_w
}

/// The conv2d whose im2col unrolls B into the GEMM's columns: B is its
/// input, and its output grid is A's.
pub(super) fn im2col_geometry(wg: &WeightGrad, imgs: usize) -> Conv2dGeometry {
    Conv2dGeometry {
        n: imgs,
        c_in: wg.b_c,
        h: wg.b_h,
        w: wg.b_w,
        c_out: wg.a_c,
        kh: wg.kh,
        kw: wg.kw,
        stride: wg.stride,
        dilation: wg.dilation,
        pad: [wg.pad[0], wg.pad[1], 0, 0],
        groups: wg.groups,
        oh: wg.a_h,
        ow: wg.a_w,
    }
}

/// The most images per chunk (at least 1, at most `n`) for which `fits`
/// says (within the binding limit, within the scratch budget).
pub(super) fn largest_chunk(n: usize, fits: impl Fn(usize) -> (bool, bool)) -> usize {
    let (mut lo, mut hi) = (1usize, n.max(1));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match fits(mid) {
            (true, true) => lo = mid,
            _ => hi = mid - 1,
        }
    }
    lo
}

/// A and B of images `img0 .. img0 + imgs`, bound as aligned windows with
/// the chunk's first element offsets.
pub(super) fn chunk_windows<'a>(
    wg: &WeightGrad,
    (a, b): (&'a Tensor, &'a Tensor),
    img0: usize,
    imgs: usize,
) -> Result<[(BufferRange<'a>, u32); 2]> {
    let align = align_elems(a.device().limits(), DType::F32);
    let (a_img, b_img) = (wg.a_c * wg.a_h * wg.a_w, wg.b_c * wg.b_h * wg.b_w);
    Ok([
        window(a, img0 * a_img, imgs * a_img, align)?,
        window(b, img0 * b_img, imgs * b_img, align)?,
    ])
}

/// Chunks, splits and widths of `wg` within the device's binding limit.
pub(super) fn plan(wg: &WeightGrad, limit: u64) -> std::result::Result<GemmPlan, Unsupported> {
    let numel_bytes = wg.numel() as u64 * 4;
    // The columns may take as much as two copies of dW: fewer chunks, fewer
    // passes over the partial products.
    let budget = SCRATCH_BUDGET.max(2 * numel_bytes);
    let fits = |imgs: usize| {
        let w = round4(columns(wg, imgs)) as u64;
        let cols = patch(wg) as u64 * w * 4;
        let rows = wg.a_c as u64 * w * 4;
        let a = (imgs * wg.a_c * wg.a_h * wg.a_w) as u64 * 4 + 256;
        let b = (imgs * wg.b_c * wg.b_h * wg.b_w) as u64 * 4 + 256;
        let binding = cols.max(rows).max(a).max(b) <= limit;
        (binding, cols + rows <= budget)
    };
    let (binding, _) = fits(1);
    registry::require(binding && numel_bytes <= limit, || {
        format!("one image's columns or dW exceed the binding limit of {limit} bytes")
    })?;
    let imgs = largest_chunk(wg.n, fits);
    let p = columns(wg, imgs);
    let tiles = wg.a_c.div_ceil(64) * patch(wg).div_ceil(64);
    let by_work = (p / MIN_SPLIT).max(1);
    let by_memory = ((SCRATCH_BUDGET / numel_bytes.max(1)) as usize).max(1);
    let splits = TARGET_WORKGROUPS
        .div_ceil(tiles)
        .min(by_work)
        .min(by_memory)
        .max(1);
    let split_len = round4(p.div_ceil(splits));
    let splits = p.div_ceil(split_len);
    Ok(GemmPlan {
        imgs,
        splits,
        split_len,
        width: splits * split_len,
        chunks: wg.n.div_ceil(imgs),
    })
}

/// The patch-major row's constraints: one group (the GEMM's rows are all of
/// A's channels) and a plan within the binding limit.
pub(super) fn supports(
    p: &WeightGradProblem,
    caps: &weft_device::Caps,
) -> std::result::Result<(), Unsupported> {
    let wg = &p.wg;
    registry::require(wg.groups == 1, || {
        format!("needs groups = 1 (groups = {})", wg.groups)
    })?;
    plan(wg, caps.limits.max_storage_buffer_binding_size).map(|_| ())
}

/// The pixel-major row's: as the patch-major one's, and a patch (the GEMM's
/// N and B's row length) of a multiple of 4 for the vec4 kernels.
pub(super) fn supports_pixels(
    p: &WeightGradProblem,
    caps: &weft_device::Caps,
) -> std::result::Result<(), Unsupported> {
    supports(p, caps)?;
    registry::require(patch(&p.wg).is_multiple_of(4), || {
        format!("needs C_in·KH·KW a multiple of 4, got {}", patch(&p.wg))
    })
}

/// Whether a row runs the pixel-major layout (its `PIXELS` constant).
fn pixel_major(v: &WeightGradVariant) -> bool {
    v.constant("PIXELS") == Some(1.0)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PixelsParams {
    c_in: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: u32,
    dil_w: u32,
    pad_t: u32,
    pad_l: u32,
    cols: u32,
    width: u32,
    x_off: u32,
}

/// B's receptive fields of `imgs` images, pixel-major, into `cols`
/// `[width, patch]` (zero rows past the chunk's pixels).
fn pixels_into(
    op: &str,
    precision: Precision,
    wg: &WeightGrad,
    imgs: usize,
    width: usize,
    (xw, x_off): (weft_device::BufferRange<'_>, u32),
    cols: &weft_device::Tensor,
) -> Result<()> {
    let params = PixelsParams {
        c_in: wg.b_c as u32,
        h: wg.b_h as u32,
        w: wg.b_w as u32,
        kh: wg.kh as u32,
        kw: wg.kw as u32,
        oh: wg.a_h as u32,
        ow: wg.a_w as u32,
        stride_h: wg.stride[0] as u32,
        stride_w: wg.stride[1] as u32,
        dil_h: wg.dilation[0] as u32,
        dil_w: wg.dilation[1] as u32,
        pad_t: wg.pad[0] as u32,
        pad_l: wg.pad[1] as u32,
        cols: columns(wg, imgs) as u32,
        width: width as u32,
        x_off,
    };
    cols.device().dispatch(
        &Kernel::new(op, typed_shader(&DW_PIXELS, precision), "main"),
        bytemuck::bytes_of(&params),
        &[Binding::Read(xw), Binding::ReadWrite(cols.binding())],
        width.div_ceil(64) as u64,
    )
}

/// Bytes of the scratch tensors a launch allocates.
pub(super) fn scratch(p: &WeightGradProblem, dev: &Device) -> u64 {
    let wg = &p.wg;
    if wg.nothing_to_sum() {
        return 0;
    }
    plan(wg, dev.limits().max_storage_buffer_binding_size)
        .map(|plan| plan.scratch_bytes(wg) + F32Sum::bytes(p))
        .unwrap_or(0)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RowsParams {
    a_c: u32,
    hw: u32,
    cols: u32,
    quads: u32,
    a_off: u32,
    _pad: [u32; 3],
}

/// Runs the weight gradient of `p` by im2col + GEMM in the row's layout.
pub(super) fn launch(
    v: &WeightGradVariant,
    p: &WeightGradProblem,
    args: &WeightGradArgs<'_>,
) -> Result<()> {
    let wg = &p.wg;
    let WeightGradArgs { op, a, b, dw } = *args;
    let dev = a.device();
    if let Some(done) = wg.trivial(dw) {
        return done;
    }
    let numel = wg.numel();
    let limit = dev.limits().max_storage_buffer_binding_size;
    let plan = plan(wg, limit).map_err(|why| Error::invalid(op, "shape", why.0))?;
    let [cols_n, rows_n, part_n] = plan.scratch_elems(wg);
    let cols = dev.empty(&[cols_n], DType::F32)?;
    let rows = dev.empty(&[rows_n], DType::F32)?;
    let part = (part_n > 0)
        .then(|| dev.empty(&[part_n], DType::F32))
        .transpose()?;
    let sum = F32Sum::new(dw)?;
    let rows_kernel = Kernel::new(op, typed_shader(&DW_ROWS, p.precision), "main");
    for (chunk, img0) in (0..wg.n).step_by(plan.imgs).enumerate() {
        let imgs = plan.imgs.min(wg.n - img0);
        let p_cols = columns(wg, imgs);
        // The last chunk may be shorter: fewer splits of the same length.
        let splits = p_cols.div_ceil(plan.split_len);
        let width = splits * plan.split_len;
        let [(aw, a_off), xw] = chunk_windows(wg, (a, b), img0, imgs)?;
        let pixels = pixel_major(v);
        if pixels {
            pixels_into(op, p.precision, wg, imgs, width, xw, &cols)?;
        } else {
            im2col_into(
                &im2col_geometry(wg, imgs),
                p.precision,
                imgs,
                width,
                xw,
                &cols,
            )?;
        }
        let params = RowsParams {
            a_c: wg.a_c as u32,
            hw: (wg.a_h * wg.a_w) as u32,
            cols: p_cols as u32,
            quads: (width / 4) as u32,
            a_off,
            _pad: [0; 3],
        };
        dev.dispatch(
            &rows_kernel,
            bytemuck::bytes_of(&params),
            &[Binding::Read(aw), Binding::ReadWrite(rows.binding())],
            (wg.a_c * width / 4).div_ceil(64) as u64,
        )?;
        let problem = GemmProblem {
            dims: GemmDims {
                batch: splits,
                m: wg.a_c,
                n: patch(wg),
                k: plan.split_len,
                a_bs: plan.split_len,
                a_rs: width,
                a_cs: 1,
                // Pixel-major: B(k, n) = cols[k*patch + n]; patch-major:
                // cols[n*width + k].
                b_bs: if pixels {
                    plan.split_len * patch(wg)
                } else {
                    plan.split_len
                },
                b_rs: if pixels { patch(wg) } else { 1 },
                b_cs: if pixels { 1 } else { width },
                batched_out: true,
                a_off: 0,
                b_off: 0,
                c_off: 0,
                c_rs: patch(wg),
            },
            bias: BiasMode::None,
            activation: Activation::None,
            precision: Precision::F32,
        };
        let c = part.as_ref().unwrap_or(sum.target(dw));
        let gemm_args = GemmArgs::tensors(&rows, &cols, None, c);
        gemm::TABLE.run(dev, &problem, None, &gemm_args)?;
        if let Some(part) = &part {
            let params = [numel as u32, splits as u32, (chunk > 0) as u32, 0];
            dev.dispatch(
                &Kernel::new(op, &DW_SUM, "main"),
                bytemuck::cast_slice(&params),
                &[
                    Binding::Read(part.binding()),
                    Binding::ReadWrite(sum.target(dw).binding()),
                ],
                numel.div_ceil(64) as u64,
            )?;
        }
    }
    sum.finish(dw)
}
