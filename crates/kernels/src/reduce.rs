//! Reductions: sum, mean, max and min over any set of axes that forms at most
//! two runs of reduced dimensions and two runs of kept ones (every contiguous
//! set of axes, and the NCHW per-channel case `[0, 2, 3]`), with PyTorch's
//! semantics.
//!
//! Written once and reused by batch norm, the losses and bias gradients: a
//! [`ReducePlan`] describes any supported reduction, and crate-internal
//! launchers run it into an f32 buffer (`reduce_to_f32`), or into per-chunk
//! partial moments (mean and M2, for batch-norm statistics) or centred dot
//! products (Σa and Σa·(b − c), for the batch-norm backward).
//!
//! Algorithm (`shaders/reduce/`): short reductions (≤ 64 elements) run one
//! invocation per output; longer ones one 256-invocation workgroup per output
//! and chunk of 4096 elements, each invocation accumulating 16 strided elements
//! before a tree in workgroup memory combines them. Reductions longer than one
//! chunk write `[outputs, chunks]` f32 partials that a second pass reduces (and
//! a third, past 16.7 M elements per output). Every order of addition is fixed
//! by the shape, so results are deterministic (no atomics); accumulation is f32
//! for every storage type, so f16 sums beyond 65504 stay finite wherever the
//! result is stored in f32.

use weft_device::{Binding, DType, Error, Kernel, Result, ShaderFile, Tensor};

use crate::precision::Precision;
use crate::shaders;

const PLAN: ShaderFile = shaders::wgsl!("reduce/plan.wgsl");
const REDUCE_CORE: ShaderFile = shaders::wgsl!("reduce/reduce_core.wgsl");
const MOMENTS_CORE: ShaderFile = shaders::wgsl!("reduce/moments_core.wgsl");
const DOT_CORE: ShaderFile = shaders::wgsl!("reduce/dot_core.wgsl");

shaders::typed!(REDUCE, [PLAN, REDUCE_CORE], "reduce/reduce.wgsl");
shaders::plain!(REDUCE_F16P, [PLAN, REDUCE_CORE], "reduce/reduce_f16p.wgsl");
shaders::typed!(MOMENTS, [PLAN, MOMENTS_CORE], "reduce/moments.wgsl");
shaders::plain!(
    MOMENTS_F16P,
    [PLAN, MOMENTS_CORE],
    "reduce/moments_f16p.wgsl"
);
shaders::typed!(DOT, [PLAN, DOT_CORE], "reduce/dot.wgsl");
shaders::plain!(DOT_F16P, [PLAN, DOT_CORE], "reduce/dot_f16p.wgsl");
shaders::plain!(STORE_F16, [], "reduce/store_f16.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(
        &[&REDUCE, &MOMENTS, &DOT],
        &[&REDUCE_F16P, &MOMENTS_F16P, &DOT_F16P, &STORE_F16],
    )
}

/// Reduced elements per workgroup of the `tree` kernel (16 per invocation).
pub(crate) const CHUNK: usize = 4096;
/// Longest reduction run by one invocation per output (`serial`).
pub(crate) const SERIAL_MAX: usize = 64;
const WG: usize = 256;

/// What a reduction computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Σ x (0 over an empty set).
    Sum,
    /// Σ x / n (NaN over an empty set, as PyTorch).
    Mean,
    /// Largest element; NaN if any element is NaN.
    Max,
    /// Smallest element; NaN if any element is NaN.
    Min,
}

impl ReduceOp {
    /// Every reduction.
    pub const ALL: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min];

    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "amax",
            ReduceOp::Min => "amin",
        }
    }

    /// The `OP` override constant of `reduce/reduce_core.wgsl`.
    fn code(self) -> u32 {
        match self {
            ReduceOp::Sum | ReduceOp::Mean => 0,
            ReduceOp::Max => 1,
            ReduceOp::Min => 2,
        }
    }
}

/// A reduction in the kernels' canonical form: output `j` has kept coordinates
/// `o = j / k_inner`, `i = j % k_inner`; reduced element `t` has `a = t /
/// r_inner`, `b = t % r_inner`; the element read is `o*so + i*si + a*sa + b*sb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReducePlan {
    pub k_outer: usize,
    pub k_inner: usize,
    pub so: usize,
    pub si: usize,
    pub r_outer: usize,
    pub r_inner: usize,
    pub sa: usize,
    pub sb: usize,
}

impl ReducePlan {
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.k_outer * self.k_inner
    }

    /// Elements reduced into each output.
    pub fn total(&self) -> usize {
        self.r_outer * self.r_inner
    }

    /// Every element of a flat tensor of `n` into one output.
    pub fn all(n: usize) -> ReducePlan {
        ReducePlan {
            k_outer: 1,
            k_inner: 1,
            so: 0,
            si: 0,
            r_outer: 1,
            r_inner: n,
            sa: 0,
            sb: 1,
        }
    }

    /// Row-major `[rows, len]` reduced along its rows (one output per row).
    pub fn rows(rows: usize, len: usize) -> ReducePlan {
        ReducePlan {
            k_outer: 1,
            k_inner: rows,
            so: 0,
            si: len,
            r_outer: 1,
            r_inner: len,
            sa: 0,
            sb: 1,
        }
    }

    /// `shape` with the dimensions flagged in `reduced` reduced. Size-1
    /// dimensions are dropped and neighbours of the same kind merged; at most
    /// two runs of each kind may remain.
    pub fn new(op: &str, shape: &[usize], reduced: &[bool]) -> Result<ReducePlan> {
        // (size, reduced) runs, outermost first.
        let mut runs: Vec<(usize, bool)> = Vec::new();
        for (&d, &r) in shape.iter().zip(reduced) {
            if d == 1 {
                continue;
            }
            match runs.last_mut() {
                Some((size, kind)) if *kind == r => *size *= d,
                _ => runs.push((d, r)),
            }
        }
        let mut strides = vec![0usize; runs.len()];
        let mut s = 1usize;
        for (i, &(size, _)) in runs.iter().enumerate().rev() {
            strides[i] = s;
            s *= size;
        }
        let pick = |kind: bool| -> Vec<(usize, usize)> {
            runs.iter()
                .zip(&strides)
                .filter(|((_, r), _)| *r == kind)
                .map(|(&(size, _), &stride)| (size, stride))
                .collect()
        };
        let kept = pick(false);
        let red = pick(true);
        if kept.len() > 2 || red.len() > 2 {
            return Err(Error::invalid(
                op,
                "axes",
                format!(
                    "reducing {:?} of shape {shape:?} leaves {} runs of reduced and {} runs of kept \
                     dimensions; at most two of each are supported (reshape or reduce in two steps)",
                    reduced
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| **r)
                        .map(|(i, _)| i)
                        .collect::<Vec<_>>(),
                    red.len(),
                    kept.len()
                ),
            ));
        }
        let two = |v: &[(usize, usize)]| -> [(usize, usize); 2] {
            match *v {
                [] => [(1, 0), (1, 0)],
                [x] => [(1, 0), x],
                [x, y] => [x, y],
                _ => unreachable!("at most two runs"),
            }
        };
        let [(k_outer, so), (k_inner, si)] = two(&kept);
        let [(r_outer, sa), (r_inner, sb)] = two(&red);
        Ok(ReducePlan {
            k_outer,
            k_inner,
            so,
            si,
            r_outer,
            r_inner,
            sa,
            sb,
        })
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceParams {
    k_inner: u32,
    so: u32,
    si: u32,
    outputs: u32,
    r_inner: u32,
    sa: u32,
    sb: u32,
    total: u32,
    chunk: u32,
    chunks: u32,
    div: f32,
    _pad: u32,
}

/// Bytes of f32 partials a reduction by `plan` allocates at its peak
/// (requested sizes, as `PoolStats::live_bytes` counts them), for memory
/// planning. [`reduce_into`] with an f16 output adds `4·plan.outputs()`.
pub fn scratch_bytes(plan: &ReducePlan) -> u64 {
    let mut bytes = 0u64;
    let mut total = plan.total();
    // Every pass's partials stay alive until the last pass is recorded.
    while total > CHUNK {
        let chunks = total.div_ceil(CHUNK);
        bytes += (plan.outputs() * chunks * 4) as u64;
        total = chunks;
    }
    bytes
}

/// Runs `plan` over `x` (read at `precision`) into the f32 tensor `out` of
/// `plan.outputs()` elements, dividing each result by `div` (1 unless a mean).
pub(crate) fn reduce_to_f32(
    op_name: &str,
    x: &Tensor,
    precision: Precision,
    plan: &ReducePlan,
    op: ReduceOp,
    div: f32,
    out: &Tensor,
) -> Result<()> {
    let dev = x.device();
    let outputs = plan.outputs();
    let total = plan.total();
    if outputs == 0 {
        return Ok(());
    }
    let shader = match precision {
        Precision::F16Packed => &REDUCE_F16P,
        p => REDUCE.get(p).expect("typed shaders have f32 and f16 forms"),
    };
    let constants = [("OP", op.code() as f64)];
    let mut params = ReduceParams::new(plan, 1, div);
    if total <= SERIAL_MAX {
        let kernel = Kernel::new(op_name, shader, "serial").with_constants(&constants);
        return dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(x.binding()),
                Binding::ReadWrite(out.binding()),
            ],
            outputs.div_ceil(WG) as u64,
        );
    }
    let kernel = Kernel::new(op_name, shader, "tree").with_constants(&constants);
    let chunks = total.div_ceil(CHUNK);
    if chunks == 1 {
        return dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(x.binding()),
                Binding::ReadWrite(out.binding()),
            ],
            outputs as u64,
        );
    }
    // First pass: [outputs, chunks] partials; then reduce those rows in f32.
    let partial = dev.empty(&[outputs * chunks], DType::F32)?;
    params.chunks = chunks as u32;
    params.div = 1.0;
    dev.dispatch(
        &kernel,
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(partial.binding()),
        ],
        (outputs * chunks) as u64,
    )?;
    reduce_to_f32(
        op_name,
        &partial,
        Precision::F32,
        &ReducePlan::rows(outputs, chunks),
        op,
        div,
        out,
    )
}

impl ReduceParams {
    fn new(plan: &ReducePlan, chunks: usize, div: f32) -> Self {
        ReduceParams {
            k_inner: plan.k_inner as u32,
            so: plan.so as u32,
            si: plan.si as u32,
            outputs: plan.outputs() as u32,
            r_inner: plan.r_inner.max(1) as u32,
            sa: plan.sa as u32,
            sb: plan.sb as u32,
            total: plan.total() as u32,
            chunk: CHUNK as u32,
            chunks: chunks as u32,
            div,
            _pad: 0,
        }
    }
}

/// Chunks of [`CHUNK`] elements per output in the partial kernels
/// ([`moments_partials`], [`dot_partials`]): at least one.
pub(crate) fn partial_chunks(plan: &ReducePlan) -> usize {
    plan.total().div_ceil(CHUNK).max(1)
}

/// Per (output, chunk) of `plan` over `x`: the chunk's mean and sum of squared
/// deviations, as an F32 tensor of `[outputs · chunks, 2]` (chunk `k` of output
/// `j` at row `j·chunks + k`; the chunk's count is `min(CHUNK, total − k·CHUNK)`).
/// Merge the chunks with Chan et al.'s formula for a mean and variance.
pub(crate) fn moments_partials(
    op: &str,
    x: &Tensor,
    precision: Precision,
    plan: &ReducePlan,
) -> Result<(Tensor, usize)> {
    let dev = x.device();
    let chunks = partial_chunks(plan);
    let partial = dev.empty(&[plan.outputs() * chunks, 2], DType::F32)?;
    let shader = match precision {
        Precision::F16Packed => &MOMENTS_F16P,
        p => MOMENTS
            .get(p)
            .expect("typed shaders have f32 and f16 forms"),
    };
    dev.dispatch(
        &Kernel::new(op, shader, "moments"),
        bytemuck::bytes_of(&ReduceParams::new(plan, chunks, 1.0)),
        &[
            Binding::Read(x.binding()),
            Binding::ReadWrite(partial.binding()),
        ],
        (plan.outputs() * chunks) as u64,
    )?;
    Ok((partial, chunks))
}

/// Per (output `j`, chunk) of `plan` over `a` and `b` (one shape): `Σ a` and
/// `Σ a·(b − center[j])`, as an F32 tensor of `[outputs · chunks, 2]` laid out
/// as in [`moments_partials`]. Sum the chunks for the totals.
pub(crate) fn dot_partials(
    op: &str,
    a: &Tensor,
    b: &Tensor,
    center: &Tensor,
    precision: Precision,
    plan: &ReducePlan,
) -> Result<(Tensor, usize)> {
    let dev = a.device();
    let chunks = partial_chunks(plan);
    let partial = dev.empty(&[plan.outputs() * chunks, 2], DType::F32)?;
    let shader = match precision {
        Precision::F16Packed => &DOT_F16P,
        p => DOT.get(p).expect("typed shaders have f32 and f16 forms"),
    };
    dev.dispatch(
        &Kernel::new(op, shader, "dot"),
        bytemuck::bytes_of(&ReduceParams::new(plan, chunks, 1.0)),
        &[
            Binding::Read(a.binding()),
            Binding::Read(b.binding()),
            Binding::Read(center.binding()),
            Binding::ReadWrite(partial.binding()),
        ],
        (plan.outputs() * chunks) as u64,
    )?;
    Ok((partial, chunks))
}

/// Stores the f32 tensor `src` into the f16 tensor `dst` of as many elements
/// (round to nearest even, overflow to ±inf), one packed word per invocation.
pub(crate) fn store_f16(src: &Tensor, dst: &Tensor) -> Result<()> {
    let n = dst.numel();
    if n == 0 {
        return Ok(());
    }
    let kernel = Kernel::new("store_f16", &STORE_F16, "main");
    let params = [n as u32, 0, 0, 0];
    src.device().dispatch(
        &kernel,
        bytemuck::cast_slice(&params),
        &[
            Binding::Read(src.binding()),
            Binding::ReadWrite(dst.as_words().binding()),
        ],
        n.div_ceil(2).div_ceil(WG) as u64,
    )
}

/// Checks that a tensor's element count fits the kernels' 32-bit indices.
pub(crate) fn check_numel(op: &str, what: &str, t: &Tensor) -> Result<()> {
    if t.numel() > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!(
                "{what} has {} elements; kernels index with 32 bits (at most {})",
                t.numel(),
                u32::MAX
            ),
        ));
    }
    Ok(())
}

/// Validates `axes` against `x` and resolves them: (reduced flags, output shape).
fn resolve_axes(
    op: &str,
    x: &Tensor,
    axes: &[usize],
    keepdim: bool,
) -> Result<(Vec<bool>, Vec<usize>)> {
    let rank = x.rank();
    let mut reduced = vec![axes.is_empty(); rank];
    for &a in axes {
        if a >= rank {
            return Err(Error::invalid(
                op,
                "axes",
                format!(
                    "axis {a} is out of range for a rank-{rank} tensor of shape {:?}",
                    x.shape()
                ),
            ));
        }
        if reduced[a] {
            return Err(Error::invalid(
                op,
                "axes",
                format!("axis {a} appears twice in {axes:?}"),
            ));
        }
        reduced[a] = true;
    }
    let shape = x
        .shape()
        .iter()
        .zip(&reduced)
        .filter_map(|(&d, &r)| match (r, keepdim) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    Ok((reduced, shape))
}

/// Reduces `x` over `axes` (any order; an empty list reduces every axis, as
/// PyTorch's `dim=()`), keeping reduced dimensions as size 1 when `keepdim`.
/// The result has `x`'s dtype (an f16 sum past 65504 is inf, as in PyTorch;
/// [`reduce_into`] with an f32 output keeps it finite). Accumulation is f32.
///
/// Supported axis sets: those leaving at most two runs of reduced and two runs
/// of kept dimensions (after dropping size-1 dimensions), which includes every
/// contiguous set and NCHW's per-channel `[0, 2, 3]`.
pub fn reduce(x: &Tensor, axes: &[usize], op: ReduceOp, keepdim: bool) -> Result<Tensor> {
    let (_, shape) = resolve_axes(op.name(), x, axes, keepdim)?;
    check_float(op.name(), x)?;
    let out = x.device().empty(&shape, x.dtype())?;
    reduce_into(x, axes, op, keepdim, &out)?;
    Ok(out)
}

fn check_float(op: &str, x: &Tensor) -> Result<()> {
    if !x.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "dtype",
            format!("expected an f32 or f16 tensor, got {}", x.dtype()),
        ));
    }
    Ok(())
}

/// [`reduce`] into `out`, whose dtype may be `x`'s or F32 (f32 results of f16
/// inputs, e.g. sums beyond f16's range).
pub fn reduce_into(
    x: &Tensor,
    axes: &[usize],
    op: ReduceOp,
    keepdim: bool,
    out: &Tensor,
) -> Result<()> {
    let name = op.name();
    check_float(name, x)?;
    check_numel(name, "input", x)?;
    let (reduced, shape) = resolve_axes(name, x, axes, keepdim)?;
    let out_dtype = if out.dtype() == DType::F32 {
        DType::F32
    } else {
        x.dtype()
    };
    crate::check_output(name, out, &shape, out_dtype, &[x])?;
    let plan = ReducePlan::new(name, x.shape(), &reduced)?;
    if plan.total() == 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) && plan.outputs() > 0 {
        return Err(Error::invalid(
            name,
            "axes",
            format!(
                "{name} over an empty set of elements (shape {:?}) has no identity",
                x.shape()
            ),
        ));
    }
    let precision = Precision::for_dtype(x.device(), x.dtype())?;
    let div = if op == ReduceOp::Mean {
        plan.total() as f32
    } else {
        1.0
    };
    if out_dtype == DType::F32 {
        reduce_to_f32(name, x, precision, &plan, op, div, out)
    } else {
        let tmp = x.device().empty(&[plan.outputs()], DType::F32)?;
        reduce_to_f32(name, x, precision, &plan, op, div, &tmp)?;
        store_f16(&tmp, out)
    }
}

/// Σ of every element, as an f32 tensor of shape `[1]` (f32 accumulation; f16
/// inputs beyond 65504 in total stay finite).
pub fn sum_all(x: &Tensor) -> Result<Tensor> {
    check_float("sum_all", x)?;
    check_numel("sum_all", "input", x)?;
    let dev = x.device();
    let out = dev.empty(&[1], DType::F32)?;
    let precision = Precision::for_dtype(dev, x.dtype())?;
    reduce_to_f32(
        "sum_all",
        x,
        precision,
        &ReducePlan::all(x.numel()),
        ReduceOp::Sum,
        1.0,
        &out,
    )?;
    Ok(out)
}

/// Per-channel sums of an NCHW tensor over N, H and W, as f32 `[C]` (the bias
/// gradient of a convolution).
pub fn channel_sum(x: &Tensor) -> Result<Tensor> {
    check_float("channel_sum", x)?;
    check_numel("channel_sum", "input", x)?;
    if x.rank() != 4 {
        return Err(Error::shape(
            "channel_sum",
            format!(
                "expected an NCHW tensor of rank 4, got shape {:?}",
                x.shape()
            ),
        ));
    }
    let dev = x.device();
    let c = x.dim(1);
    let out = dev.empty(&[c], DType::F32)?;
    let plan = per_channel_plan(x.shape());
    let precision = Precision::for_dtype(dev, x.dtype())?;
    reduce_to_f32("channel_sum", x, precision, &plan, ReduceOp::Sum, 1.0, &out)?;
    Ok(out)
}

/// Bytes of temporaries [`channel_sum`] allocates for an NCHW `shape` (beyond
/// its `[C]` f32 output), for memory planning.
pub fn channel_sum_scratch_bytes(shape: [usize; 4]) -> u64 {
    scratch_bytes(&per_channel_plan(&shape))
}

/// The per-channel plan of an NCHW shape: one output per channel over N, H, W.
pub(crate) fn per_channel_plan(shape: &[usize]) -> ReducePlan {
    let (n, c, hw) = (shape[0], shape[1], shape[2] * shape[3]);
    ReducePlan {
        k_outer: 1,
        k_inner: c,
        so: 0,
        si: hw,
        r_outer: n,
        r_inner: hw,
        sa: c * hw,
        sb: 1,
    }
}
