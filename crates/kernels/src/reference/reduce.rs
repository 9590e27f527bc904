//! Reduction references: sum, mean, max and min over any set of axes, in f64.

use super::RefOut;
use crate::reduce::ReduceOp;

/// Reduces `x` (row-major `shape`) over `axes` (empty: every axis). Outputs
/// follow the kept dimensions in row-major order. Scale: Σ|x| for a sum, Σ|x|/n
/// for a mean, |result| for max and min (which must be exact).
pub fn reduce(x: &[f32], shape: &[usize], axes: &[usize], op: ReduceOp) -> RefOut {
    let rank = shape.len();
    let reduced: Vec<bool> = (0..rank)
        .map(|d| axes.is_empty() || axes.contains(&d))
        .collect();
    let outputs: usize = (0..rank)
        .filter(|&d| !reduced[d])
        .map(|d| shape[d])
        .product();
    let mut sum = vec![0.0f64; outputs];
    let mut mag = vec![0.0f64; outputs];
    let mut count = vec![0usize; outputs];
    let init = match op {
        ReduceOp::Max => f64::NEG_INFINITY,
        ReduceOp::Min => f64::INFINITY,
        _ => 0.0,
    };
    let mut ext = vec![init; outputs];
    let mut coord = vec![0usize; rank];
    for &v in x {
        let mut j = 0usize;
        for d in 0..rank {
            if !reduced[d] {
                j = j * shape[d] + coord[d];
            }
        }
        let v = v as f64;
        sum[j] += v;
        mag[j] += v.abs();
        count[j] += 1;
        ext[j] = match op {
            _ if v.is_nan() || ext[j].is_nan() => f64::NAN,
            ReduceOp::Max => ext[j].max(v),
            ReduceOp::Min => ext[j].min(v),
            _ => 0.0,
        };
        for d in (0..rank).rev() {
            coord[d] += 1;
            if coord[d] < shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    let mut out = RefOut::with_capacity(outputs);
    for j in 0..outputs {
        match op {
            ReduceOp::Sum => out.push(sum[j], mag[j]),
            ReduceOp::Mean => {
                let n = count[j] as f64;
                out.push(sum[j] / n, mag[j] / n);
            }
            ReduceOp::Max | ReduceOp::Min => out.push(ext[j], ext[j].abs()),
        }
    }
    out
}

/// Per-channel sums of an NCHW tensor (the bias gradient).
pub fn channel_sum(x: &[f32], shape: [usize; 4]) -> RefOut {
    reduce(x, &shape, &[0, 2, 3], ReduceOp::Sum)
}
