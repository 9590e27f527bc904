//! Losses, each returning the loss and its gradient wrt the input in one call,
//! with PyTorch's semantics: softmax cross-entropy with label smoothing
//! (`F.cross_entropy`), NLL over log-probabilities (`F.nll_loss`), binary
//! cross-entropy with logits (`F.binary_cross_entropy_with_logits`, with
//! `pos_weight`), mean squared and absolute error (`F.mse_loss`,
//! `F.l1_loss`), and a correct-prediction count for accuracy.
//!
//! Inputs are F32 or native F16 (`shader-f16`); losses are F32, gradients
//! have the input's shape and dtype. Arithmetic is f32; reductions are
//! deterministic (fixed-order trees, no atomics).
//!
//! Gradients are those of the returned loss: divided by the Mean denominator
//! for [`Reduction::Mean`], and of the *sum* of the per-sample losses for
//! [`Reduction::None`] (an upstream gradient of ones).
//!
//! **Class-index targets** are `[N]` I32 or U32 tensors. The GPU cannot raise
//! an error, so a target outside `[0, C)` is *ignored*: its loss and gradient
//! are 0 and it does not count in the Mean denominator. This is exactly
//! PyTorch's `ignore_index=-100` for the default ignore index, and a documented
//! difference elsewhere (PyTorch raises). To get PyTorch's error, pass the
//! targets as a host slice: [`upload_targets`] (or the `_checked` forms)
//! validates every target on the host first and reports the first bad one.

use weft_device::{Binding, DType, Device, Error, Kernel, Result, ShaderFile, Tensor};

use crate::reduce::{ReduceOp, ReducePlan, check_numel, reduce_to_f32};
use crate::softmax::row_precision;
use crate::{Precision, shaders};

const PARAMS: ShaderFile = shaders::wgsl!("loss/params.wgsl");

shaders::typed!(CROSS_ENTROPY, [PARAMS], "loss/cross_entropy.wgsl");
shaders::typed!(NLL, [PARAMS], "loss/nll.wgsl");
shaders::typed!(BCE, [PARAMS], "loss/bce.wgsl");
shaders::typed!(REGRESSION, [PARAMS], "loss/regression.wgsl");
shaders::typed!(COUNT_CORRECT, [PARAMS], "loss/count_correct.wgsl");
shaders::plain!(COUNT, [PARAMS], "loss/count.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    shaders::list(
        &[&CROSS_ENTROPY, &NLL, &BCE, &REGRESSION, &COUNT_CORRECT],
        &[&COUNT],
    )
}

const WG: usize = 256;
/// Longest row one invocation handles in cross-entropy.
const SERIAL_MAX: usize = 64;

/// PyTorch's default `ignore_index`, accepted by [`upload_targets`].
pub const IGNORE_INDEX: i32 = -100;

/// How per-sample losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Sum divided by the number of (non-ignored) samples or elements.
    #[default]
    Mean,
    Sum,
    /// Per-sample (per-element for BCE) losses.
    None,
}

/// A loss and its gradient.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// F32 `[1]` for Mean and Sum; for None F32 `[N]` (class-index losses) or
    /// the input's shape (BCE).
    pub loss: Tensor,
    /// d(loss)/d(input) (of the summed losses for None): the input's shape and
    /// dtype.
    pub grad: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct LossParams {
    n: u32,
    c: u32,
    label_smoothing: f32,
    mean: u32,
    has_pos_weight: u32,
    _pad: [u32; 3],
}

/// Validates class-index targets on the host (each in `[0, classes)` or
/// [`IGNORE_INDEX`]) and uploads them as an I32 `[N]` tensor.
pub fn upload_targets(dev: &Device, targets: &[i32], classes: usize) -> Result<Tensor> {
    if let Some((i, &t)) = targets
        .iter()
        .enumerate()
        .find(|&(_, &t)| t != IGNORE_INDEX && (t < 0 || t as usize >= classes))
    {
        return Err(Error::invalid(
            "targets",
            "targets",
            format!(
                "target {t} at index {i} is out of bounds for {classes} classes (valid: 0..{classes} or ignore_index {IGNORE_INDEX})"
            ),
        ));
    }
    dev.tensor_i32(&[targets.len()], targets)
}

/// `[N, C]` float logits.
fn check_logits(op: &str, what: &str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.shape() {
        [n, c] if c >= 1 => {
            check_numel(op, what, t)?;
            Ok((n, c))
        }
        _ => Err(Error::shape(
            op,
            format!(
                "{what}: expected [N, C] with C >= 1, got shape {:?}",
                t.shape()
            ),
        )),
    }
}

/// `[N]` I32 or U32 class indices.
fn check_targets(op: &str, targets: &Tensor, n: usize) -> Result<()> {
    if !matches!(targets.dtype(), DType::I32 | DType::U32) {
        return Err(Error::invalid(
            op,
            "targets",
            format!("expected i32 or u32 class indices, got {}", targets.dtype()),
        ));
    }
    if targets.shape() != [n] {
        return Err(Error::shape(
            op,
            format!(
                "targets: expected [{n}] (one class index per row), got {:?}",
                targets.shape()
            ),
        ));
    }
    Ok(())
}

/// The number of in-range targets (the Mean denominator), as a U32 `[1]`.
fn count_valid(op: &str, targets: &Tensor, n: usize, c: usize) -> Result<Tensor> {
    let dev = targets.device();
    let count = dev.empty(&[1], DType::U32)?;
    let params = LossParams {
        n: n as u32,
        c: c as u32,
        ..Default::default()
    };
    dev.dispatch(
        &Kernel::new(op, &COUNT, "count_valid"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(targets.binding()),
            Binding::ReadWrite(count.binding()),
        ],
        1,
    )?;
    Ok(count)
}

/// Sums per-row losses (already scaled) into the F32 `[1]` result; a Mean over
/// nothing is NaN, as in PyTorch.
fn finish_loss(op: &str, rows: Tensor, reduction: Reduction) -> Result<Tensor> {
    if reduction == Reduction::None {
        return Ok(rows);
    }
    let dev = rows.device();
    let loss = dev.empty(&[1], DType::F32)?;
    let n = rows.numel();
    if n == 0 {
        let v = if reduction == Reduction::Mean {
            f32::NAN
        } else {
            0.0
        };
        crate::elementwise::fill(&loss, v)?;
        return Ok(loss);
    }
    reduce_to_f32(
        op,
        &rows,
        Precision::F32,
        &ReducePlan::all(n),
        ReduceOp::Sum,
        1.0,
        &loss,
    )?;
    Ok(loss)
}

/// Fused softmax cross-entropy over logits `[N, C]` and class-index targets
/// `[N]`, PyTorch's `F.cross_entropy(logits, targets, label_smoothing=ε,
/// reduction=…)`: per sample `(1 − ε)·(−log p_t) + ε·mean_c(−log p_c)`, and the
/// gradient `p − ε/C − (1 − ε)·onehot(t)` (divided by the number of valid
/// targets for Mean). See the module docs for out-of-range targets.
pub fn softmax_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    label_smoothing: f32,
    reduction: Reduction,
) -> Result<LossOutput> {
    const OP: &str = "cross_entropy";
    let (n, c) = check_logits(OP, "logits", logits)?;
    check_targets(OP, targets, n)?;
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(Error::invalid(
            OP,
            "label_smoothing",
            format!("must lie in [0, 1], got {label_smoothing}"),
        ));
    }
    let precision = row_precision(OP, logits)?;
    let dev = logits.device();
    let grad = dev.empty(logits.shape(), logits.dtype())?;
    let rows = dev.empty(&[n], DType::F32)?;
    if n > 0 {
        let mean = reduction == Reduction::Mean;
        let count = if mean {
            count_valid(OP, targets, n, c)?
        } else {
            targets.clone()
        };
        let params = LossParams {
            n: n as u32,
            c: c as u32,
            label_smoothing,
            mean: mean as u32,
            ..Default::default()
        };
        let (entry, workgroups) = if c <= SERIAL_MAX {
            ("serial", n.div_ceil(WG))
        } else {
            ("tree", n)
        };
        dev.dispatch(
            &Kernel::new(OP, CROSS_ENTROPY.get(precision).expect("typed"), entry),
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(logits.binding()),
                Binding::Read(targets.binding()),
                Binding::Read(count.binding()),
                Binding::ReadWrite(rows.binding()),
                Binding::ReadWrite(grad.binding()),
            ],
            workgroups as u64,
        )?;
    }
    Ok(LossOutput {
        loss: finish_loss(OP, rows, reduction)?,
        grad,
    })
}

/// [`softmax_cross_entropy`] with targets from the host, validated first
/// (typed error for a target outside `[0, C)` other than [`IGNORE_INDEX`]).
pub fn softmax_cross_entropy_checked(
    logits: &Tensor,
    targets: &[i32],
    label_smoothing: f32,
    reduction: Reduction,
) -> Result<LossOutput> {
    let (_, c) = check_logits("cross_entropy", "logits", logits)?;
    let t = upload_targets(logits.device(), targets, c)?;
    softmax_cross_entropy(logits, &t, label_smoothing, reduction)
}

/// Negative log-likelihood over log-probabilities `[N, C]` (e.g. from
/// `log_softmax`) and class-index targets `[N]`, PyTorch's `F.nll_loss`:
/// per sample `−log_probs[n, t_n]`, gradient `−onehot(t)` (divided by the
/// number of valid targets for Mean).
pub fn nll_loss(log_probs: &Tensor, targets: &Tensor, reduction: Reduction) -> Result<LossOutput> {
    const OP: &str = "nll_loss";
    let (n, c) = check_logits(OP, "log_probs", log_probs)?;
    check_targets(OP, targets, n)?;
    let precision = row_precision(OP, log_probs)?;
    let dev = log_probs.device();
    let grad = dev.empty(log_probs.shape(), log_probs.dtype())?;
    let rows = dev.empty(&[n], DType::F32)?;
    if n > 0 {
        let mean = reduction == Reduction::Mean;
        let count = if mean {
            count_valid(OP, targets, n, c)?
        } else {
            targets.clone()
        };
        let params = LossParams {
            n: n as u32,
            c: c as u32,
            mean: mean as u32,
            ..Default::default()
        };
        dev.dispatch(
            &Kernel::new(OP, NLL.get(precision).expect("typed"), "main"),
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(log_probs.binding()),
                Binding::Read(targets.binding()),
                Binding::Read(count.binding()),
                Binding::ReadWrite(rows.binding()),
                Binding::ReadWrite(grad.binding()),
            ],
            (n * c).div_ceil(WG) as u64,
        )?;
    }
    Ok(LossOutput {
        loss: finish_loss(OP, rows, reduction)?,
        grad,
    })
}

/// [`nll_loss`] with targets from the host, validated first.
pub fn nll_loss_checked(
    log_probs: &Tensor,
    targets: &[i32],
    reduction: Reduction,
) -> Result<LossOutput> {
    let (_, c) = check_logits("nll_loss", "log_probs", log_probs)?;
    let t = upload_targets(log_probs.device(), targets, c)?;
    nll_loss(log_probs, &t, reduction)
}

/// Multi-label binary cross-entropy with logits, PyTorch's
/// `F.binary_cross_entropy_with_logits`: logits and float targets of one shape
/// and dtype; `pos_weight`, when given, is F32 `[C]` broadcast over the last
/// dimension. Per element `(1 − y)·x + lw·softplus(−x)` with
/// `lw = 1 + (pos_weight − 1)·y`; gradient `(1 − y) − lw·sigmoid(−x)` (divided
/// by the number of elements for Mean). None returns the per-element losses
/// (F32, the logits' shape).
pub fn bce_with_logits(
    logits: &Tensor,
    targets: &Tensor,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<LossOutput> {
    const OP: &str = "bce_with_logits";
    let c = logits.shape().last().copied().unwrap_or(1);
    if let Some(pw) = pos_weight
        && (logits.rank() == 0 || pw.shape() != [c] || pw.dtype() != DType::F32)
    {
        return Err(Error::shape(
            OP,
            format!(
                "pos_weight: expected [{c}] f32 (one weight per class, the logits' last dimension), got {:?} {}",
                pw.shape(),
                pw.dtype()
            ),
        ));
    }
    let params = LossParams {
        c: c.max(1) as u32,
        has_pos_weight: pos_weight.is_some() as u32,
        ..Default::default()
    };
    // Without pos_weight the logits fill its binding (unread).
    let extra = [pos_weight.unwrap_or(logits)];
    elementwise_loss(OP, &BCE, logits, targets, &extra, params, reduction)
}

/// A regression loss between an output and float targets of its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regression {
    /// `F.mse_loss`: `(x − y)²`, gradient `2(x − y)`.
    Mse,
    /// `F.l1_loss`: `|x − y|`, gradient `sign(x − y)` (0 where equal).
    L1,
}

/// `F.mse_loss` / `F.l1_loss` over an output and targets of one shape and
/// dtype (F32 or native F16): the loss (F32 `[1]`, or per element for None)
/// and its gradient (the output's shape and dtype; divided by the number of
/// elements for Mean).
pub fn regression_loss(
    output: &Tensor,
    targets: &Tensor,
    kind: Regression,
    reduction: Reduction,
) -> Result<LossOutput> {
    let op = match kind {
        Regression::Mse => "mse_loss",
        Regression::L1 => "l1_loss",
    };
    let params = LossParams {
        c: (kind == Regression::L1) as u32,
        ..Default::default()
    };
    elementwise_loss(op, &REGRESSION, output, targets, &[], params, reduction)
}

/// The launch of an elementwise loss (one invocation per element, writing
/// the per-element loss in f32 and the gradient): `input` and `targets` of
/// one shape and dtype, bound after the parameters, then `extra` inputs, the
/// losses and the gradient; `params.n` and `params.mean` are set here.
fn elementwise_loss(
    op: &str,
    shader: &crate::precision::Typed,
    input: &Tensor,
    targets: &Tensor,
    extra: &[&Tensor],
    mut params: LossParams,
    reduction: Reduction,
) -> Result<LossOutput> {
    let precision = row_precision(op, input)?;
    check_numel(op, "input", input)?;
    if targets.shape() != input.shape() || targets.dtype() != input.dtype() {
        return Err(Error::shape(
            op,
            format!(
                "targets: expected {:?} {} like the input, got {:?} {}",
                input.shape(),
                input.dtype(),
                targets.shape(),
                targets.dtype()
            ),
        ));
    }
    let dev = input.device();
    let numel = input.numel();
    let grad = dev.empty(input.shape(), input.dtype())?;
    let loss_shape: Vec<usize> = if reduction == Reduction::None {
        input.shape().to_vec()
    } else {
        vec![numel]
    };
    let elems = dev.empty(&loss_shape, DType::F32)?;
    if numel > 0 {
        params.n = numel as u32;
        params.mean = (reduction == Reduction::Mean) as u32;
        let mut bindings = vec![
            Binding::Read(input.binding()),
            Binding::Read(targets.binding()),
        ];
        bindings.extend(extra.iter().map(|t| Binding::Read(t.binding())));
        bindings.push(Binding::ReadWrite(elems.binding()));
        bindings.push(Binding::ReadWrite(grad.binding()));
        dev.dispatch(
            &Kernel::new(op, shader.get(precision).expect("typed"), "main"),
            bytemuck::bytes_of(&params),
            &bindings,
            numel.div_ceil(WG) as u64,
        )?;
    }
    let loss = if reduction == Reduction::None {
        elems
    } else {
        finish_loss(op, elems.reshape(&[numel])?, reduction)?
    };
    Ok(LossOutput { loss, grad })
}

/// Number of rows of logits `[N, C]` whose argmax (first maximal index; NaN
/// counts as maximal, as `torch.argmax`) equals the target, as a U32 `[1]`,
/// without reading the logits back. Out-of-range targets never match.
pub fn count_correct(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    const OP: &str = "count_correct";
    let (n, c) = check_logits(OP, "logits", logits)?;
    check_targets(OP, targets, n)?;
    let precision = row_precision(OP, logits)?;
    let dev = logits.device();
    let out = dev.empty(&[1], DType::U32)?;
    if n == 0 {
        crate::elementwise::fill_words(&out, 0)?;
        return Ok(out);
    }
    let groups = n.div_ceil(WG);
    let params = LossParams {
        n: n as u32,
        c: c as u32,
        ..Default::default()
    };
    let partial = if groups == 1 {
        out.clone()
    } else {
        dev.empty(&[groups], DType::U32)?
    };
    dev.dispatch(
        &Kernel::new(OP, COUNT_CORRECT.get(precision).expect("typed"), "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(logits.binding()),
            Binding::Read(targets.binding()),
            Binding::ReadWrite(partial.binding()),
        ],
        groups as u64,
    )?;
    if groups > 1 {
        let params = LossParams {
            n: groups as u32,
            ..Default::default()
        };
        dev.dispatch(
            &Kernel::new(OP, &COUNT, "sum"),
            bytemuck::bytes_of(&params),
            &[
                Binding::Read(partial.binding()),
                Binding::ReadWrite(out.binding()),
            ],
            1,
        )?;
    }
    Ok(out)
}
