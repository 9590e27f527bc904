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
// feed TC*TP FMAs. A workgroup is (n, group, channel block, 64 items of the
// output plane), so the weight addresses are uniform across it (one load
// serves all 64 invocations; the tap loops have no divergent exits to keep
// them so). Plane items are ordered by stride residue class (oy % sh,
// ox % sw) first, so the invocations of a workgroup take the same taps
// instead of masking each other's (a 3x gain at stride 2 on SIMD hardware);
// within a class, neighbouring invocations write neighbouring segments.
// Params: segs = segments per class row, tiles_r = rows per class
// (ceil(h_out / sh)), tiles_p = workgroups per plane.
//
// FLOPs: 2 * n*c_in*h_in*w_in * cout_g*kh*kw (tap tests aside). Bytes: each
// invocation reads cin_g * valid taps * TP input elements; weights are
// shared by the workgroup.
// Preconditions: TC <= 8, TP <= 4; blocks past cout_g / w_out read clamped
// indices and are masked at the store.
// Includes: precision prelude, grid, activation, conv_transpose/params,
// conv_backward/in2_typed (src_a = x, src_b = w).

@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;

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
    // Plane items are ordered by stride residue class (oy % sh, ox % sw)
    // first: outputs of one class take the same taps, so the 64 invocations of
    // a workgroup (mostly one class) agree on every tap test.
    let item = chunk * 64u + lid;
    let class_items = p.tiles_r * p.segs;
    if (n >= p.n || item >= p.sh * p.sw * class_items) {
        return;
    }
    let cls = item / class_items;
    let oy = cls / p.sw + p.sh * ((item % class_items) / p.segs);
    let ox0 = cls % p.sw + p.sw * TP * (item % p.segs);
    if (oy >= p.h_out) {
        return;
    }
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

    var acc: array<f32, 32>;
    var xv: array<f32, MAX_TP>;
    var ix: array<u32, MAX_TP>;
    var ok: array<bool, MAX_TP>;
    // Loops without divergent exits: tap validity guards the body instead, so
    // the tap counters (and the weight addresses) stay uniform.
    for (var ky = 0u; ky < p.kh; ky++) {
        let ty = i32(oy + p.pt) - i32(ky * p.dh);
        let iy = ty / sh;
        if (ty >= 0 && ty % sh == 0 && iy < i32(p.h_in)) {
            for (var kx = 0u; kx < p.kw; kx++) {
                let tx = i32(ox0 + p.pl) - i32(kx * p.dw);
                let ix0 = tx / sw;
                var live = false;
                for (var j = 0u; j < TP; j++) {
                    let c = ix0 + i32(j);
                    ok[j] = c >= 0 && c < i32(p.w_in) && ox0 + j * p.sw < p.w_out;
                    ix[j] = u32(clamp(c, 0, i32(p.w_in) - 1));
                    live = live || ok[j];
                }
                if (live && tx % sw == 0) {
                    var xi = x_base + u32(iy) * p.w_in;
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
