//! BatchNorm2d over NCHW tensors, with PyTorch's semantics: training mode
//! (batch statistics, biased variance for normalising, running statistics
//! updated in place with the unbiased variance), evaluation mode (running
//! statistics), the training-mode backward, and folding into a convolution.
//!
//! `x`/`y` (and `dy`/`dx`) are F32 or F16; `gamma`, `beta`, the running
//! statistics, `save_mean`, `save_invstd`, `dgamma` and `dbeta` are always F32
//! `[C]`. Precisions: F32, native F16 and F16Packed for every kernel (packed
//! apply kernels own whole output words; statistics kernels read packed input).
//!
//! Kernels, all deterministic (no atomics), f32 arithmetic. Two variants of
//! each pass: [`planes`] (f32 and native f16, the default: plane runs, vec4
//! loads, no barriers) and `two_pass` (every precision), whose per-channel
//! reductions are [`crate::reduce`]'s over the NCHW per-channel plan:
//!
//! | pass | kernel | grid |
//! |---|---|---|
//! | statistics | `reduce/moments`: per (channel, chunk of 4096) mean and M2, two sweeps | C·chunks workgroups |
//! | | `batch_norm/finalize`: Chan merge of the chunks, save_mean/invstd, running update | C workgroups |
//! | forward | `batch_norm/apply`: affine + activation, one element (packed: word) per invocation | numel/256 |
//! | backward | `reduce/dot`: per (channel, chunk) Σdy, Σdy·(x−mean) | C·chunks |
//! | | `batch_norm/backward_finalize`: dgamma, dbeta, per-channel coefficients | C |
//! | | `batch_norm/backward_apply`: dx | numel/256 |

use weft_device::{Binding, DType, Device, Error, Kernel, Result, ShaderFile, Tensor};

use crate::precision::Precision;
use crate::reduce::{self, check_numel};
use crate::registry::{self, Problem, Source, Table, Tile, Variant};
use crate::shaders::ACTIVATION;
use crate::tune;
use crate::{Activation, shaders};

pub mod planes;

const PARAMS: ShaderFile = shaders::wgsl!("batch_norm/params.wgsl");

shaders::plain!(FINALIZE, [PARAMS], "batch_norm/finalize.wgsl");
shaders::typed!(APPLY, [ACTIVATION, PARAMS], "batch_norm/apply.wgsl");
shaders::plain!(
    APPLY_F16P,
    [ACTIVATION, PARAMS],
    "batch_norm/apply_f16p.wgsl"
);
shaders::plain!(
    BACKWARD_FINALIZE,
    [PARAMS],
    "batch_norm/backward_finalize.wgsl"
);
shaders::typed!(BACKWARD_APPLY, [PARAMS], "batch_norm/backward_apply.wgsl");
shaders::plain!(
    BACKWARD_APPLY_F16P,
    [PARAMS],
    "batch_norm/backward_apply_f16p.wgsl"
);
shaders::typed!(FOLD, [PARAMS], "batch_norm/fold.wgsl");
shaders::plain!(FOLD_F16P, [PARAMS], "batch_norm/fold_f16p.wgsl");
shaders::plain!(FOLD_BIAS, [PARAMS], "batch_norm/fold_bias.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(
        &[
            &APPLY,
            &BACKWARD_APPLY,
            &FOLD,
            &planes::MOMENTS,
            &planes::APPLY,
            &planes::DOT,
            &planes::BACKWARD_APPLY,
        ],
        &[
            &planes::FINALIZE,
            &planes::BACKWARD_FINALIZE,
            &FINALIZE,
            &APPLY_F16P,
            &BACKWARD_FINALIZE,
            &BACKWARD_APPLY_F16P,
            &FOLD_F16P,
            &FOLD_BIAS,
        ],
    )
}

const WG: usize = 256;

/// Hyper-parameters of BatchNorm2d.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormSpec {
    /// Added to the variance before the square root (PyTorch: 1e-5).
    pub eps: f32,
    /// Weight of the batch statistic in the running-statistics update
    /// (PyTorch: 0.1).
    pub momentum: f32,
    /// Activation fused after the affine transform.
    pub activation: Activation,
    /// Storage precision of `x`/`y`; `None` follows `x`'s dtype.
    pub precision: Option<Precision>,
}

impl Default for BatchNormSpec {
    fn default() -> Self {
        BatchNormSpec {
            eps: 1e-5,
            momentum: 0.1,
            activation: Activation::None,
            precision: None,
        }
    }
}

/// Result of [`batch_norm_train`].
#[derive(Debug, Clone)]
pub struct BatchNormOutput {
    /// `act(gamma * (x - mean) * invstd + beta)`, `x`'s shape and dtype.
    pub y: Tensor,
    /// Batch mean per channel, F32 `[C]`.
    pub save_mean: Tensor,
    /// `1 / sqrt(biased batch variance + eps)` per channel, F32 `[C]`.
    pub save_invstd: Tensor,
}

/// Result of [`batch_norm_backward`].
#[derive(Debug, Clone)]
pub struct BatchNormGrads {
    /// Gradient wrt `x`: `x`'s shape and dtype.
    pub dx: Tensor,
    /// F32 `[C]`.
    pub dgamma: Tensor,
    /// F32 `[C]`.
    pub dbeta: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct BnParams {
    n: u32,
    c: u32,
    hw: u32,
    count: u32,
    chunk: u32,
    chunks: u32,
    eps: f32,
    momentum: f32,
    mode: u32,
    numel: u32,
    _pad: [u32; 2],
}

/// Statistics chunks per channel for `n*hw` elements.
fn chunks_for(nhw: usize) -> usize {
    nhw.div_ceil(reduce::CHUNK).max(1)
}

/// Bytes of temporaries (f32 partial sums and per-channel coefficients)
/// allocated by one [`batch_norm_backward`] call on an input of `x_shape` by
/// the variant `dev` would choose: the partials plus 16 bytes per channel.
/// These are requested sizes, as `PoolStats::live_bytes` counts them (the pool
/// rounds each buffer up to `size_class`).
pub fn batch_norm_scratch_bytes(dev: &Device, x_shape: [usize; 4], precision: Precision) -> u64 {
    let problem = BatchNormBackwardProblem {
        shape: x_shape,
        precision,
    };
    BACKWARD_TABLE.scratch_bytes(dev, &problem, None)
}

/// Bytes of temporaries (the f32 statistics partials) one [`batch_norm_train`]
/// call on an input of `x_shape` allocates, by the variant `dev` would choose.
pub fn batch_norm_train_scratch_bytes(
    dev: &Device,
    x_shape: [usize; 4],
    precision: Precision,
) -> u64 {
    let problem = BatchNormProblem {
        shape: x_shape,
        eps: 1e-5,
        momentum: 0.1,
        activation: Activation::None,
        precision,
    };
    TABLE.scratch_bytes(dev, &problem, None)
}

/// `two_pass`'s statistics partials: one per (channel, chunk).
fn two_pass_partials([n, c, h, w]: [usize; 4]) -> u64 {
    (c * chunks_for(n * h * w) * 8) as u64
}

/// The planes rows' scratch: partials (and, for the gradient, 16 bytes of
/// coefficients per channel) unless there is nothing to reduce.
fn planes_scratch(shape: [usize; 4], coefficients: bool) -> u64 {
    let [n, c, h, w] = shape;
    if n * h * w == 0 || c == 0 {
        return 0;
    }
    planes::partials_bytes(shape) + if coefficients { (c * 16) as u64 } else { 0 }
}

fn shape4(op: &str, x: &Tensor) -> Result<[usize; 4]> {
    match *x.shape() {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::shape(
            op,
            format!(
                "x: expected an NCHW tensor of rank 4, got shape {:?} (BatchNorm1d inputs reshape to [N, C, L, 1])",
                x.shape()
            ),
        )),
    }
}

fn check_x(op: &str, x: &Tensor) -> Result<[usize; 4]> {
    if !x.dtype().is_float() {
        return Err(Error::invalid(
            op,
            "x",
            format!("expected an f32 or f16 tensor, got {}", x.dtype()),
        ));
    }
    check_numel(op, "x", x)?;
    shape4(op, x)
}

/// A per-channel F32 `[C]` parameter.
fn check_channel(op: &str, what: &str, t: &Tensor, c: usize) -> Result<()> {
    if t.shape() != [c] || t.dtype() != DType::F32 {
        return Err(Error::shape(
            op,
            format!(
                "{what}: expected [{c}] f32 (one value per channel), got {:?} {}",
                t.shape(),
                t.dtype()
            ),
        ));
    }
    Ok(())
}

fn check_spec(op: &str, spec: &BatchNormSpec) -> Result<()> {
    if !(spec.eps.is_finite() && spec.eps >= 0.0) {
        return Err(Error::invalid(
            op,
            "eps",
            format!("must be finite and >= 0, got {}", spec.eps),
        ));
    }
    if !(spec.momentum.is_finite() && (0.0..=1.0).contains(&spec.momentum)) {
        return Err(Error::invalid(
            op,
            "momentum",
            format!("must lie in [0, 1], got {}", spec.momentum),
        ));
    }
    Ok(())
}

/// Tensors written in place must not share storage with any other operand.
fn check_distinct(op: &str, written: &[(&str, &Tensor)], others: &[(&str, &Tensor)]) -> Result<()> {
    for (i, (wn, wt)) in written.iter().enumerate() {
        for (on, ot) in written[i + 1..].iter().chain(others) {
            if wt.shares_storage(ot) {
                return Err(Error::invalid(
                    op,
                    *wn,
                    format!("{wn} is written in place and shares storage with {on}"),
                ));
            }
        }
    }
    Ok(())
}

fn bn_params(shape: [usize; 4], count: usize) -> BnParams {
    let [n, c, h, w] = shape;
    BnParams {
        n: n as u32,
        c: c as u32,
        hw: (h * w) as u32,
        count: count as u32,
        chunk: reduce::CHUNK as u32,
        chunks: chunks_for(n * h * w) as u32,
        numel: (n * c * h * w) as u32,
        ..Default::default()
    }
}

/// Invocations of a per-element kernel: elements, or words for packed f16.
fn units(precision: Precision, numel: usize) -> usize {
    match precision {
        Precision::F16Packed => numel.div_ceil(2),
        _ => numel,
    }
}

/// Training-mode BatchNorm2d: normalises with the batch statistics (biased
/// variance), applies `gamma`, `beta` and the fused activation, and updates
/// `running_mean` / `running_var` in place with `momentum` and the unbiased
/// variance (n/(n−1)), exactly as PyTorch. Needs more than one value per
/// channel (`N·H·W ≥ 2`), as PyTorch.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    spec: &BatchNormSpec,
) -> Result<BatchNormOutput> {
    let [_, c, _, _] = check_x("batch_norm", x)?;
    let dev = x.device();
    let out = BatchNormOutput {
        y: dev.empty(x.shape(), x.dtype())?,
        save_mean: dev.empty(&[c], DType::F32)?,
        save_invstd: dev.empty(&[c], DType::F32)?,
    };
    batch_norm_train_into(x, gamma, beta, running_mean, running_var, spec, &out)?;
    Ok(out)
}

/// [`batch_norm_train`] into existing output tensors.
pub fn batch_norm_train_into(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    spec: &BatchNormSpec,
    out: &BatchNormOutput,
) -> Result<()> {
    let args = BatchNormArgs {
        x,
        gamma,
        beta,
        running_mean,
        running_var,
        out,
    };
    train(&args, spec, None)
}

/// [`batch_norm_train_into`] by a given variant (a row of [`VARIANTS`]).
pub fn batch_norm_train_by(
    args: &BatchNormArgs<'_>,
    spec: &BatchNormSpec,
    variant: &'static BatchNormVariant,
) -> Result<()> {
    train(args, spec, Some(variant))
}

fn train(
    args: &BatchNormArgs<'_>,
    spec: &BatchNormSpec,
    variant: Option<&'static BatchNormVariant>,
) -> Result<()> {
    let BatchNormArgs {
        x,
        gamma,
        beta,
        running_mean,
        running_var,
        out,
    } = *args;
    const OP: &str = "batch_norm";
    let shape = check_x(OP, x)?;
    let [n, c, h, w] = shape;
    check_spec(OP, spec)?;
    check_channel(OP, "gamma", gamma, c)?;
    check_channel(OP, "beta", beta, c)?;
    check_channel(OP, "running_mean", running_mean, c)?;
    check_channel(OP, "running_var", running_var, c)?;
    check_distinct(
        OP,
        &[("running_mean", running_mean), ("running_var", running_var)],
        &[("x", x), ("gamma", gamma), ("beta", beta)],
    )?;
    let inputs = [x, gamma, beta, running_mean, running_var];
    crate::check_output(OP, &out.y, x.shape(), x.dtype(), &inputs)?;
    crate::check_output(OP, &out.save_mean, &[c], DType::F32, &inputs)?;
    crate::check_output(OP, &out.save_invstd, &[c], DType::F32, &inputs)?;
    if out.save_mean.shares_storage(&out.save_invstd) || out.y.shares_storage(&out.save_mean) {
        return Err(Error::invalid(OP, "output", "outputs share storage"));
    }
    let nhw = n * h * w;
    if c > 0 && nhw < 2 {
        return Err(Error::invalid(
            OP,
            "x",
            format!(
                "expected more than 1 value per channel when training, got input shape {:?}",
                x.shape()
            ),
        ));
    }
    let dev = x.device();
    let problem = BatchNormProblem {
        shape,
        eps: spec.eps,
        momentum: spec.momentum,
        activation: spec.activation,
        precision: Precision::resolve(OP, dev, x.dtype(), spec.precision)?,
    };
    TABLE.run(dev, &problem, variant, args)
}

/// The tuner's class of a per-channel problem: log₂ buckets of the channels
/// and of the values per channel.
fn channel_class([n, c, h, w]: [usize; 4]) -> String {
    format!("c{} nhw{}", tune::bucket(c), tune::bucket(n * h * w))
}

/// Training-mode batch norm as its variants see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormProblem {
    pub shape: [usize; 4],
    pub eps: f32,
    pub momentum: f32,
    pub activation: Activation,
    pub precision: Precision,
}

/// The tensors of [`batch_norm_train_into`].
pub struct BatchNormArgs<'a> {
    pub x: &'a Tensor,
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    pub out: &'a BatchNormOutput,
}

impl Problem for BatchNormProblem {
    type Args<'a> = BatchNormArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        channel_class(self.shape)
    }

    fn is_empty(&self) -> bool {
        self.shape[1] == 0
    }
}

/// A training-mode batch-norm variant: a row of [`VARIANTS`].
pub type BatchNormVariant = Variant<BatchNormProblem>;

/// Every training-mode batch-norm variant.
pub const VARIANTS: &[BatchNormVariant] = &[
    Variant {
        name: "two_pass",
        idea: "per (channel, chunk of 4096) mean and M2 in two sweeps, a Chan merge of the chunks \
           (saved statistics, running update), then the affine + activation pass",
        requires: "every problem",
        shaders: &[
            Source::Typed(&reduce::MOMENTS),
            Source::Plain(&reduce::MOMENTS_F16P),
            Source::Plain(&FINALIZE),
            Source::Typed(&APPLY),
            Source::Plain(&APPLY_F16P),
        ],
        constants: &[],
        tile: Tile::PerProblem("channel x chunk workgroups, then 256 elements per workgroup"),
        precisions: registry::ALL_PRECISIONS,
        supports: registry::any_problem,
        scratch: |p, _| two_pass_partials(p.shape),
        launch: |_, p, a| train_two_pass(p, a),
    },
    Variant {
        name: "planes",
        idea: "one invocation per segment of an (image, channel) plane: two-sweep moments with \
           vec4 loads, a balanced Chan merge per channel, then the affine pass over plane \
           runs; no barriers, no per-element division",
        requires: "f32 or native f16",
        shaders: &[
            Source::Typed(&planes::MOMENTS),
            Source::Plain(&planes::FINALIZE),
            Source::Typed(&planes::APPLY),
        ],
        constants: &[],
        tile: Tile::PerProblem("64 segments of 512, then 64 runs of 256 per workgroup"),
        precisions: registry::TYPED,
        supports: registry::any_problem,
        scratch: |p, _| planes_scratch(p.shape, false),
        launch: |_, p, a| planes::train(p, a),
    },
];

/// The table of training-mode batch norm.
pub static TABLE: Table<BatchNormProblem> = Table {
    op: "batch_norm",
    variants: VARIANTS,
    // The planes passes wherever they have a kernel: 10-40x two_pass on
    // lavapipe (docs/PERFORMANCE.md).
    auto: |p, _| {
        if p.precision == Precision::F16Packed {
            &VARIANTS[0]
        } else {
            &VARIANTS[1]
        }
    },
};

fn train_two_pass(p: &BatchNormProblem, a: &BatchNormArgs<'_>) -> Result<()> {
    const OP: &str = "batch_norm";
    let (shape, precision) = (p.shape, p.precision);
    let [n, c, h, w] = shape;
    let nhw = n * h * w;
    let BatchNormArgs {
        x,
        gamma,
        beta,
        running_mean,
        running_var,
        out,
    } = *a;
    let dev = x.device();
    if c == 0 {
        return Ok(());
    }
    let spec = BatchNormSpec {
        eps: p.eps,
        momentum: p.momentum,
        activation: p.activation,
        precision: Some(precision),
    };
    // Pass 1: per (channel, chunk) mean and M2.
    let mut params = bn_params(shape, 0);
    params.eps = spec.eps;
    params.momentum = spec.momentum;
    let plan = reduce::per_channel_plan(x.shape());
    let (partial, chunks) = reduce::moments_partials(OP, x, precision, &plan)?;
    debug_assert_eq!(chunks, chunks_for(nhw));
    // Pass 2: merge chunks, save statistics, update running statistics.
    dev.dispatch(
        &Kernel::new(OP, &FINALIZE, "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(partial.binding()),
            Binding::ReadWrite(out.save_mean.binding()),
            Binding::ReadWrite(out.save_invstd.binding()),
            Binding::ReadWrite(running_mean.binding()),
            Binding::ReadWrite(running_var.binding()),
        ],
        c as u64,
    )?;
    // Pass 3: normalise.
    apply(
        OP,
        precision,
        shape,
        x,
        gamma,
        beta,
        &out.save_mean,
        &out.save_invstd,
        &spec,
        0,
        &out.y,
    )
}

/// Evaluation-mode BatchNorm2d: normalises with the running statistics, then
/// `gamma`, `beta` and the fused activation. Nothing is updated.
pub fn batch_norm_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    spec: &BatchNormSpec,
) -> Result<Tensor> {
    check_x("batch_norm_eval", x)?;
    let y = x.device().empty(x.shape(), x.dtype())?;
    batch_norm_eval_into(x, gamma, beta, running_mean, running_var, spec, &y)?;
    Ok(y)
}

/// [`batch_norm_eval`] into an existing output.
pub fn batch_norm_eval_into(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    spec: &BatchNormSpec,
    y: &Tensor,
) -> Result<()> {
    const OP: &str = "batch_norm_eval";
    let shape = check_x(OP, x)?;
    let c = shape[1];
    check_spec(OP, spec)?;
    check_channel(OP, "gamma", gamma, c)?;
    check_channel(OP, "beta", beta, c)?;
    check_channel(OP, "running_mean", running_mean, c)?;
    check_channel(OP, "running_var", running_var, c)?;
    crate::check_output(
        OP,
        y,
        x.shape(),
        x.dtype(),
        &[x, gamma, beta, running_mean, running_var],
    )?;
    let precision = Precision::resolve(OP, x.device(), x.dtype(), spec.precision)?;
    if precision != Precision::F16Packed {
        let channel = [gamma, beta, running_mean, running_var];
        return planes::apply(OP, precision, shape, x, channel, spec, 1, y);
    }
    apply(
        OP,
        precision,
        shape,
        x,
        gamma,
        beta,
        running_mean,
        running_var,
        spec,
        1,
        y,
    )
}

/// The affine + activation pass; `stat` is invstd (mode 0) or the variance (1).
#[allow(clippy::too_many_arguments)]
fn apply(
    op: &str,
    precision: Precision,
    shape: [usize; 4],
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    stat: &Tensor,
    spec: &BatchNormSpec,
    mode: u32,
    y: &Tensor,
) -> Result<()> {
    let numel = x.numel();
    if numel == 0 {
        return Ok(());
    }
    let count = units(precision, numel);
    let mut params = bn_params(shape, count);
    params.eps = spec.eps;
    params.mode = mode;
    let constants = spec.activation.constants();
    let shader = match precision {
        Precision::F16Packed => &APPLY_F16P,
        p => APPLY.get(p).expect("typed"),
    };
    x.device().dispatch(
        &Kernel::new(op, shader, "main").with_constants(&constants),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(x.binding()),
            Binding::Read(gamma.binding()),
            Binding::Read(beta.binding()),
            Binding::Read(mean.binding()),
            Binding::Read(stat.binding()),
            Binding::ReadWrite(y.binding()),
        ],
        count.div_ceil(WG) as u64,
    )
}

/// Gradients of the evaluation-mode forward (normalised with the running
/// statistics, which are constants here; without its activation: apply the
/// activation's gradient to `dy` first), each computed only where asked:
/// `dx = dy·gamma·s`, `dgamma = Σ dy·(x − running_mean)·s`, `dbeta = Σ dy`
/// with `s = 1/sqrt(running_var + eps)`, sums over N, H and W. This is the
/// backward of a batch norm whose statistics are frozen in training
/// (fine-tuning). `x` is needed only for `dgamma`. Composed of the affine
/// pass (`dx` is that pass on `dy` with a zero mean and shift), elementwise
/// product and per-channel sums, allocating in this order: a zero `[C]`
/// vector, `dx`; for `dgamma` a ones vector, `x̂`, the product and the sum
/// (with its scratch); then `dbeta` (with its scratch).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_eval_backward(
    dy: &Tensor,
    x: Option<&Tensor>,
    gamma: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
    need: [bool; 3],
) -> Result<[Option<Tensor>; 3]> {
    const OP: &str = "batch_norm_eval_backward";
    let shape = check_x(OP, dy)?;
    let c = shape[1];
    let dev = dy.device();
    let spec = BatchNormSpec {
        eps,
        ..Default::default()
    };
    let zeros = crate::elementwise::zeros(dev, &[c], DType::F32)?;
    let dx = if need[0] {
        Some(batch_norm_eval(
            dy,
            gamma,
            &zeros,
            &zeros,
            running_var,
            &spec,
        )?)
    } else {
        None
    };
    let dgamma = if need[1] {
        let x = x.ok_or_else(|| {
            Error::invalid(OP, "x", "the input is needed for the gradient of gamma")
        })?;
        if x.shape() != dy.shape() || x.dtype() != dy.dtype() {
            return Err(Error::shape(
                OP,
                format!(
                    "x is {:?} {}, dy is {:?} {}",
                    x.shape(),
                    x.dtype(),
                    dy.shape(),
                    dy.dtype()
                ),
            ));
        }
        let ones = dev.empty(&[c], DType::F32)?;
        crate::elementwise::fill(&ones, 1.0)?;
        let x_hat = batch_norm_eval(x, &ones, &zeros, running_mean, running_var, &spec)?;
        drop(ones);
        let product = crate::elementwise::mul(dy, &x_hat)?;
        drop(x_hat);
        Some(reduce::channel_sum(&product)?)
    } else {
        None
    };
    let dbeta = if need[2] {
        Some(reduce::channel_sum(dy)?)
    } else {
        None
    };
    Ok([dx, dgamma, dbeta])
}

/// Gradients of the training-mode forward (without its activation: apply the
/// activation's gradient to `dy` first), from the saved batch statistics:
/// `(dx, dgamma [C] f32, dbeta [C] f32)` with
/// `dx = gamma·invstd/n · (n·dy − Σdy − x̂·Σ(dy·x̂))`, `x̂ = (x − mean)·invstd`.
pub fn batch_norm_backward(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let [_, c, _, _] = check_x("batch_norm_backward", x)?;
    let dev = x.device();
    let grads = BatchNormGrads {
        dx: dev.empty(x.shape(), x.dtype())?,
        dgamma: dev.empty(&[c], DType::F32)?,
        dbeta: dev.empty(&[c], DType::F32)?,
    };
    batch_norm_backward_into(dy, x, gamma, save_mean, save_invstd, None, &grads)?;
    Ok((grads.dx, grads.dgamma, grads.dbeta))
}

/// [`batch_norm_backward`] into existing tensors, with an explicit precision.
pub fn batch_norm_backward_into(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    save_mean: &Tensor,
    save_invstd: &Tensor,
    precision: Option<Precision>,
    grads: &BatchNormGrads,
) -> Result<()> {
    let args = BatchNormBackwardArgs {
        dy,
        x,
        gamma,
        save_mean,
        save_invstd,
        grads,
    };
    backward(&args, precision, None)
}

/// [`batch_norm_backward_into`] by a given variant (a row of
/// [`BACKWARD_VARIANTS`]).
pub fn batch_norm_backward_by(
    args: &BatchNormBackwardArgs<'_>,
    precision: Option<Precision>,
    variant: &'static Variant<BatchNormBackwardProblem>,
) -> Result<()> {
    backward(args, precision, Some(variant))
}

fn backward(
    args: &BatchNormBackwardArgs<'_>,
    precision: Option<Precision>,
    variant: Option<&'static Variant<BatchNormBackwardProblem>>,
) -> Result<()> {
    let BatchNormBackwardArgs {
        dy,
        x,
        gamma,
        save_mean,
        save_invstd,
        grads,
    } = *args;
    const OP: &str = "batch_norm_backward";
    let shape = check_x(OP, x)?;
    let [_, c, _, _] = shape;
    if dy.shape() != x.shape() || dy.dtype() != x.dtype() {
        return Err(Error::shape(
            OP,
            format!(
                "dy: expected {:?} {} like x, got {:?} {}",
                x.shape(),
                x.dtype(),
                dy.shape(),
                dy.dtype()
            ),
        ));
    }
    check_channel(OP, "gamma", gamma, c)?;
    check_channel(OP, "save_mean", save_mean, c)?;
    check_channel(OP, "save_invstd", save_invstd, c)?;
    let inputs = [dy, x, gamma, save_mean, save_invstd];
    crate::check_output(OP, &grads.dx, x.shape(), x.dtype(), &inputs)?;
    crate::check_output(OP, &grads.dgamma, &[c], DType::F32, &inputs)?;
    crate::check_output(OP, &grads.dbeta, &[c], DType::F32, &inputs)?;
    if grads.dgamma.shares_storage(&grads.dbeta) || grads.dx.shares_storage(&grads.dgamma) {
        return Err(Error::invalid(OP, "output", "outputs share storage"));
    }
    let dev = x.device();
    let problem = BatchNormBackwardProblem {
        shape,
        precision: Precision::resolve(OP, dev, x.dtype(), precision)?,
    };
    BACKWARD_TABLE.run(dev, &problem, variant, args)
}

/// Batch norm's gradient as its variants see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormBackwardProblem {
    pub shape: [usize; 4],
    pub precision: Precision,
}

/// The tensors of [`batch_norm_backward_into`].
pub struct BatchNormBackwardArgs<'a> {
    pub dy: &'a Tensor,
    pub x: &'a Tensor,
    pub gamma: &'a Tensor,
    pub save_mean: &'a Tensor,
    pub save_invstd: &'a Tensor,
    pub grads: &'a BatchNormGrads,
}

impl Problem for BatchNormBackwardProblem {
    type Args<'a> = BatchNormBackwardArgs<'a>;

    fn precision(&self) -> Precision {
        self.precision
    }

    fn shape_class(&self) -> String {
        channel_class(self.shape)
    }

    fn is_empty(&self) -> bool {
        self.shape[1] == 0
    }
}

/// Every batch-norm gradient variant.
pub const BACKWARD_VARIANTS: &[Variant<BatchNormBackwardProblem>] = &[
    Variant {
        name: "two_pass",
        idea: "per (channel, chunk) Σdy and Σdy·(x−mean), dgamma, dbeta and per-channel \
           coefficients, then dx in one elementwise pass",
        requires: "every problem",
        shaders: &[
            Source::Typed(&reduce::DOT),
            Source::Plain(&reduce::DOT_F16P),
            Source::Plain(&BACKWARD_FINALIZE),
            Source::Typed(&BACKWARD_APPLY),
            Source::Plain(&BACKWARD_APPLY_F16P),
        ],
        constants: &[],
        tile: Tile::PerProblem("channel x chunk workgroups, then 256 elements per workgroup"),
        precisions: registry::ALL_PRECISIONS,
        supports: registry::any_problem,
        scratch: |p, _| two_pass_partials(p.shape) + (p.shape[1] * 16) as u64,
        launch: |_, p, a| backward_two_pass(p, a),
    },
    Variant {
        name: "planes",
        idea: "one invocation per segment of an (image, channel) plane: Σdy and Σdy·(x−mean) with \
           vec4 loads, a balanced sum per channel, then dx over plane runs",
        requires: "f32 or native f16",
        shaders: &[
            Source::Typed(&planes::DOT),
            Source::Plain(&planes::BACKWARD_FINALIZE),
            Source::Typed(&planes::BACKWARD_APPLY),
        ],
        constants: &[],
        tile: Tile::PerProblem("64 segments of 512, then 64 runs of 256 per workgroup"),
        precisions: registry::TYPED,
        supports: registry::any_problem,
        scratch: |p, _| planes_scratch(p.shape, true),
        launch: |_, p, a| planes::backward(p, a),
    },
];

/// The table of batch norm's gradient.
pub static BACKWARD_TABLE: Table<BatchNormBackwardProblem> = Table {
    op: "batch_norm_backward",
    variants: BACKWARD_VARIANTS,
    auto: |p, _| {
        if p.precision == Precision::F16Packed {
            &BACKWARD_VARIANTS[0]
        } else {
            &BACKWARD_VARIANTS[1]
        }
    },
};

fn backward_two_pass(p: &BatchNormBackwardProblem, a: &BatchNormBackwardArgs<'_>) -> Result<()> {
    const OP: &str = "batch_norm_backward";
    let (shape, precision) = (p.shape, p.precision);
    let [_, c, _, _] = shape;
    let BatchNormBackwardArgs {
        dy,
        x,
        gamma,
        save_mean,
        save_invstd,
        grads,
    } = *a;
    let dev = x.device();
    if c == 0 {
        return Ok(());
    }
    let params = bn_params(shape, units(precision, x.numel()));
    let plan = reduce::per_channel_plan(x.shape());
    let (partial, _) = reduce::dot_partials(OP, dy, x, save_mean, precision, &plan)?;
    let coef = dev.empty(&[c * 4], DType::F32)?;
    dev.dispatch(
        &Kernel::new(OP, &BACKWARD_FINALIZE, "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(partial.binding()),
            Binding::Read(gamma.binding()),
            Binding::Read(save_mean.binding()),
            Binding::Read(save_invstd.binding()),
            Binding::ReadWrite(grads.dgamma.binding()),
            Binding::ReadWrite(grads.dbeta.binding()),
            Binding::ReadWrite(coef.binding()),
        ],
        c as u64,
    )?;
    if x.numel() == 0 {
        return Ok(());
    }
    let apply = match precision {
        Precision::F16Packed => &BACKWARD_APPLY_F16P,
        p => BACKWARD_APPLY.get(p).expect("typed"),
    };
    dev.dispatch(
        &Kernel::new(OP, apply, "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(dy.binding()),
            Binding::Read(x.binding()),
            Binding::Read(coef.binding()),
            Binding::ReadWrite(grads.dx.binding()),
        ],
        params.count.div_ceil(WG as u32) as u64,
    )
}

/// Folds evaluation-mode batch norm into the preceding convolution:
/// `w' = w · gamma/sqrt(var + eps)` per output channel (dimension 0 of `w`,
/// OIHW) and `b' = (b − mean) · gamma/sqrt(var + eps) + beta` (`b = 0` when
/// absent). `w'` and `b'` have `w`'s dtype; `b`, when given, must be `[O]` of
/// `w`'s dtype. Arithmetic in f32 as PyTorch's `fuse_conv_bn_weights`.
pub fn fold_into_conv(
    w: &Tensor,
    b: Option<&Tensor>,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "fold_into_conv";
    if !w.dtype().is_float() || w.rank() == 0 {
        return Err(Error::shape(
            OP,
            format!(
                "w: expected an f32 or f16 weight [O, ...], got {:?} {}",
                w.shape(),
                w.dtype()
            ),
        ));
    }
    check_numel(OP, "w", w)?;
    let o = w.dim(0);
    check_channel(OP, "gamma", gamma, o)?;
    check_channel(OP, "beta", beta, o)?;
    check_channel(OP, "running_mean", running_mean, o)?;
    check_channel(OP, "running_var", running_var, o)?;
    if let Some(b) = b
        && (b.shape() != [o] || b.dtype() != w.dtype())
    {
        return Err(Error::shape(
            OP,
            format!(
                "b: expected [{o}] {} like the weight's output channels, got {:?} {}",
                w.dtype(),
                b.shape(),
                b.dtype()
            ),
        ));
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(Error::invalid(
            OP,
            "eps",
            format!("must be finite and >= 0, got {eps}"),
        ));
    }
    let dev = w.device();
    let precision = Precision::for_dtype(dev, w.dtype())?;
    let numel = w.numel();
    let per_out = numel.checked_div(o).unwrap_or(0);
    let w_out = dev.empty(w.shape(), w.dtype())?;
    let count = units(precision, numel);
    let params = BnParams {
        n: 1,
        c: o as u32,
        hw: per_out.max(1) as u32,
        count: count as u32,
        eps,
        mode: b.is_some() as u32,
        numel: numel as u32,
        ..Default::default()
    };
    if numel > 0 {
        let shader = match precision {
            Precision::F16Packed => &FOLD_F16P,
            p => FOLD.get(p).expect("typed"),
        };
        dev.dispatch(
            &Kernel::new(OP, shader, "main"),
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(w.binding()),
                Binding::Read(gamma.binding()),
                Binding::Read(running_var.binding()),
                Binding::ReadWrite(w_out.binding()),
            ],
            match precision {
                Precision::F16Packed => count.div_ceil(WG) as u64,
                // Runs of 64 elements of one output channel.
                _ => (o * per_out.div_ceil(64)).div_ceil(WG) as u64,
            },
        )?;
    }
    // The bias in f32, then stored in the weight's dtype.
    let b32 = match b {
        Some(b) => crate::elementwise::cast(b, DType::F32)?,
        None => gamma.clone(),
    };
    let b_f32 = dev.empty(&[o], DType::F32)?;
    if o > 0 {
        dev.dispatch(
            &Kernel::new(OP, &FOLD_BIAS, "main"),
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(b32.binding()),
                Binding::Read(gamma.binding()),
                Binding::Read(beta.binding()),
                Binding::Read(running_mean.binding()),
                Binding::Read(running_var.binding()),
                Binding::ReadWrite(b_f32.binding()),
            ],
            o.div_ceil(WG) as u64,
        )?;
    }
    let b_out = if w.dtype() == DType::F32 {
        b_f32
    } else {
        let t = dev.empty(&[o], w.dtype())?;
        crate::reduce::store_f16(&b_f32, &t)?;
        t
    };
    Ok((w_out, b_out))
}
