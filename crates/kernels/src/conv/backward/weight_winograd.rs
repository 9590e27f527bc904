//! The weight gradient by Winograd F(2x2, 3x3), the forward's algorithm run
//! backwards. The forward computes `Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A` per tile;
//! its weight gradient, summed over the tiles of every image, is
//!
//! `dg = Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G`,
//!
//! so per chunk of images: B's 4x4 input tiles transformed (the forward's
//! own input transform), A's 2x2 tiles transformed (`winograd_output_grad`),
//! then 16 GEMMs `dU_ξ = M_ξ · V_ξᵀ` reducing over the chunk's tiles (the NT
//! layout: both operands contiguous along the reduction), and finally
//! `dW = Gᵀ dU G`, added to the earlier chunks' in order (deterministic).
//! 16 products per 2x2 tile against 36 for direct: 2.25x fewer multiplies,
//! where im2col's columns are 9x the input.

use weft_device::{Binding, DType, Device, Error, Kernel, Result};

use super::weight::{F32Sum, WeightGrad, WeightGradArgs, WeightGradProblem, WeightGradVariant};
use super::weight_gemm::{chunk_windows, im2col_geometry, largest_chunk};
use crate::Activation;
use crate::conv::forward::{SCRATCH_BUDGET, WinogradSide, round4, winograd_transform_into};
use crate::gemm::{self, BiasMode, GemmArgs, GemmDims, GemmProblem};
use crate::precision::Precision;
use crate::registry::{self, Unsupported};
use crate::shaders::plain;

plain!(DW_WINOGRAD, [], "conv/winograd_weights_grad.wgsl");

/// Matrices of each transform (the 4x4 tile positions ξ).
const XI: usize = 16;

/// How the batch is cut into chunks of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    /// Images per chunk (the last chunk may hold fewer).
    imgs: usize,
    /// GEMM columns (tiles, rounded to 4) of the first, largest chunk.
    p4: usize,
}

/// 2x2 tiles of A's grid per image.
fn tiles(wg: &WeightGrad) -> usize {
    wg.a_h.div_ceil(2) * wg.a_w.div_ceil(2)
}

/// Elements of the scratch tensors for chunks of `p4` columns: B's transform,
/// A's transform, the 16 products.
fn scratch_elems(wg: &WeightGrad, p4: usize) -> [usize; 3] {
    [XI * wg.b_c * p4, XI * wg.a_c * p4, XI * wg.a_c * wg.b_c]
}

/// The chunk size within the binding limit and, beyond one image, the
/// scratch budget (at least twice the products: fewer chunks, fewer passes
/// of the final transform).
fn plan(wg: &WeightGrad, limit: u64) -> std::result::Result<Plan, Unsupported> {
    let products = (XI * wg.a_c * wg.b_c) as u64 * 4;
    let budget = SCRATCH_BUDGET.max(2 * products);
    let fits = |imgs: usize| {
        let p4 = round4(imgs * tiles(wg));
        let [v, m, _] = scratch_elems(wg, p4).map(|n| n as u64 * 4);
        let a = (imgs * wg.a_c * wg.a_h * wg.a_w) as u64 * 4 + 256;
        let b = (imgs * wg.b_c * wg.b_h * wg.b_w) as u64 * 4 + 256;
        let binding = v.max(m).max(a).max(b).max(products) <= limit;
        (binding, v + m <= budget)
    };
    registry::require(fits(1).0, || {
        format!(
            "one image's transforms or the 16 products exceed the binding limit of {limit} bytes"
        )
    })?;
    let imgs = largest_chunk(wg.n, fits);
    Ok(Plan {
        imgs,
        p4: round4(imgs * tiles(wg)),
    })
}

/// The row's constraints (f32 or native f16 tensors): a 3x3 kernel at stride 1 and dilation 1, one
/// group, and one image's transforms within the binding limit.
pub(super) fn supports(
    p: &WeightGradProblem,
    caps: &weft_device::Caps,
) -> std::result::Result<(), Unsupported> {
    let wg = &p.wg;
    registry::require(
        wg.kh == 3 && wg.kw == 3 && wg.stride == [1, 1] && wg.dilation == [1, 1],
        || {
            format!(
                "needs a 3x3 kernel at stride 1 and dilation 1 (got {}x{}, stride {:?}, \
                 dilation {:?})",
                wg.kh, wg.kw, wg.stride, wg.dilation
            )
        },
    )?;
    registry::require(wg.groups == 1, || {
        format!("needs groups = 1 (groups = {})", wg.groups)
    })?;
    plan(wg, caps.limits.max_storage_buffer_binding_size).map(|_| ())
}

/// Bytes of the scratch tensors a launch allocates.
pub(super) fn scratch(p: &WeightGradProblem, dev: &Device) -> u64 {
    let wg = &p.wg;
    if wg.nothing_to_sum() {
        return 0;
    }
    plan(wg, dev.limits().max_storage_buffer_binding_size)
        .map(|plan| {
            scratch_elems(wg, plan.p4)
                .iter()
                .map(|&n| DType::F32.storage_bytes(n))
                .sum::<u64>()
                + F32Sum::bytes(p)
        })
        .unwrap_or(0)
}

/// Runs the weight gradient of `p` by Winograd F(2x2, 3x3).
pub(super) fn launch(
    _: &WeightGradVariant,
    p: &WeightGradProblem,
    args: &WeightGradArgs<'_>,
) -> Result<()> {
    let wg = &p.wg;
    let WeightGradArgs { op, a, b, dw } = *args;
    let dev = a.device();
    if let Some(done) = wg.trivial(dw) {
        return done;
    }
    let plan = plan(wg, dev.limits().max_storage_buffer_binding_size)
        .map_err(|why| Error::invalid(op, "shape", why.0))?;
    let [v_n, m_n, du_n] = scratch_elems(wg, plan.p4);
    let v = dev.empty(&[v_n], DType::F32)?;
    let m = dev.empty(&[m_n], DType::F32)?;
    let du = dev.empty(&[du_n], DType::F32)?;
    let sum = F32Sum::new(dw)?;
    let pairs = wg.a_c * wg.b_c;
    let final_kernel = Kernel::new(op, &DW_WINOGRAD, "main");
    // B's transform tile-major where the row-major vector GEMM can take it
    // (512x512x128: 56.7 against the NT kernel's 39.5 GFLOP/s).
    let tile_major = wg.b_c.is_multiple_of(4);
    for (chunk, img0) in (0..wg.n).step_by(plan.imgs).enumerate() {
        let imgs = plan.imgs.min(wg.n - img0);
        let p4 = round4(imgs * tiles(wg));
        let geo = im2col_geometry(wg, imgs);
        let [aw, bw] = chunk_windows(wg, (a, b), img0, imgs)?;
        let side = WinogradSide::GradInput { tile_major };
        let precision = p.precision;
        winograd_transform_into(dev, side, &geo, precision, imgs, p4, bw, v.binding())?;
        winograd_transform_into(
            dev,
            WinogradSide::OutputGrad,
            &geo,
            precision,
            imgs,
            p4,
            aw,
            m.binding(),
        )?;
        // dU_ξ(a, b) = Σ_t M_ξ(a, t) · V_ξ(b, t), V_ξ stored [t, b]
        // (tile-major) or [b, t].
        let problem = GemmProblem {
            dims: GemmDims {
                batch: XI,
                m: wg.a_c,
                n: wg.b_c,
                k: p4,
                a_bs: wg.a_c * p4,
                a_rs: p4,
                a_cs: 1,
                b_bs: wg.b_c * p4,
                b_rs: if tile_major { wg.b_c } else { 1 },
                b_cs: if tile_major { 1 } else { p4 },
                batched_out: true,
                a_off: 0,
                b_off: 0,
                c_off: 0,
                c_rs: wg.b_c,
            },
            bias: BiasMode::None,
            activation: Activation::None,
            precision: Precision::F32,
        };
        gemm::TABLE.run(dev, &problem, None, &GemmArgs::tensors(&m, &v, None, &du))?;
        let params = [pairs as u32, (chunk > 0) as u32, 0, 0];
        dev.dispatch(
            &final_kernel,
            bytemuck::cast_slice(&params),
            &[
                Binding::Read(du.binding()),
                Binding::ReadWrite(sum.target(dw).binding()),
            ],
            pairs.div_ceil(64) as u64,
        )?;
    }
    sum.finish(dw)
}
