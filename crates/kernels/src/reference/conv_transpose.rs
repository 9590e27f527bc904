//! Transposed-convolution reference (PyTorch's `ConvTranspose2d`): plain loops
//! over the definition, accumulating in f64.

use super::{RefOut, activation};
use crate::Activation;
use crate::conv::params::ConvTranspose2dGeometry;

/// Calls `f(y_index, x_index, w_index)` for every product `x · w` that the
/// transposed convolution adds into `y`, straight from PyTorch's definition:
/// input pixel `(iy, ix)` of channel `ci` (group `g = ci / (C_in/groups)`)
/// adds `x[n, ci, iy, ix] · w[ci, co, ky, kx]` to output
/// `(iy·sh − ph + ky·dh, ix·sw − pw + kx·dw)` of channel `g·C_out/groups + co`,
/// when that output exists. Indices are flat NCHW / IOHW.
pub fn for_each_term(geo: &ConvTranspose2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
    let cin_g = geo.c_in / geo.groups;
    let cout_g = geo.c_out / geo.groups;
    for n in 0..geo.n {
        for ci in 0..geo.c_in {
            let g = ci / cin_g;
            for iy in 0..geo.h {
                for ix in 0..geo.w {
                    let xi = ((n * geo.c_in + ci) * geo.h + iy) * geo.w + ix;
                    for co in 0..cout_g {
                        let oc = g * cout_g + co;
                        for ky in 0..geo.kh {
                            let oy = (iy * geo.stride[0] + ky * geo.dilation[0]) as isize
                                - geo.padding[0] as isize;
                            if oy < 0 || oy >= geo.oh as isize {
                                continue;
                            }
                            for kx in 0..geo.kw {
                                let ox = (ix * geo.stride[1] + kx * geo.dilation[1]) as isize
                                    - geo.padding[1] as isize;
                                if ox < 0 || ox >= geo.ow as isize {
                                    continue;
                                }
                                let yi = ((n * geo.c_out + oc) * geo.oh + oy as usize) * geo.ow
                                    + ox as usize;
                                let wi = ((ci * cout_g + co) * geo.kh + ky) * geo.kw + kx;
                                f(yi, xi, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The pre-activation output `conv_transpose2d(x, w) + bias` in f64, from f64
/// inputs (for finite-difference checks of the gradients).
pub fn conv_transpose2d_f64(
    geo: &ConvTranspose2dGeometry,
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
) -> Vec<f64> {
    let [n, c, oh, ow] = geo.out_shape();
    let mut y = vec![0.0; n * c * oh * ow];
    for_each_term(geo, |yi, xi, wi| y[yi] += x[xi] * w[wi]);
    if let Some(b) = bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / (oh * ow)) % c];
        }
    }
    y
}

/// Reference `act(conv_transpose2d(x, w) + bias)`. `scale` is
/// `1.13·(Σ|x·w| + |bias|)` plus the activation's own error allowance, as in
/// the GEMM reference (1.13 bounds the slope of every activation weft has).
pub fn conv_transpose2d(
    geo: &ConvTranspose2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
) -> RefOut {
    let [n, c, oh, ow] = geo.out_shape();
    let len = n * c * oh * ow;
    let mut acc = vec![0.0f64; len];
    let mut mag = vec![0.0f64; len];
    for_each_term(geo, |yi, xi, wi| {
        let t = x[xi] as f64 * w[wi] as f64;
        acc[yi] += t;
        mag[yi] += t.abs();
    });
    let mut out = RefOut::with_capacity(len);
    for i in 0..len {
        let b = bias.map_or(0.0, |b| b[(i / (oh * ow)) % c] as f64);
        let v = acc[i] + b;
        let y = activation::forward(act, v);
        out.push(
            y,
            1.13 * (mag[i] + b.abs()) + activation::error_scale(act, v, y),
        );
    }
    out
}

/// The value and scale of [`conv_transpose2d`]'s output element `index`
/// (flat NCHW) alone, gathered from the inputs that land on it: for checking
/// samples of outputs too large to compute whole.
pub fn conv_transpose2d_at(
    geo: &ConvTranspose2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    index: usize,
) -> (f64, f64) {
    let (oh, ow) = (geo.oh, geo.ow);
    let (n, co, oy, ox) = (
        index / (geo.c_out * oh * ow),
        (index / (oh * ow)) % geo.c_out,
        (index / ow) % oh,
        index % ow,
    );
    let cout_g = geo.c_out / geo.groups;
    let cin_g = geo.c_in / geo.groups;
    let (group, cog) = (co / cout_g, co % cout_g);
    let (sh, sw) = (geo.stride[0] as isize, geo.stride[1] as isize);
    let (mut acc, mut mag) = (0.0f64, 0.0f64);
    for cig in 0..cin_g {
        let ci = group * cin_g + cig;
        for ky in 0..geo.kh {
            let ty = oy as isize + geo.padding[0] as isize - (ky * geo.dilation[0]) as isize;
            if ty < 0 || ty % sh != 0 || ty / sh >= geo.h as isize {
                continue;
            }
            let iy = (ty / sh) as usize;
            for kx in 0..geo.kw {
                let tx = ox as isize + geo.padding[1] as isize - (kx * geo.dilation[1]) as isize;
                if tx < 0 || tx % sw != 0 || tx / sw >= geo.w as isize {
                    continue;
                }
                let ix = (tx / sw) as usize;
                let t = x[((n * geo.c_in + ci) * geo.h + iy) * geo.w + ix] as f64
                    * w[((ci * cout_g + cog) * geo.kh + ky) * geo.kw + kx] as f64;
                acc += t;
                mag += t.abs();
            }
        }
    }
    let b = bias.map_or(0.0, |b| b[co] as f64);
    let v = acc + b;
    let y = activation::forward(act, v);
    (
        y,
        1.13 * (mag + b.abs()) + activation::error_scale(act, v, y),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::params::ConvTranspose2dParams;

    #[test]
    fn gathered_outputs_match_the_scattered_whole() {
        let params = ConvTranspose2dParams {
            stride: [2, 3],
            padding: [1, 0],
            output_padding: [1, 2],
            dilation: [1, 2],
            groups: 2,
        };
        let geo = ConvTranspose2dGeometry::new("t", &[2, 4, 3, 4], &[4, 3, 3, 2], &params).unwrap();
        let x: Vec<f32> = (0..96).map(|v| ((v * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let w: Vec<f32> = (0..72).map(|v| ((v * 5 % 13) as f32 - 6.0) / 4.0).collect();
        let b: Vec<f32> = (0..6).map(|v| v as f32 - 2.5).collect();
        let all = conv_transpose2d(&geo, &x, &w, Some(&b), Activation::Relu);
        for i in 0..all.len() {
            let (v, s) = conv_transpose2d_at(&geo, &x, &w, Some(&b), Activation::Relu, i);
            assert!(
                (v - all.value[i]).abs() <= 1e-12 * s,
                "element {i}: {v} vs {}",
                all.value[i]
            );
            assert!((s - all.scale[i]).abs() <= 1e-12 * s, "element {i}");
        }
    }
}
