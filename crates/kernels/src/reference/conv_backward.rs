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
