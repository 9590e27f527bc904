// Transposed convolution, direct gather, register-blocked (f32 / native f16).
//
// y[n, oc, oy, ox] = act(bias[oc] + sum over ic of oc's group and taps (ky, kx)
// with oy = iy*sh - pt + ky*dh, ox = ix*sw - pl + kx*dw (0 <= iy < h_in,
// 0 <= ix < w_in) of x[n, ic, iy, ix] * w[ic, oc % cout_g, ky, kx]).
// Each output gathers the inputs that map onto it: no atomics, one fixed
// summation order, deterministic. Serves conv_transpose2d (x = input) and
// conv2d's data gradient (x = dy, w = the conv2d weight, pt/pl = its top/left
// padding, so asymmetric 'same' padding needs nothing else).
//
// Mapping: one invocation computes TC output channels of one group (weights
// [ic, oc..oc+TC, ky, kx]) x TP pixels of one output row at columns
// ox0 + j*sw, j < TP. Those pixels share their residue modulo the stride, so
// one divisibility test per tap (ky, kx) serves all of them and their input
// columns are ix0 + j: per input channel TP input loads and TC weight loads
// feed TC*TP FMAs. Items are ordered (n, group, channel block, oy, segment,
// residue), so neighbouring invocations write neighbouring columns.
// Rows: for each ky, oy + pt - ky*dh must be a non-negative multiple of sh;
// the first negative one ends the loop.
//
// FLOPs: 2 * n*c_in*h_in*w_in * cout_g*kh*kw (plus skipped taps when
// stride > 1). Bytes: each invocation reads cin_g * taps * (TP + TC) elements.
// Preconditions: TC <= 4, TP <= 4; blocks past cout_g / w_out read clamped
// indices and are masked at the store.
// Includes: precision prelude, grid, activation, conv_transpose/params,
// conv_backward/in2_typed (src_a = x, src_b = w).

@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;

override TC: u32 = 4u;
override TP: u32 = 4u;
const MAX_TC: u32 = 4u;
const MAX_TP: u32 = 4u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let item = flat_workgroup(wid, nwg) * 64u + lid;
    let total = p.n * p.groups * p.oc_blocks * p.h_out * p.segs * p.sw;
    if (item >= total) {
        return;
    }
    var t = item;
    let r = t % p.sw;
    t /= p.sw;
    let seg = t % p.segs;
    t /= p.segs;
    let oy = t % p.h_out;
    t /= p.h_out;
    let ob = t % p.oc_blocks;
    t /= p.oc_blocks;
    let g = t % p.groups;
    let n = t / p.groups;

    let ox0 = seg * p.sw * TP + r;
    let ocl0 = ob * TC;
    let kk = p.kh * p.kw;
    var w_off: array<u32, MAX_TC>;
    for (var i = 0u; i < TC; i++) {
        w_off[i] = min(ocl0 + i, p.cout_g - 1u) * kk;
    }
    let plane = p.h_in * p.w_in;
    let x_base = (n * p.c_in + g * p.cin_g) * plane;
    let w_base = g * p.cin_g * p.cout_g * kk;
    let w_ic = p.cout_g * kk;
    let sh = i32(p.sh);
    let sw = i32(p.sw);

    var acc: array<f32, 16>;
    var xv: array<f32, MAX_TP>;
    var ix: array<u32, MAX_TP>;
    var ok: array<bool, MAX_TP>;
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
            let tx = i32(ox0 + p.pl) - i32(kx * p.dw);
            if (tx % sw != 0) {
                continue;
            }
            let ix0 = tx / sw;
            var live = false;
            for (var j = 0u; j < TP; j++) {
                let c = ix0 + i32(j);
                ok[j] = c >= 0 && c < i32(p.w_in) && ox0 + j * p.sw < p.w_out;
                ix[j] = u32(clamp(c, 0, i32(p.w_in) - 1));
                live = live || ok[j];
            }
            if (!live) {
                continue;
            }
            var xi = x_base + iy * p.w_in;
            var wi = w_base + ky * p.kw + kx;
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
                wi += w_ic;
            }
        }
    }

    let hw_out = p.h_out * p.w_out;
    for (var i = 0u; i < TC; i++) {
        let ocl = ocl0 + i;
        if (ocl >= p.cout_g) {
            break;
        }
        let oc = g * p.cout_g + ocl;
        var b = 0.0;
        if (BIAS == 1u) {
            b = f32(bias[oc]);
        }
        let row = (n * p.c_out + oc) * hw_out + oy * p.w_out;
        for (var j = 0u; j < TP; j++) {
            let ox = ox0 + j * p.sw;
            if (ox < p.w_out) {
                y[row + ox] = T(activate(acc[i * MAX_TP + j] + b));
            }
        }
    }
}
