//! U-Net (Ronneberger et al., 2015) with a transposed-convolution decoder,
//! laid out and named like the widely used PyTorch implementation (`inc`,
//! `down1..4`, `up1..4`, `outc`; `double_conv.0.weight`, `up.weight`), with
//! its layout configurable: depth, widths per level, batch norm or not, the
//! order of the skip concatenation.

use weft_device::{Error, Result};

use crate::graph::{Graph, NodeId};
use crate::layers::{BatchNorm2d, Boxed, Concat, Conv2d, ConvTranspose2d, MaxPool2d, Relu};

/// The layout of a U-Net.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnetConfig {
    pub in_channels: usize,
    /// Output channels: one logit map per class.
    pub classes: usize,
    /// Channels at each level from the top: `[64, 128, 256, 512, 1024]` is the
    /// paper's (depth 4: the number of poolings is `widths.len() - 1`).
    pub widths: Vec<usize>,
    /// Batch norm after each convolution (bias-free convolutions), as the
    /// PyTorch implementation; without it, convolutions have biases, as the
    /// paper.
    pub batch_norm: bool,
    /// Concatenate `[skip, upsampled]` (the paper and the PyTorch
    /// implementation) rather than `[upsampled, skip]`.
    pub skip_first: bool,
}

impl UnetConfig {
    /// `depth` poolings, widths doubling from `base`, batch norm, skip first.
    pub fn new(in_channels: usize, classes: usize, base: usize, depth: usize) -> UnetConfig {
        UnetConfig {
            in_channels,
            classes,
            widths: (0..=depth).map(|l| base << l).collect(),
            batch_norm: true,
            skip_first: true,
        }
    }

    /// The network on `[in_channels, size, size]` inputs, `size` divisible by
    /// 2^depth; outputs `[classes, size, size]` logits.
    pub fn build(&self, size: usize) -> Result<Graph> {
        let depth = self.widths.len().saturating_sub(1);
        if depth == 0 || self.widths.contains(&0) {
            return Err(Error::invalid(
                "unet",
                "widths",
                format!(
                    "needs at least two positive widths (one per level), got {:?}",
                    self.widths
                ),
            ));
        }
        if size == 0 || !size.is_multiple_of(1 << depth) {
            return Err(Error::invalid(
                "unet",
                "size",
                format!("the image size must be a positive multiple of 2^{depth}, got {size}"),
            ));
        }
        let w = &self.widths;
        let mut g = Graph::new();
        let x = g.input("image", &[self.in_channels, size, size])?;
        let mut skips = vec![self.double_conv(&mut g, x, "inc", self.in_channels, w[0])?];
        for level in 1..=depth {
            let name = format!("down{level}");
            let above = *skips.last().expect("the level above");
            let p = g.add(
                &format!("{name}.maxpool_conv.0"),
                MaxPool2d::new(2).boxed(),
                &[above],
            )?;
            let conv = format!("{name}.maxpool_conv.1");
            skips.push(self.double_conv(&mut g, p, &conv, w[level - 1], w[level])?);
        }
        let mut y = skips.pop().expect("the bottom level");
        for level in 1..=depth {
            let name = format!("up{level}");
            let (c_below, c) = (w[depth - level + 1], w[depth - level]);
            let up = g.add(
                &format!("{name}.up"),
                ConvTranspose2d::new(c_below, c, 2).stride(2).boxed(),
                &[y],
            )?;
            let skip = skips.pop().expect("one skip per level");
            let pair = if self.skip_first {
                [skip, up]
            } else {
                [up, skip]
            };
            let cat = g.add(&format!("{name}.cat"), Concat.boxed(), &pair)?;
            y = self.double_conv(&mut g, cat, &format!("{name}.conv"), 2 * c, c)?;
        }
        let out = Conv2d::new(w[0], self.classes, 1);
        let out = g.add("outc.conv", out.boxed(), &[y])?;
        g.set_outputs(&[out]);
        Ok(g)
    }

    /// (conv3×3 → [BN] → ReLU) × 2.
    fn double_conv(
        &self,
        g: &mut Graph,
        x: NodeId,
        name: &str,
        c_in: usize,
        c_out: usize,
    ) -> Result<NodeId> {
        let mut y = x;
        let mut index = 0;
        for c in [c_in, c_out] {
            let conv = Conv2d::new(c, c_out, 3).padding(1).bias(!self.batch_norm);
            let mut layers = vec![conv.boxed()];
            if self.batch_norm {
                layers.push(BatchNorm2d::new(c_out).boxed());
            }
            layers.push(Relu.boxed());
            for layer in layers {
                y = g.add(&format!("{name}.double_conv.{index}"), layer, &[y])?;
                index += 1;
            }
        }
        Ok(y)
    }
}

/// The PyTorch implementation's U-Net: [`UnetConfig::new`]`(in_channels,
/// classes, base, depth)` on `size`×`size` inputs (the paper: base 64, depth 4;
/// 31,037,698 parameters for 3 → 2 channels).
pub fn unet(
    in_channels: usize,
    classes: usize,
    base: usize,
    depth: usize,
    size: usize,
) -> Result<Graph> {
    UnetConfig::new(in_channels, classes, base, depth).build(size)
}
