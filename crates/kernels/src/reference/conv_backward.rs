//! References for the gradients of conv2d and conv_transpose2d: every gradient
//! is accumulated term by term from the forward definition (each product the
//! forward pass adds into `y` sends `dy` back to both of its factors), in f64.
//! `scale` is Σ|terms| of each gradient element.
//!
//! [`conv2d_f64`] and [`super::conv_transpose::conv_transpose2d_f64`] are the
//! f64 forward passes that the finite-difference checks differentiate.

use super::RefOut;
use super::conv_transpose::for_each_term as for_each_transposed_term;
use crate::conv::params::{Conv2dGeometry, ConvTranspose2dGeometry};

/// Calls `f(y_index, x_index, w_index)` for every product `x · w` that conv2d
/// adds into `y` (PyTorch's cross-correlation): output `(oy, ox)` of channel
/// `co` (group `g = co / (C_out/groups)`) adds `w[co, ci, ky, kx] ·
/// x[n, g·C_in/groups + ci, oy·sh − pt + ky·dh, ox·sw − pl + kx·dw]` for taps
/// inside the input (`pt`, `pl`: top and left padding). Flat NCHW / OIHW indices.
pub fn for_each_conv2d_term(geo: &Conv2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
    let cin_g = geo.cin_g();
    let cout_g = geo.cout_g();
    for n in 0..geo.n {
        for co in 0..geo.c_out {
            let g = co / cout_g;
            for oy in 0..geo.oh {
                for ox in 0..geo.ow {
                    let yi = ((n * geo.c_out + co) * geo.oh + oy) * geo.ow + ox;
                    for ci in 0..cin_g {
                        let c = g * cin_g + ci;
                        for ky in 0..geo.kh {
                            let iy = (oy * geo.stride[0] + ky * geo.dilation[0]) as isize
                                - geo.pad[0] as isize;
                            if iy < 0 || iy >= geo.h as isize {
                                continue;
                            }
                            for kx in 0..geo.kw {
                                let ix = (ox * geo.stride[1] + kx * geo.dilation[1]) as isize
                                    - geo.pad[1] as isize;
                                if ix < 0 || ix >= geo.w as isize {
                                    continue;
                                }
                                let xi = ((n * geo.c_in + c) * geo.h + iy as usize) * geo.w
                                    + ix as usize;
                                let wi = ((co * cin_g + ci) * geo.kh + ky) * geo.kw + kx;
                                f(yi, xi, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `conv2d(x, w) + bias` in f64, from f64 inputs (for finite-difference checks;
/// independent of the forward kernels' own reference).
pub fn conv2d_f64(geo: &Conv2dGeometry, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let [n, c, oh, ow] = geo.out_shape();
    let mut y = vec![0.0; n * c * oh * ow];
    for_each_conv2d_term(geo, |yi, xi, wi| y[yi] += x[xi] * w[wi]);
    if let Some(b) = bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / (oh * ow)) % c];
        }
    }
    y
}

/// Sums `a[ia] · b[ib]` into element `k` for every `(k, ia, ib)` that `visit` yields.
fn accumulate(len: usize, visit: impl FnOnce(&mut dyn FnMut(usize, f64))) -> RefOut {
    let mut value = vec![0.0f64; len];
    let mut scale = vec![0.0f64; len];
    visit(&mut |k, t| {
        value[k] += t;
        scale[k] += t.abs();
    });
    RefOut { value, scale }
}

fn numel(shape: [usize; 4]) -> usize {
    shape.iter().product()
}

/// dx of `y = conv2d(x, w)` given dy.
pub fn conv2d_backward_data(geo: &Conv2dGeometry, dy: &[f32], w: &[f32]) -> RefOut {
    accumulate(numel(geo.in_shape()), |add| {
        for_each_conv2d_term(geo, |yi, xi, wi| add(xi, dy[yi] as f64 * w[wi] as f64));
    })
}

/// dw (OIHW) of `y = conv2d(x, w)` given x and dy.
pub fn conv2d_backward_weight(geo: &Conv2dGeometry, x: &[f32], dy: &[f32]) -> RefOut {
    accumulate(numel(geo.weight_shape()), |add| {
        for_each_conv2d_term(geo, |yi, xi, wi| add(wi, dy[yi] as f64 * x[xi] as f64));
    })
}

/// dw element `index` (flat OIHW) of `y = conv2d(x, w)` alone, with its
/// scale: for checking samples of gradients too large to compute whole.
pub fn conv2d_backward_weight_at(
    geo: &Conv2dGeometry,
    x: &[f32],
    dy: &[f32],
    index: usize,
) -> (f64, f64) {
    let (cin_g, cout_g) = (geo.cin_g(), geo.cout_g());
    let (kx, ky) = (index % geo.kw, (index / geo.kw) % geo.kh);
    let (ci, co) = (
        (index / (geo.kw * geo.kh)) % cin_g,
        index / (geo.kw * geo.kh * cin_g),
    );
    let c = co / cout_g * cin_g + ci;
    let (mut acc, mut mag) = (0.0f64, 0.0f64);
    for n in 0..geo.n {
        for oy in 0..geo.oh {
            let iy = (oy * geo.stride[0] + ky * geo.dilation[0]) as isize - geo.pad[0] as isize;
            if iy < 0 || iy >= geo.h as isize {
                continue;
            }
            for ox in 0..geo.ow {
                let ix = (ox * geo.stride[1] + kx * geo.dilation[1]) as isize - geo.pad[1] as isize;
                if ix < 0 || ix >= geo.w as isize {
                    continue;
                }
                let t = x[((n * geo.c_in + c) * geo.h + iy as usize) * geo.w + ix as usize] as f64
                    * dy[((n * geo.c_out + co) * geo.oh + oy) * geo.ow + ox] as f64;
                acc += t;
                mag += t.abs();
            }
        }
    }
    (acc, mag)
}

/// dx element `index` (flat NCHW) of `y = conv2d(x, w)` alone, with its
/// scale, gathered over the outputs whose taps read it.
pub fn conv2d_backward_data_at(
    geo: &Conv2dGeometry,
    dy: &[f32],
    w: &[f32],
    index: usize,
) -> (f64, f64) {
    let (h, wd) = (geo.h, geo.w);
    let (n, c, iy, ix) = (
        index / (geo.c_in * h * wd),
        (index / (h * wd)) % geo.c_in,
        (index / wd) % h,
        index % wd,
    );
    let (cin_g, cout_g) = (geo.cin_g(), geo.cout_g());
    let (g, ci) = (c / cin_g, c % cin_g);
    let (mut acc, mut mag) = (0.0f64, 0.0f64);
    for cog in 0..cout_g {
        let co = g * cout_g + cog;
        for ky in 0..geo.kh {
            let ty = (iy + geo.pad[0]) as isize - (ky * geo.dilation[0]) as isize;
            let sh = geo.stride[0] as isize;
            if ty < 0 || ty % sh != 0 || ty / sh >= geo.oh as isize {
                continue;
            }
            for kx in 0..geo.kw {
                let tx = (ix + geo.pad[1]) as isize - (kx * geo.dilation[1]) as isize;
                let sw = geo.stride[1] as isize;
                if tx < 0 || tx % sw != 0 || tx / sw >= geo.ow as isize {
                    continue;
                }
                let (oy, ox) = ((ty / sh) as usize, (tx / sw) as usize);
                let t = dy[((n * geo.c_out + co) * geo.oh + oy) * geo.ow + ox] as f64
                    * w[((co * cin_g + ci) * geo.kh + ky) * geo.kw + kx] as f64;
                acc += t;
                mag += t.abs();
            }
        }
    }
    (acc, mag)
}

/// db of `y = conv2d(x, w) + b`: dy summed over N, OH, OW.
pub fn conv2d_backward_bias(geo: &Conv2dGeometry, dy: &[f32]) -> RefOut {
    let [n, c, oh, ow] = geo.out_shape();
    accumulate(c, |add| {
        for (i, &v) in dy.iter().enumerate().take(n * c * oh * ow) {
            add((i / (oh * ow)) % c, v as f64);
        }
    })
}

/// dx of `y = conv_transpose2d(x, w)` given dy.
pub fn conv_transpose2d_backward_data(
    geo: &ConvTranspose2dGeometry,
    dy: &[f32],
    w: &[f32],
) -> RefOut {
    accumulate(geo.n * geo.c_in * geo.h * geo.w, |add| {
        for_each_transposed_term(geo, |yi, xi, wi| add(xi, dy[yi] as f64 * w[wi] as f64));
    })
}

/// dw (IOHW) of `y = conv_transpose2d(x, w)` given x and dy.
pub fn conv_transpose2d_backward_weight(
    geo: &ConvTranspose2dGeometry,
    x: &[f32],
    dy: &[f32],
) -> RefOut {
    accumulate(numel(geo.weight_shape()), |add| {
        for_each_transposed_term(geo, |yi, xi, wi| add(wi, x[xi] as f64 * dy[yi] as f64));
    })
}

/// The scale of the Winograd F(2x2, 3x3) weight gradient of `wg` (A and B
/// as [`WeightGrad`] names them), in dW's layout: Σ over every tile of
/// `|G|ᵀ (|A| |A_tile| |A|ᵀ ⊙ |B|ᵀ |B_tile| |B|) |G|`, the sum of the
/// magnitudes of every term the algorithm adds (transforms, products, the
/// reduction over tiles, the final transform), times a margin for the
/// transforms' own roundings. It exceeds direct summation's Σ|a·b| because
/// the transforms mix neighbouring taps. Needs a 3x3 kernel at stride 1 and
/// dilation 1, one group.
///
/// [`WeightGrad`]: crate::conv::backward::weight::WeightGrad
pub fn winograd_weight_scale(
    wg: &crate::conv::backward::weight::WeightGrad,
    a: &[f32],
    b: &[f32],
) -> Vec<f64> {
    assert!(
        wg.kh == 3 && wg.kw == 3 && wg.stride == [1, 1] && wg.dilation == [1, 1] && wg.groups == 1,
        "winograd_weight_scale needs a 3x3, stride 1, dilation 1, ungrouped problem"
    );
    use super::conv::{WINOGRAD_BT_ABS as BT, WINOGRAD_G_ABS as G};
    // |A| (4 x 2): the adjoint of the output transform.
    const A: [[f64; 2]; 4] = [[1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 1.0]];
    let (th, tw) = (wg.a_h.div_ceil(2), wg.a_w.div_ceil(2));
    let mut scale = vec![0.0f64; wg.a_c * wg.b_c * 9];
    for img in 0..wg.n {
        for ty in 0..th {
            for tx in 0..tw {
                // |M| of every A channel's 2x2 tile, |V| of every B channel's 4x4.
                let m: Vec<[f64; 16]> = (0..wg.a_c)
                    .map(|ch| {
                        let mut t = [[0.0f64; 2]; 2];
                        for (i, row) in t.iter_mut().enumerate() {
                            for (j, v) in row.iter_mut().enumerate() {
                                let (y, x) = (2 * ty + i, 2 * tx + j);
                                if y < wg.a_h && x < wg.a_w {
                                    let k = ((img * wg.a_c + ch) * wg.a_h + y) * wg.a_w + x;
                                    *v = (a[k] as f64).abs();
                                }
                            }
                        }
                        let mut out = [0.0; 16];
                        for r in 0..4 {
                            for c in 0..4 {
                                out[r * 4 + c] = (0..2)
                                    .flat_map(|i| (0..2).map(move |j| (i, j)))
                                    .map(|(i, j)| A[r][i] * A[c][j] * t[i][j])
                                    .sum();
                            }
                        }
                        out
                    })
                    .collect();
                let v: Vec<[f64; 16]> = (0..wg.b_c)
                    .map(|ch| {
                        let mut d = [[0.0f64; 4]; 4];
                        for (i, row) in d.iter_mut().enumerate() {
                            for (j, v) in row.iter_mut().enumerate() {
                                let y = (2 * ty + i) as isize - wg.pad[0] as isize;
                                let x = (2 * tx + j) as isize - wg.pad[1] as isize;
                                if y >= 0
                                    && x >= 0
                                    && (y as usize) < wg.b_h
                                    && (x as usize) < wg.b_w
                                {
                                    let k = ((img * wg.b_c + ch) * wg.b_h + y as usize) * wg.b_w
                                        + x as usize;
                                    *v = (b[k] as f64).abs();
                                }
                            }
                        }
                        let mut out = [0.0; 16];
                        for r in 0..4 {
                            for c in 0..4 {
                                out[r * 4 + c] = (0..4)
                                    .flat_map(|i| (0..4).map(move |j| (i, j)))
                                    .map(|(i, j)| BT[r][i] * BT[c][j] * d[i][j])
                                    .sum();
                            }
                        }
                        out
                    })
                    .collect();
                for (ac, m) in m.iter().enumerate() {
                    for (bc, v) in v.iter().enumerate() {
                        let s = &mut scale[(ac * wg.b_c + bc) * 9..][..9];
                        for xi in 0..16 {
                            let prod = m[xi] * v[xi];
                            if prod == 0.0 {
                                continue;
                            }
                            let (r, c) = (xi / 4, xi % 4);
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    s[ky * 3 + kx] += G[r][ky] * G[c][kx] * prod;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    scale.iter().map(|s| 1.13 * s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::params::{Conv2dParams, Padding};

    #[test]
    fn single_gradient_elements_match_the_whole() {
        // Strided with explicit padding; 'same' with an even kernel (asymmetric).
        let strided = Conv2dParams {
            stride: [2, 1],
            padding: Padding::Explicit([1, 2]),
            dilation: [1, 2],
            groups: 2,
        };
        let same = Conv2dParams {
            padding: Padding::Same,
            groups: 2,
            ..Default::default()
        };
        for p in [strided, same] {
            let geo = Conv2dGeometry::new("t", &[2, 4, 7, 6], &[6, 2, 3, 2], &p).unwrap();
            let x: Vec<f32> = (0..336)
                .map(|v| ((v * 7 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let w: Vec<f32> = (0..72).map(|v| ((v * 5 % 13) as f32 - 6.0) / 4.0).collect();
            let dy: Vec<f32> = (0..geo.out_shape().iter().product::<usize>())
                .map(|v| ((v * 3 % 7) as f32 - 3.0) / 2.0)
                .collect();
            let dw = conv2d_backward_weight(&geo, &x, &dy);
            for i in 0..dw.len() {
                let (v, s) = conv2d_backward_weight_at(&geo, &x, &dy, i);
                assert!((v - dw.value[i]).abs() <= 1e-12 * s.max(1.0), "dw {i}");
                assert!(
                    (s - dw.scale[i]).abs() <= 1e-12 * s.max(1.0),
                    "dw scale {i}"
                );
            }
            let dx = conv2d_backward_data(&geo, &dy, &w);
            for i in 0..dx.len() {
                let (v, s) = conv2d_backward_data_at(&geo, &dy, &w, i);
                assert!((v - dx.value[i]).abs() <= 1e-12 * s.max(1.0), "dx {i}");
                assert!(
                    (s - dx.scale[i]).abs() <= 1e-12 * s.max(1.0),
                    "dx scale {i}"
                );
            }
        }
    }
}
