// Weight gradient, last step: dW[e] = sum over splits s (in order) of the f32
// partial sums part[s, e] written by dw.wgsl, stored in the output's precision.
// One invocation per pair of elements (2w, 2w + 1), so that the packed-f16 form
// owns whole words. Deterministic (fixed order, no atomics).
// Bytes: splits * numel * 4 read, numel elements written.
// Includes: precision prelude (typed form only), grid,
// conv_backward/out3_typed or out3_f16p (dst, store_pair). Binding 2 is unused
// (the launcher binds part there again).

struct Params {
    numel: u32,
    splits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = 2u * (flat_workgroup(wid, nwg) * 64u + lid);
    if (e >= p.numel) {
        return;
    }
    var v0 = 0.0;
    var v1 = 0.0;
    let has1 = e + 1u < p.numel;
    for (var s = 0u; s < p.splits; s++) {
        v0 += part[s * p.numel + e];
        if (has1) {
            v1 += part[s * p.numel + e + 1u];
        }
    }
    store_pair(e, p.numel, v0, v1);
}
