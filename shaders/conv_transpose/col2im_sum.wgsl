// The col2im gather shared by col2im.wgsl and col2im_f16p.wgsl: the sum, over
// the taps (ky, kx) through which some input pixel (iy, ix) lands on output
// (oy, ox), of the f32 columns of the current chunk. Fixed tap order, no
// atomics. `cols` is declared by the including body (binding 1).
// The strides are also override constants when the launcher sets them: a
// division by a constant is a multiply and a shift, where a division by a
// uniform is a scalar loop per lane on CPU backends.
// Includes (before this file): grid, conv_transpose/params.

// The strides, or 0 to read them from the parameters.
override STRIDE_H: u32 = 0u;
override STRIDE_W: u32 = 0u;

// Sum for output pixel (oy, ox) of channel oc of chunk image img.
fn col2im_sum(img: u32, oc: u32, oy: u32, ox: u32) -> f32 {
    let g = oc / p.cout_g;
    let ocl = oc % p.cout_g;
    let rows = p.cout_g * p.kh * p.kw;
    let cols_n = p.col_rs;
    let base = img * p.col_is + (g * rows + ocl * p.kh * p.kw) * cols_n;
    let sh = i32(select(p.sh, STRIDE_H, STRIDE_H != 0u));
    let sw = i32(select(p.sw, STRIDE_W, STRIDE_W != 0u));
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let ty = i32(oy + p.pt) - i32(ky * p.dh);
        if (ty < 0) {
            break;
        }
        if (ty % sh != 0) {
            continue;
        }
        let iy = u32(ty / sh);
        if (iy >= p.h_in) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let tx = i32(ox + p.pl) - i32(kx * p.dw);
            if (tx < 0) {
                break;
            }
            if (tx % sw != 0) {
                continue;
            }
            let ix = u32(tx / sw);
            if (ix >= p.w_in) {
                continue;
            }
            acc += cols[base + (ky * p.kw + kx) * cols_n + iy * p.w_in + ix];
        }
    }
    return acc;
}
