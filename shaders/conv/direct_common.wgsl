// One output of conv2d by direct summation over its receptive field, shared by
// the direct kernels of every storage precision. The including body defines the
// loads `ld_x(i)`, `ld_w(i)` and `ld_bias(i)` (element indices into the x
// window, the weights and the bias), so the arithmetic is written once.
// Out-of-range taps (padding) are skipped with branches, so only valid elements
// are ever loaded.
// Includes (before this file): grid, activation, conv/params.

// Output element `e` of the launch, flat over [n, c_out, oh, ow].
fn direct_output(e: u32) -> f32 {
    let ox = e % p.ow;
    var t = e / p.ow;
    let oy = t % p.oh;
    t = t / p.oh;
    let co = t % p.c_out;
    let img = t / p.c_out;
    let g = co / p.cout_g;
    let iy0 = i32(oy * p.stride_h) - i32(p.pad_t);
    let ix0 = i32(ox * p.stride_w) - i32(p.pad_l);
    let hw = p.h * p.w;
    let kk = p.kh * p.kw;
    var xi = p.x_off + (img * p.c_in + g * p.cin_g) * hw;
    var wi = co * p.patch_len;
    var acc = 0.0;
    for (var ci = 0u; ci < p.cin_g; ci++) {
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky * p.dil_h);
            if (iy >= 0 && iy < i32(p.h)) {
                let row = xi + u32(iy) * p.w;
                let wrow = wi + ky * p.kw;
                for (var kx = 0u; kx < p.kw; kx++) {
                    let ix = ix0 + i32(kx * p.dil_w);
                    if (ix >= 0 && ix < i32(p.w)) {
                        acc = fma(ld_x(row + u32(ix)), ld_w(wrow + kx), acc);
                    }
                }
            }
        }
        xi += hw;
        wi += kk;
    }
    if (p.has_bias != 0u) {
        acc += ld_bias(co);
    }
    return activate(acc);
}
