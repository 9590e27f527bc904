// Bias gradient: db[c] = sum over n, y, x of dy[n, c, y, x].
//
// One workgroup of 256 invocations per pair of channels (c0, c0 + 1), so that
// the packed-f16 form writes whole words: invocation l sums the elements
// l, l + 256, ... of the flat N x (H*W) range of both channels in f32, then a
// fixed tree in workgroup memory adds the 256 partial sums. No atomics, one
// summation order: deterministic. f32 accumulation keeps sums of f16 data
// finite and exact-ish even when partial sums pass 65504.
// Bytes: every dy element read once.
// Includes: precision prelude (typed form only), grid,
// conv_backward/in2_typed or in2_f16p (src_a = dy; src_b unused) and
// conv_backward/out3_typed or out3_f16p (dst = db).

struct Params {
    n: u32,
    c: u32,
    hw: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> red0: array<f32, 256>;
var<workgroup> red1: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let c0 = 2u * flat_workgroup(wid, nwg);
    // Uniform per workgroup: the barriers below stay in uniform control flow.
    if (c0 >= p.c) {
        return;
    }
    let has1 = c0 + 1u < p.c;
    let count = p.n * p.hw;
    var s0 = 0.0;
    var s1 = 0.0;
    for (var i = lid; i < count; i += 256u) {
        let n = i / p.hw;
        let base = (n * p.c + c0) * p.hw + i % p.hw;
        s0 += ld_a(base);
        if (has1) {
            s1 += ld_a(base + p.hw);
        }
    }
    red0[lid] = s0;
    red1[lid] = s1;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            red0[lid] += red0[lid + stride];
            red1[lid] += red1[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        store_pair(c0, p.c, red0[0], red1[0]);
    }
}
