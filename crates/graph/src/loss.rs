//! Training objectives applied to a network's first output.

use weft_device::{DType, Error, Result, Tensor};
use weft_kernels::loss::{self, Reduction};

/// A loss on the network's output, averaged over the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// `F.cross_entropy(logits, targets, label_smoothing=ε)` over `[N, C]`
    /// logits and class-index targets (I32 `[N]`).
    CrossEntropy { label_smoothing: f32 },
    /// `F.binary_cross_entropy_with_logits` over logits and float targets of
    /// the same shape (multi-label).
    BceWithLogits,
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
    pub(crate) fn alloc(&self, batch: usize, out_shape: &[usize], dtype: DType) -> LossAlloc {
        let grad = dtype.storage_bytes(batch * out_shape.iter().product::<usize>());
        let scalar = 4;
        match self {
            Loss::CrossEntropy { .. } => LossAlloc {
                grad,
                kept: vec![scalar, scalar],
                peak: grad + 2 * scalar,
            },
            Loss::BceWithLogits => LossAlloc {
                grad,
                kept: vec![scalar],
                peak: grad + scalar,
            },
        }
    }

    /// Runs the loss: the gradient with respect to `output`, and what the caller keeps.
    pub(crate) fn run(&self, output: &Tensor, targets: &Tensor) -> Result<(Tensor, LossRun)> {
        match *self {
            Loss::CrossEntropy { label_smoothing } => {
                if output.rank() != 2 {
                    return Err(Error::shape(
                        "cross_entropy",
                        format!("expected [N, classes] logits, got {:?}", output.shape()),
                    ));
                }
                let out = loss::softmax_cross_entropy(output, targets, label_smoothing, Reduction::Mean)?;
                let correct = loss::count_correct(output, targets)?;
                Ok((
                    out.grad,
                    LossRun {
                        loss: out.loss,
                        correct: Some(correct),
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
