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
