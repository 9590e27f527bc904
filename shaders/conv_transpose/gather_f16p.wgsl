// Transposed convolution, direct gather, on packed f16 storage (two halves per
// u32). Same sum as gather.wgsl, for adapters without shader-f16: each
// invocation owns one word of y, i.e. the two consecutive flat outputs 2w and
// 2w + 1 (possibly in different rows, channels or images), computes each with
// its own gather loop (f32 accumulation) and writes the word whole, so no two
// invocations touch the same word. Serves conv_transpose2d and conv2d's data
// gradient at packed precision.
// FLOPs as gather.wgsl; loads are per element (no register blocking).
// Includes: grid, activation, conv_transpose/params, conv_backward/in2_f16p
// (src_a = x, src_b = w).

@group(0) @binding(3) var<storage, read> bias: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;

fn ld_bias(i: u32) -> f32 {
    let v = unpack2x16float(bias[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}

// Output element e (flat over n, c_out, h_out, w_out), or 0 past the end.
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
    let ocl = oc % p.cout_g;
    let kk = p.kh * p.kw;
    let plane = p.h_in * p.w_in;
    let x_base = (n * p.c_in + g * p.cin_g) * plane;
    let w_base = (g * p.cin_g * p.cout_g + ocl) * kk;
    let sh = i32(p.sh);
    let sw = i32(p.sw);
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
            var xi = x_base + iy * p.w_in + ix;
            var wi = w_base + ky * p.kw + kx;
            for (var ic = 0u; ic < p.cin_g; ic++) {
                acc = fma(ld_a(xi), ld_b(wi), acc);
                xi += plane;
                wi += p.cout_g * kk;
            }
        }
    }
    if (BIAS == 1u) {
        acc += ld_bias(oc);
    }
    return activate(acc);
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
