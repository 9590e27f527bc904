// The weights of conv2d's data gradient as a forward convolution: for stride 1,
// dx = conv2d(dy, w') with w'[g*cin_g + ci, co, ky, kx] =
// w[g*cout_g + co, ci, KH-1-ky, KW-1-kx] (channels swapped within each group,
// taps rotated by 180 degrees) and padding d*(K-1) - pad on each side.
// One filter of w' per invocation (its KH*KW taps, read and written as
// contiguous runs), 64 per workgroup; an exact copy. (One element per
// invocation made every load a scattered one: 6 ms for 512x512x3x3 on
// lavapipe, against under 1 ms by filters.)
// Includes: precision prelude, grid, conv_backward/in2_typed (src_a = w;
// src_b unused), conv_backward/out3_typed (dst = w').

struct Params {
    // Elements of w.
    n: u32,
    cin_g: u32,
    cout_g: u32,
    // KH * KW.
    taps: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // f indexes the filters of w' = [C_in, cout_g, taps].
    let f = flat_workgroup(wid, nwg) * 64u + lid;
    if (f * p.taps >= p.n) {
        return;
    }
    let co = f % p.cout_g;
    let cin = f / p.cout_g;
    let g = cin / p.cin_g;
    let ci = cin % p.cin_g;
    let src = ((g * p.cout_g + co) * p.cin_g + ci) * p.taps;
    let out = f * p.taps;
    for (var tap = 0u; tap < p.taps; tap++) {
        dst[out + tap] = T(ld_a(src + p.taps - 1u - tap));
    }
}
