// Direct convolution on packed f16 storage: the data gradient of
// conv_transpose2d (see conv_direct.wgsl for the sum). Each invocation owns one
// word of the output, i.e. the two consecutive flat outputs 2w and 2w + 1,
// computes each with its own loop (f32 accumulation) and writes the word whole.
// FLOPs as conv_direct.wgsl; loads are per element.
// Includes: grid, conv_transpose/params, conv_backward/in2_f16p
// (src_a = dy, src_b = w).

@group(0) @binding(3) var<storage, read_write> y: array<u32>;

fn output(e: u32) -> f32 {
    let hw_out = p.h_out * p.w_out;
    if (e >= p.n * p.c_out * hw_out) {
        return 0.0;
    }
    let ox = e % p.w_out;
    let oy = (e / p.w_out) % p.h_out;
    let oc = (e / hw_out) % p.c_out;
    let n = e / (hw_out * p.c_out);
    let g = oc / p.cout_g;
    let kk = p.kh * p.kw;
    let plane = p.h_in * p.w_in;
    let x_base = (n * p.c_in + g * p.cin_g) * plane;
    let w_base = oc * p.cin_g * kk;
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = i32(oy * p.sh + ky * p.dh) - i32(p.pt);
        if (iy < 0 || iy >= i32(p.h_in)) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = i32(ox * p.sw + kx * p.dw) - i32(p.pl);
            if (ix < 0 || ix >= i32(p.w_in)) {
                continue;
            }
            var xi = x_base + u32(iy) * p.w_in + u32(ix);
            var wi = w_base + ky * p.kw + kx;
            for (var ic = 0u; ic < p.cin_g; ic++) {
                acc = fma(ld_a(xi), ld_b(wi), acc);
                xi += plane;
                wi += kk;
            }
        }
    }
    return acc;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 64u + lid;
    if (2u * w >= p.n * p.c_out * p.h_out * p.w_out) {
        return;
    }
    y[w] = pack2x16float(vec2<f32>(output(2u * w), output(2u * w + 1u)));
}
