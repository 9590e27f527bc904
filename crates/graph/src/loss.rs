//! Training objectives applied to a network's first output.

use weft_device::{DType, Error, Result, Tensor};
use weft_kernels::elementwise;
use weft_kernels::loss::{self, Reduction};
use weft_kernels::reduce::{self, ReducePlan};

use crate::layer::MemSeq;

/// A loss on the network's output, averaged over the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// `F.cross_entropy(logits, targets, label_smoothing=ε)` over `[N, C]`
    /// logits and class-index targets (I32 `[N]`), or per pixel over
    /// `[N, C, H, W]` logits and I32 `[N, H, W]` targets (segmentation; the
    /// mean over every pixel, as PyTorch's; no correct count).
    CrossEntropy { label_smoothing: f32 },
    /// Mixup's loss, `λ·CE(logits, a) + (1 − λ)·CE(logits, b)`: `a` are the
    /// targets of the images weighted `λ`, `b` those of their partners (see
    /// [`Model::train_step_mixup`](crate::Model::train_step_mixup)).
    MixupCrossEntropy { label_smoothing: f32, lambda: f32 },
    /// `F.binary_cross_entropy_with_logits` over logits and float targets of
    /// the same shape (multi-label).
    BceWithLogits,
    /// `F.mse_loss`: mean squared error against float targets of the
    /// output's shape.
    Mse,
    /// `F.l1_loss`: mean absolute error against float targets of the output's
    /// shape.
    L1,
}

/// What a loss launch allocates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LossAlloc {
    /// The gradient with respect to the output.
    pub grad: u64,
    /// Tensors handed to the caller (the loss value, the correct count).
    pub kept: Vec<u64>,
    /// Most bytes the launch holds at once.
    pub peak: u64,
}

/// Outputs of a loss launch kept for the caller.
pub(crate) struct LossRun {
    /// `[1]` f32 mean loss.
    pub loss: Tensor,
    /// `[1]` u32 number of correctly classified rows (cross-entropy only).
    pub correct: Option<Tensor>,
}

impl Loss {
    /// The allocation sequence of [`run`](Self::run), mirroring the kernels:
    /// the gradient, per-row losses and a valid-target count, the reduced loss
    /// with its partial sums; then the correct count with its partials.
    pub(crate) fn alloc(&self, batch: usize, out_shape: &[usize], dtype: DType) -> LossAlloc {
        let elems = batch * out_shape.iter().product::<usize>();
        let grad = dtype.storage_bytes(elems);
        let scalar = 4;
        let mut m = MemSeq::new();
        match self {
            Loss::CrossEntropy { .. } if out_shape.len() == 3 => {
                // Per pixel: the logits permuted to rows of classes, the
                // row-wise loss (no correct count), the gradient permuted back.
                let pixels = batch * out_shape[1] * out_shape[2];
                let rows = 4 * pixels as u64;
                let sum_scratch = reduce::scratch_bytes(&ReducePlan::all(pixels));
                m.alloc(grad)
                    .alloc(grad)
                    .alloc(rows)
                    .alloc(scalar)
                    .alloc(scalar)
                    .alloc(sum_scratch);
                m.free(sum_scratch).free(rows).free(scalar);
                m.free(grad).alloc(grad).free(grad);
                LossAlloc {
                    grad,
                    kept: vec![scalar],
                    peak: m.peak(),
                }
            }
            Loss::CrossEntropy { .. } => {
                let rows = 4 * batch as u64;
                let sum_scratch = reduce::scratch_bytes(&ReducePlan::all(batch));
                m.alloc(grad)
                    .alloc(rows)
                    .alloc(scalar)
                    .alloc(scalar)
                    .alloc(sum_scratch);
                m.free(sum_scratch).free(rows).free(scalar);
                let groups = batch.div_ceil(256);
                let partial = if groups > 1 { 4 * groups as u64 } else { 0 };
                m.alloc(scalar).alloc(partial).free(partial);
                LossAlloc {
                    grad,
                    kept: vec![scalar, scalar],
                    peak: m.peak(),
                }
            }
            Loss::MixupCrossEntropy { .. } => {
                // Two cross-entropies (each as above, the correct count only for
                // the first), then λ·g_a and (1−λ)·g_b, summed, and the losses.
                let rows = 4 * batch as u64;
                let sum_scratch = reduce::scratch_bytes(&ReducePlan::all(batch));
                let groups = batch.div_ceil(256);
                let partial = if groups > 1 { 4 * groups as u64 } else { 0 };
                for _ in 0..2 {
                    m.alloc(grad)
                        .alloc(rows)
                        .alloc(scalar)
                        .alloc(scalar)
                        .alloc(sum_scratch);
                    m.free(sum_scratch).free(rows).free(scalar);
                }
                m.alloc(scalar).alloc(partial).free(partial);
                m.alloc(grad).alloc(grad).alloc(grad).free(4 * grad);
                m.alloc(scalar).alloc(scalar).alloc(scalar).free(4 * scalar);
                LossAlloc {
                    grad,
                    kept: vec![scalar, scalar],
                    peak: m.peak(),
                }
            }
            Loss::BceWithLogits | Loss::Mse | Loss::L1 => {
                let rows = 4 * elems as u64;
                let sum_scratch = reduce::scratch_bytes(&ReducePlan::all(elems));
                m.alloc(grad).alloc(rows).alloc(scalar).alloc(sum_scratch);
                m.free(sum_scratch).free(rows);
                LossAlloc {
                    grad,
                    kept: vec![scalar],
                    peak: m.peak(),
                }
            }
        }
    }

    /// Runs the loss: the gradient with respect to `output`, and what the caller keeps.
    pub(crate) fn run(
        &self,
        output: &Tensor,
        targets: &Tensor,
        partner: Option<&Tensor>,
    ) -> Result<(Tensor, LossRun)> {
        match *self {
            Loss::CrossEntropy { label_smoothing } if output.rank() == 4 => {
                let grad_rows;
                let out = {
                    let [n, c, h, w] = <[usize; 4]>::try_from(output.shape()).expect("rank 4");
                    let pixels = n * h * w;
                    if targets.shape() != [n, h, w] {
                        return Err(Error::shape(
                            "cross_entropy",
                            format!(
                                "per-pixel targets: expected [{n}, {h}, {w}] class indices for {:?} logits, got {:?}",
                                output.shape(),
                                targets.shape()
                            ),
                        ));
                    }
                    let rows = weft_kernels::permute::permute(output, &[0, 2, 3, 1])?;
                    let out = loss::softmax_cross_entropy(
                        &rows.reshape(&[pixels, c])?,
                        &targets.reshape(&[pixels])?,
                        label_smoothing,
                        Reduction::Mean,
                    )?;
                    drop(rows);
                    grad_rows = out.grad.reshape(&[n, h, w, c])?;
                    out.loss
                };
                let grad = weft_kernels::permute::permute(&grad_rows, &[0, 3, 1, 2])?;
                Ok((
                    grad,
                    LossRun {
                        loss: out,
                        correct: None,
                    },
                ))
            }
            Loss::CrossEntropy { label_smoothing } => {
                if output.rank() != 2 {
                    return Err(Error::shape(
                        "cross_entropy",
                        format!(
                            "expected [N, classes] logits (or [N, classes, H, W] per pixel), got {:?}",
                            output.shape()
                        ),
                    ));
                }
                let out =
                    loss::softmax_cross_entropy(output, targets, label_smoothing, Reduction::Mean)?;
                let correct = loss::count_correct(output, targets)?;
                Ok((
                    out.grad,
                    LossRun {
                        loss: out.loss,
                        correct: Some(correct),
                    },
                ))
            }
            Loss::MixupCrossEntropy {
                label_smoothing,
                lambda,
            } => {
                let partner = partner.ok_or_else(|| {
                    Error::invalid(
                        "mixup_cross_entropy",
                        "targets",
                        "mixup needs the partners' targets",
                    )
                })?;
                let a =
                    loss::softmax_cross_entropy(output, targets, label_smoothing, Reduction::Mean)?;
                let b =
                    loss::softmax_cross_entropy(output, partner, label_smoothing, Reduction::Mean)?;
                let correct = loss::count_correct(output, targets)?;
                let ga = elementwise::scale(&a.grad, lambda, 0.0)?;
                let gb = elementwise::scale(&b.grad, 1.0 - lambda, 0.0)?;
                let grad = elementwise::add(&ga, &gb)?;
                drop((a.grad, b.grad, ga, gb));
                let la = elementwise::scale(&a.loss, lambda, 0.0)?;
                let lb = elementwise::scale(&b.loss, 1.0 - lambda, 0.0)?;
                let total = elementwise::add(&la, &lb)?;
                Ok((
                    grad,
                    LossRun {
                        loss: total,
                        correct: Some(correct),
                    },
                ))
            }
            Loss::Mse | Loss::L1 => {
                let kind = if *self == Loss::Mse {
                    loss::Regression::Mse
                } else {
                    loss::Regression::L1
                };
                let out = loss::regression_loss(output, targets, kind, Reduction::Mean)?;
                Ok((
                    out.grad,
                    LossRun {
                        loss: out.loss,
                        correct: None,
                    },
                ))
            }
            Loss::BceWithLogits => {
                let out = loss::bce_with_logits(output, targets, None, Reduction::Mean)?;
                Ok((
                    out.grad,
                    LossRun {
                        loss: out.loss,
                        correct: None,
                    },
                ))
            }
        }
    }
}
