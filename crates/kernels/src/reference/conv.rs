//! conv2d reference: y = act(conv2d(x, w) + bias), PyTorch semantics, in f64.

use super::RefOut;
use super::activation;
use crate::Activation;
use crate::conv::params::Conv2dGeometry;

/// Reference conv2d over NCHW `x`, OIHW `w` and `[C_out]` bias, laid out as
/// `geo` describes. `scale` is Σ|x·w| over the receptive field plus |bias|,
/// propagated through the activation like [`super::gemm::gemm`] does (slope
/// bound 1.13, plus the activation's own error allowance).
pub fn conv2d(
    geo: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
) -> RefOut {
    let mut out = RefOut::with_capacity(geo.n * geo.c_out * geo.oh * geo.ow);
    for_each_output(geo, |img, co, oy, ox| {
        let (y, scale) = output(geo, x, w, bias, act, [img, co, oy, ox]);
        out.push(y, scale);
    });
    out
}

/// The value and scale of [`conv2d`]'s output element `index` (flat NCHW)
/// alone, for checking samples of outputs too large to compute whole.
pub fn conv2d_at(
    geo: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    index: usize,
) -> (f64, f64) {
    let (oh, ow) = (geo.oh, geo.ow);
    let at = [
        index / (geo.c_out * oh * ow),
        (index / (oh * ow)) % geo.c_out,
        (index / ow) % oh,
        index % ow,
    ];
    output(geo, x, w, bias, act, at)
}

fn output(
    geo: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    [img, co, oy, ox]: [usize; 4],
) -> (f64, f64) {
    let mut acc = 0.0f64;
    let mut mag = 0.0f64;
    for_each_tap(geo, img, co, oy, ox, |xi, wi| {
        let prod = x[xi] as f64 * w[wi] as f64;
        acc += prod;
        mag += prod.abs();
    });
    if let Some(b) = bias {
        acc += b[co] as f64;
        mag += (b[co] as f64).abs();
    }
    let y = activation::forward(act, acc);
    (y, 1.13 * mag + activation::error_scale(act, acc, y))
}

/// The scale of the Winograd F(2x2, 3x3) computation of each output, for
/// bounding its rounding error: Σ over input channels and the 16 transform
/// points ξ of |Aξ|·|U|ξ·|V|ξ, where |U|ξ = (|G| |g| |G|ᵀ)ξ and |V|ξ =
/// (|Bᵀ| |d| |B|)ξ are the transforms of the absolute weights and input tile
/// and |Aξ| the output transform's coefficient magnitudes, plus |bias|, through
/// the activation as in [`conv2d`]. Every rounding the algorithm makes (in the
/// transforms, the products, the sums and the storage of the intermediates) is
/// relative to a partial sum bounded by this scale, which can exceed the
/// direct convolution's Σ|x·w| because the transforms mix neighbouring taps.
/// Needs a 3x3 kernel, stride 1, dilation 1, groups 1.
pub fn winograd_scale(
    geo: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
) -> Vec<f64> {
    assert!(
        geo.kh == 3
            && geo.kw == 3
            && geo.stride == [1, 1]
            && geo.dilation == [1, 1]
            && geo.groups == 1,
        "winograd_scale needs a 3x3, stride 1, dilation 1, ungrouped convolution"
    );
    const G: [[f64; 3]; 4] = WINOGRAD_G_ABS;
    const BT: [[f64; 4]; 4] = WINOGRAD_BT_ABS;
    const AT: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]];
    // |U| for every (co, ci): 16 values.
    let u_abs: Vec<[f64; 16]> = (0..geo.c_out * geo.c_in)
        .map(|pair| {
            let g = &w[pair * 9..pair * 9 + 9];
            let mut u = [0.0; 16];
            for (a, ga) in G.iter().enumerate() {
                for (b, gb) in G.iter().enumerate() {
                    let mut s = 0.0;
                    for r in 0..3 {
                        for c in 0..3 {
                            s += ga[r] * gb[c] * (g[r * 3 + c] as f64).abs();
                        }
                    }
                    u[a * 4 + b] = s;
                }
            }
            u
        })
        .collect();
    let mut scale = Vec::with_capacity(geo.n * geo.c_out * geo.oh * geo.ow);
    for_each_output(geo, |img, co, oy, ox| {
        let mut acc = 0.0f64;
        for_each_tap(geo, img, co, oy, ox, |xi, wi| {
            acc += x[xi] as f64 * w[wi] as f64
        });
        // The output lies in tile (oy/2, ox/2) at position (oy%2, ox%2).
        let (ty, tx) = (oy / 2, ox / 2);
        let (ry, rx) = (oy % 2, ox % 2);
        let mut s = 0.0;
        for ci in 0..geo.c_in {
            // |d| of the tile.
            let mut d = [0.0f64; 16];
            for r in 0..4 {
                for c in 0..4 {
                    let iy = (2 * ty + r) as isize - geo.pad[0] as isize;
                    let ix = (2 * tx + c) as isize - geo.pad[1] as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < geo.h && (ix as usize) < geo.w {
                        let xi =
                            ((img * geo.c_in + ci) * geo.h + iy as usize) * geo.w + ix as usize;
                        d[r * 4 + c] = (x[xi] as f64).abs();
                    }
                }
            }
            let u = &u_abs[co * geo.c_in + ci];
            for a in 0..4 {
                for b in 0..4 {
                    let coef = AT[ry][a] * AT[rx][b];
                    if coef == 0.0 {
                        continue;
                    }
                    let mut v = 0.0;
                    for r in 0..4 {
                        for c in 0..4 {
                            v += BT[a][r] * BT[b][c] * d[r * 4 + c];
                        }
                    }
                    s += coef * u[a * 4 + b] * v;
                }
            }
        }
        let b = bias.map_or(0.0, |b| b[co] as f64);
        acc += b;
        let y = activation::forward(act, acc);
        scale.push(1.13 * (s + b.abs()) + activation::error_scale(act, acc, y));
    });
    scale
}

/// |G| of Winograd F(2x2, 3x3)'s weight transform `G g Gᵀ`.
pub(super) const WINOGRAD_G_ABS: [[f64; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, 0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// |Bᵀ| of Winograd F(2x2, 3x3)'s input transform `Bᵀ d B`.
pub(super) const WINOGRAD_BT_ABS: [[f64; 4]; 4] = [
    [1.0, 0.0, 1.0, 0.0],
    [0.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, 0.0, 1.0],
];

/// Calls `f(img, co, oy, ox)` for every output in NCHW order.
fn for_each_output(geo: &Conv2dGeometry, mut f: impl FnMut(usize, usize, usize, usize)) {
    for img in 0..geo.n {
        for co in 0..geo.c_out {
            for oy in 0..geo.oh {
                for ox in 0..geo.ow {
                    f(img, co, oy, ox);
                }
            }
        }
    }
}

/// Calls `f(x index, w index)` for every tap of output (img, co, oy, ox) that
/// falls inside the input (padding taps contribute nothing).
fn for_each_tap(
    geo: &Conv2dGeometry,
    img: usize,
    co: usize,
    oy: usize,
    ox: usize,
    mut f: impl FnMut(usize, usize),
) {
    let cin_g = geo.cin_g();
    let g = co / geo.cout_g();
    for ci in 0..cin_g {
        let chan = g * cin_g + ci;
        for ky in 0..geo.kh {
            let iy = (oy * geo.stride[0] + ky * geo.dilation[0]) as isize - geo.pad[0] as isize;
            if iy < 0 || iy as usize >= geo.h {
                continue;
            }
            for kx in 0..geo.kw {
                let ix = (ox * geo.stride[1] + kx * geo.dilation[1]) as isize - geo.pad[1] as isize;
                if ix < 0 || ix as usize >= geo.w {
                    continue;
                }
                let xi = ((img * geo.c_in + chan) * geo.h + iy as usize) * geo.w + ix as usize;
                let wi = ((co * cin_g + ci) * geo.kh + ky) * geo.kw + kx;
                f(xi, wi);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::params::{Conv2dParams, Padding};

    #[test]
    fn matches_a_hand_computed_convolution() {
        // 1 image, 1 channel 3x3, kernel 2x2 of ones, padding 1 on each side.
        let p = Conv2dParams {
            padding: Padding::Explicit([1, 1]),
            ..Default::default()
        };
        let geo = Conv2dGeometry::new("conv2d", &[1, 1, 3, 3], &[1, 1, 2, 2], &p).unwrap();
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let r = conv2d(&geo, &x, &[1.0; 4], Some(&[0.5]), Activation::None);
        assert_eq!((geo.oh, geo.ow), (4, 4));
        // Corners see one input, edges two, the middle four.
        assert_eq!(r.value[0], 1.5);
        assert_eq!(r.value[1], 1.0 + 2.0 + 0.5);
        assert_eq!(r.value[5], 1.0 + 2.0 + 4.0 + 5.0 + 0.5);
        assert_eq!(r.value[15], 9.5);
    }

    #[test]
    fn single_outputs_match_the_whole() {
        let p = Conv2dParams {
            stride: [2, 1],
            padding: Padding::Explicit([1, 2]),
            groups: 2,
            ..Default::default()
        };
        let geo = Conv2dGeometry::new("conv2d", &[2, 4, 5, 6], &[6, 2, 3, 2], &p).unwrap();
        let x: Vec<f32> = (0..240)
            .map(|v| ((v * 7 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let w: Vec<f32> = (0..72).map(|v| ((v * 5 % 13) as f32 - 6.0) / 4.0).collect();
        let b = [0.5, -1.0, 2.0, 0.0, 1.0, -0.5];
        let all = conv2d(&geo, &x, &w, Some(&b), Activation::Gelu);
        for i in 0..all.len() {
            let (v, s) = conv2d_at(&geo, &x, &w, Some(&b), Activation::Gelu, i);
            assert_eq!((v, s), (all.value[i], all.scale[i]), "element {i}");
        }
    }

    #[test]
    fn groups_and_stride_select_the_right_taps() {
        // Depthwise 2 channels, stride 2, 1x1 kernel: y[c] = w[c] * x[c, ::2, ::2].
        let p = Conv2dParams {
            stride: [2, 2],
            groups: 2,
            ..Default::default()
        };
        let geo = Conv2dGeometry::new("conv2d", &[1, 2, 3, 3], &[2, 1, 1, 1], &p).unwrap();
        let x: Vec<f32> = (0..18).map(|v| v as f32).collect();
        let r = conv2d(&geo, &x, &[2.0, -1.0], None, Activation::Relu);
        assert_eq!(r.value, vec![0.0, 4.0, 12.0, 16.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn winograd_scale_bounds_the_direct_scale() {
        let p = Conv2dParams {
            padding: Padding::Same,
            ..Default::default()
        };
        let geo = Conv2dGeometry::new("conv2d", &[1, 2, 5, 4], &[3, 2, 3, 3], &p).unwrap();
        let x: Vec<f32> = (0..40).map(|v| ((v * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let w: Vec<f32> = (0..54).map(|v| ((v * 5 % 13) as f32 - 6.0) / 4.0).collect();
        let r = conv2d(&geo, &x, &w, None, Activation::None);
        let s = winograd_scale(&geo, &x, &w, None, Activation::None);
        for (a, b) in s.iter().zip(&r.scale) {
            assert!(*a >= *b - 1e-9, "winograd scale {a} below direct scale {b}");
        }
    }
}
