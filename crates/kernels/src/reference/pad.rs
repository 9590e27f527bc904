//! f64 references of padding: the forward as a gather, the gradient as a
//! scatter of every output to the input it reads (the kernels gather instead).

use crate::pad::{PadMode, Pads};

use super::RefOut;

/// The input index padded index `s` reads on an axis of `size`, if any.
fn source(s: i64, size: i64, mode: PadMode) -> Option<usize> {
    let i = if (0..size).contains(&s) {
        s
    } else {
        match mode {
            PadMode::Constant(_) => return None,
            PadMode::Reflect if s < 0 => -s,
            PadMode::Reflect => 2 * (size - 1) - s,
            PadMode::Edge => s.clamp(0, size - 1),
        }
    };
    Some(i as usize)
}

/// `x` (`shape`) padded by `pads` to `out_hw`; exact.
pub fn pad2d<T: Copy + Into<f64>>(
    x: &[T],
    shape: [usize; 4],
    out_hw: [usize; 2],
    pads: Pads,
    mode: PadMode,
) -> RefOut {
    let [n, c, h, w] = shape;
    let [oh, ow] = out_hw;
    let mut out = RefOut::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        for oy in 0..oh {
            let sy = source(oy as i64 - pads[0], h as i64, mode);
            for ox in 0..ow {
                let sx = source(ox as i64 - pads[2], w as i64, mode);
                let v = match (sy, sx, mode) {
                    (Some(y), Some(x_), _) => x[(plane * h + y) * w + x_].into(),
                    (_, _, PadMode::Constant(v)) => v as f64,
                    _ => unreachable!("only constant padding reads outside"),
                };
                out.push(v, v.abs());
            }
        }
    }
    out
}

/// Gradient of [`pad2d`] for an input of `input_shape`; `scale = Σ|terms|`.
pub fn pad2d_backward<T: Copy + Into<f64>>(
    dy: &[T],
    input_shape: [usize; 4],
    out_hw: [usize; 2],
    pads: Pads,
    mode: PadMode,
) -> RefOut {
    let [n, c, h, w] = input_shape;
    let [oh, ow] = out_hw;
    let mut value = vec![0.0; n * c * h * w];
    let mut scale = vec![0.0; n * c * h * w];
    for plane in 0..n * c {
        for oy in 0..oh {
            let Some(sy) = source(oy as i64 - pads[0], h as i64, mode) else {
                continue;
            };
            for ox in 0..ow {
                let Some(sx) = source(ox as i64 - pads[2], w as i64, mode) else {
                    continue;
                };
                let g: f64 = dy[(plane * oh + oy) * ow + ox].into();
                value[(plane * h + sy) * w + sx] += g;
                scale[(plane * h + sy) * w + sx] += g.abs();
            }
        }
    }
    RefOut { value, scale }
}
