//! f64 references of the image filters.

use crate::filter::{Border, Rank};

/// The index position `i` of an axis of `size` reads, if any.
pub fn border_index(i: i64, size: i64, border: Border) -> Option<usize> {
    if (0..size).contains(&i) {
        return Some(i as usize);
    }
    match border {
        Border::Zero => None,
        Border::Replicate => Some(i.clamp(0, size - 1) as usize),
        Border::Reflect101 if size == 1 => Some(0),
        Border::Reflect101 => {
            let period = 2 * (size - 1);
            let mut m = i.rem_euclid(period);
            if m >= size {
                m = period - m;
            }
            Some(m as usize)
        }
    }
}

/// Correlation of `planes` planes of `h × w` with a `kh × kw` kernel:
/// (values, Σ|terms| per output).
pub fn correlate(
    x: &[f32],
    planes: usize,
    [h, w]: [usize; 2],
    weights: &[f32],
    [kh, kw]: [usize; 2],
    border: Border,
) -> (Vec<f64>, Vec<f64>) {
    let (mut value, mut scale) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    for p in 0..planes {
        for y in 0..h {
            for xx in 0..w {
                let (mut s, mut m) = (0.0f64, 0.0f64);
                for dy in 0..kh {
                    let Some(sy) =
                        border_index((y + dy) as i64 - (kh / 2) as i64, h as i64, border)
                    else {
                        continue;
                    };
                    for dx in 0..kw {
                        let Some(sx) =
                            border_index((xx + dx) as i64 - (kw / 2) as i64, w as i64, border)
                        else {
                            continue;
                        };
                        let t = weights[dy * kw + dx] as f64 * x[(p * h + sy) * w + sx] as f64;
                        s += t;
                        m += t.abs();
                    }
                }
                value[(p * h + y) * w + xx] = s;
                scale[(p * h + y) * w + xx] = m;
            }
        }
    }
    (value, scale)
}

/// A rank filter over `(2r+1)²` windows (exact).
pub fn rank(
    x: &[f32],
    planes: usize,
    [h, w]: [usize; 2],
    radius: usize,
    which: Rank,
    border: Border,
) -> Vec<f32> {
    let k = 2 * radius + 1;
    let mut out = vec![0.0; x.len()];
    for p in 0..planes {
        for y in 0..h {
            for xx in 0..w {
                let mut window: Vec<f32> = Vec::with_capacity(k * k);
                for dy in 0..k {
                    for dx in 0..k {
                        let sy = border_index((y + dy) as i64 - radius as i64, h as i64, border);
                        let sx = border_index((xx + dx) as i64 - radius as i64, w as i64, border);
                        window.push(match (sy, sx) {
                            (Some(sy), Some(sx)) => x[(p * h + sy) * w + sx],
                            _ => 0.0,
                        });
                    }
                }
                window.sort_by(f32::total_cmp);
                out[(p * h + y) * w + xx] = match which {
                    Rank::Min => window[0],
                    Rank::Median => window[k * k / 2],
                    Rank::Max => window[k * k - 1],
                };
            }
        }
    }
    out
}
