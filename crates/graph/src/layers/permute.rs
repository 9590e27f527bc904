//! `Permute`: reordering a sample's axes.

use weft_device::Result;
use weft_kernels::permute;

use crate::layer::{Backward, Forward, HostArray, Layer, Shape};
use crate::layers::shape_error;

/// `x.permute(0, 1 + perm[0], 1 + perm[1], …).contiguous()`: a sample's axes
/// reordered (the batch stays first), e.g. ShuffleNet's channel shuffle as
/// `[g, C/g, H, W] → [C/g, g, H, W]` between two reshapes. Backward applies
/// the inverse permutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permute {
    /// Output axis `a` of a sample is its input axis `perm[a]`.
    pub perm: Vec<usize>,
}

impl Permute {
    pub fn new(perm: &[usize]) -> Permute {
        Permute {
            perm: perm.to_vec(),
        }
    }

    /// The permutation of the batched tensor.
    fn batched(perm: &[usize]) -> Vec<usize> {
        std::iter::once(0)
            .chain(perm.iter().map(|&a| a + 1))
            .collect()
    }
}

impl Layer for Permute {
    fn kind(&self) -> &'static str {
        "Permute"
    }

    fn infer(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        permute::check_perm(name, &self.perm, s.len()).map_err(|_| {
            shape_error(
                name,
                format!(
                    "Permute {:?} is not a permutation of the axes of samples of shape {s:?}",
                    self.perm
                ),
            )
        })?;
        if s.len() + 1 > permute::MAX_RANK {
            return Err(shape_error(
                name,
                format!(
                    "Permute handles samples of at most {} axes",
                    permute::MAX_RANK - 1
                ),
            ));
        }
        Ok(permute::permuted_shape(s, &self.perm))
    }

    fn forward(&self, cx: &mut Forward<'_>) -> Result<()> {
        cx.output = Some(permute::permute(
            &cx.inputs[0],
            &Permute::batched(&self.perm),
        )?);
        Ok(())
    }

    fn backward(&self, cx: &mut Backward<'_>) -> Result<()> {
        let inv = permute::inverse(&Permute::batched(&self.perm));
        cx.input_grads = vec![Some(permute::permute(cx.dy, &inv)?)];
        Ok(())
    }

    fn reference(&self, inputs: &[HostArray], _params: &[&[f64]]) -> Result<HostArray> {
        let x = &inputs[0];
        let perm = Permute::batched(&self.perm);
        let shape = permute::permuted_shape(&x.shape, &perm);
        let strides: Vec<usize> = (0..x.shape.len())
            .map(|a| x.shape[a + 1..].iter().product())
            .collect();
        let data = (0..x.data.len())
            .map(|i| {
                let (mut rest, mut src) = (i, 0);
                for a in (0..shape.len()).rev() {
                    src += (rest % shape[a]) * strides[perm[a]];
                    rest /= shape[a];
                }
                x.data[src]
            })
            .collect();
        Ok(HostArray::new(shape, data))
    }
}
