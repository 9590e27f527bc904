// Direct convolution, register-blocked (f32 / native f16): the data gradient of
// conv_transpose2d, dx = conv2d(dy, w) with the transposed convolution's
// weights read as OIHW ([C_in, C_out/groups, kh, kw]) and its padding.
//
// out[n, oc, oy, ox] = sum over ic of oc's group and taps (ky, kx) of
//   src[n, ic, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw] * w[oc, ic % cin_g, ky, kx]
// (taps outside src contribute nothing). Only the h_out x w_out outputs that
// exist are computed, which also covers output_padding >= stride (the extra
// rows of dy then simply never reach dx).
//
// Mapping: one invocation computes TC output channels of one group x TP
// consecutive pixels of one output row: per (tap, input channel) TP src loads
// and TC weight loads feed TC*TP FMAs. A workgroup is (n, group, channel
// block, 64 items (oy, segment) of the output plane), so weight addresses are
// uniform across it (one load serves all invocations; the tap loops have no
// divergent exits to keep them so). Each output is written by one invocation,
// in a fixed summation order (deterministic). Blocks past cout_g / w_out read
// clamped indices and are masked at the store. Params: segs = segments per
// row, tiles_p = workgroups per plane.
// Preconditions: TC <= 8, TP <= 4.
// FLOPs: 2 * n * c_out * h_out * w_out * cin_g * kh * kw.
// Includes: precision prelude, grid, conv_transpose/params,
// conv_backward/in2_typed (src_a = dy, src_b = w).

@group(0) @binding(3) var<storage, read_write> y: array<T>;

override TC: u32 = 4u;
override TP: u32 = 4u;
const MAX_TC: u32 = 8u;
const MAX_TP: u32 = 4u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // Workgroup: (n, group, channel block, chunk of 64 items of the plane).
    // Everything but the pixel is uniform across the workgroup, so weight
    // loads are too (one load broadcast to all invocations).
    let flat = flat_workgroup(wid, nwg);
    let chunk = flat % p.tiles_p;
    var t = flat / p.tiles_p;
    let ob = t % p.oc_blocks;
    t /= p.oc_blocks;
    let g = t % p.groups;
    let n = t / p.groups;
    let item = chunk * 64u + lid;
    if (n >= p.n || item >= p.h_out * p.segs) {
        return;
    }
    let seg = item % p.segs;
    let oy = item / p.segs;

    let ox0 = seg * TP;
    let ocl0 = ob * TC;
    let kk = p.kh * p.kw;
    var w_off: array<u32, MAX_TC>;
    for (var i = 0u; i < TC; i++) {
        w_off[i] = (g * p.cout_g + min(ocl0 + i, p.cout_g - 1u)) * p.cin_g * kk;
    }
    let plane = p.h_in * p.w_in;
    let x_base = (n * p.c_in + g * p.cin_g) * plane;

    var acc: array<f32, 32>;
    var xv: array<f32, MAX_TP>;
    var ix: array<u32, MAX_TP>;
    var ok: array<bool, MAX_TP>;
    // Loops without divergent exits: tap validity guards the body instead, so
    // the tap counters (and the weight addresses) stay uniform.
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = i32(oy * p.sh + ky * p.dh) - i32(p.pt);
        if (iy >= 0 && iy < i32(p.h_in)) {
            for (var kx = 0u; kx < p.kw; kx++) {
                let c0 = i32(ox0 * p.sw + kx * p.dw) - i32(p.pl);
                var live = false;
                for (var j = 0u; j < TP; j++) {
                    let c = c0 + i32(j * p.sw);
                    ok[j] = c >= 0 && c < i32(p.w_in) && ox0 + j < p.w_out;
                    ix[j] = u32(clamp(c, 0, i32(p.w_in) - 1));
                    live = live || ok[j];
                }
                if (live) {
                    var xi = x_base + u32(iy) * p.w_in;
                    var wi = ky * p.kw + kx;
                    for (var ic = 0u; ic < p.cin_g; ic++) {
                        for (var j = 0u; j < TP; j++) {
                            xv[j] = select(0.0, ld_a(xi + ix[j]), ok[j]);
                        }
                        for (var i = 0u; i < TC; i++) {
                            let wv = ld_b(wi + w_off[i]);
                            for (var j = 0u; j < TP; j++) {
                                acc[i * MAX_TP + j] = fma(wv, xv[j], acc[i * MAX_TP + j]);
                            }
                        }
                        xi += plane;
                        wi += kk;
                    }
                }
            }
        }
    }

    let hw_out = p.h_out * p.w_out;
    for (var i = 0u; i < TC; i++) {
        let ocl = ocl0 + i;
        if (ocl >= p.cout_g) {
            break;
        }
        let row = (n * p.c_out + g * p.cout_g + ocl) * hw_out + oy * p.w_out;
        for (var j = 0u; j < TP; j++) {
            let ox = ox0 + j;
            if (ox < p.w_out) {
                y[row + ox] = T(acc[i * MAX_TP + j]);
            }
        }
    }
}
