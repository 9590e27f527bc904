// The weight gradient's GEMM form, last step of each chunk of images:
// dW[e] = (dW[e] when accumulating, else 0) + sum over splits s (in order) of
// the f32 partial products part[s, e]. Chunks are added in image order, so
// the summation order is fixed (deterministic, no atomics).
// Bytes: splits * numel * 4 read, numel * 4 written (and read when
// accumulating).
// Includes: grid.

struct Params {
    numel: u32,
    splits: u32,
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.numel) {
        return;
    }
    var v = 0.0;
    if (p.accumulate != 0u) {
        v = dw[e];
    }
    for (var s = 0u; s < p.splits; s++) {
        v += part[s * p.numel + e];
    }
    dw[e] = v;
}
