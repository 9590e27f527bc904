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

// Where the column rows of channel oc of chunk image img start.
fn col2im_base(img: u32, oc: u32) -> u32 {
    let g = oc / p.cout_g;
    let ocl = oc % p.cout_g;
    let rows = p.cout_g * p.kh * p.kw;
    return img * p.col_is + (g * rows + ocl * p.kh * p.kw) * p.col_rs;
}

// The input row (or column) from which output row o is reached through
// kernel tap k: t = o + pad - k*dil must be a non-negative multiple of the
// stride s and t / s below n. -1: none; -2: none for any later tap either
// (t < 0, and t only falls as k grows).
fn col2im_source(o: u32, pad: u32, k: u32, dil: u32, s: i32, n: u32) -> i32 {
    let t = i32(o + pad) - i32(k * dil);
    if (t < 0) {
        return -2;
    }
    if (t % s != 0 || u32(t / s) >= n) {
        return -1;
    }
    return t / s;
}

fn col2im_stride_h() -> i32 {
    return i32(select(p.sh, STRIDE_H, STRIDE_H != 0u));
}

fn col2im_stride_w() -> i32 {
    return i32(select(p.sw, STRIDE_W, STRIDE_W != 0u));
}

// Sum for output pixel (oy, ox) of channel oc of chunk image img.
fn col2im_sum(img: u32, oc: u32, oy: u32, ox: u32) -> f32 {
    let base = col2im_base(img, oc);
    let sh = col2im_stride_h();
    let sw = col2im_stride_w();
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = col2im_source(oy, p.pt, ky, p.dh, sh, p.h_in);
        if (iy == -2) {
            break;
        }
        if (iy < 0) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = col2im_source(ox, p.pl, kx, p.dw, sw, p.w_in);
            if (ix == -2) {
                break;
            }
            if (ix >= 0) {
                acc += cols[base + (ky * p.kw + kx) * p.col_rs + u32(iy) * p.w_in + u32(ix)];
            }
        }
    }
    return acc;
}

// Outputs per run of col2im_run.
const RUN: u32 = 8u;

// col2im_sum for the RUN outputs (oy, ox0 + j) of a row (those past the
// row's end sum what columns exist and are not stored by the caller). The
// tap loops run once per run; the constant-trip loop over j unrolls, so the
// sums stay in registers.
fn col2im_run(img: u32, oc: u32, oy: u32, ox0: u32) -> array<f32, RUN> {
    let base = col2im_base(img, oc);
    let sh = col2im_stride_h();
    let sw = col2im_stride_w();
    var acc: array<f32, RUN>;
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = col2im_source(oy, p.pt, ky, p.dh, sh, p.h_in);
        if (iy == -2) {
            break;
        }
        if (iy < 0) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let col = base + (ky * p.kw + kx) * p.col_rs + u32(iy) * p.w_in;
            for (var j = 0u; j < RUN; j++) {
                let ix = col2im_source(ox0 + j, p.pl, kx, p.dw, sw, p.w_in);
                if (ix >= 0) {
                    acc[j] += cols[col + u32(ix)];
                }
            }
        }
    }
    return acc;
}
