//! Channel concatenation and split references: plain copies (exact, so
//! `scale = |value|` and comparisons are bit-for-bit).

use super::RefOut;

/// Concatenates tensors along dim 1. Each input is `(data, shape)`; shapes
/// agree outside dim 1. Generic over the element type (f32 data, i32 bits, ...).
pub fn concat_channels_data<T: Copy>(xs: &[(&[T], &[usize])]) -> Vec<T> {
    let (_, first) = xs[0];
    let batch = first[0];
    let inner: usize = first[2..].iter().product();
    let mut out = Vec::new();
    for b in 0..batch {
        for (data, shape) in xs {
            let len = shape[1] * inner;
            out.extend_from_slice(&data[b * len..(b + 1) * len]);
        }
    }
    out
}

/// [`concat_channels_data`] of float data as a reference result.
pub fn concat_channels(xs: &[(&[f32], &[usize])]) -> RefOut {
    exact(&concat_channels_data(xs))
}

/// Splits `x` (`shape`) along dim 1 into pieces of `sizes` channels.
pub fn split_channels_data<T: Copy>(x: &[T], shape: &[usize], sizes: &[usize]) -> Vec<Vec<T>> {
    let batch = shape[0];
    let inner: usize = shape[2..].iter().product();
    let total = shape[1] * inner;
    let mut offset = 0;
    sizes
        .iter()
        .map(|&s| {
            let len = s * inner;
            let piece = (0..batch)
                .flat_map(|b| {
                    x[b * total + offset..b * total + offset + len]
                        .iter()
                        .copied()
                })
                .collect();
            offset += len;
            piece
        })
        .collect()
}

/// [`split_channels_data`] of float data as reference results.
pub fn split_channels(x: &[f32], shape: &[usize], sizes: &[usize]) -> Vec<RefOut> {
    split_channels_data(x, shape, sizes)
        .iter()
        .map(|piece| exact(piece))
        .collect()
}

fn exact(values: &[f32]) -> RefOut {
    let mut out = RefOut::with_capacity(values.len());
    for &v in values {
        out.push(v as f64, (v as f64).abs());
    }
    out
}
