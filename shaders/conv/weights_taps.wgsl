// conv2d weights OIHW [groups*cout_g, K] (K = cin_g*KH*KW) reordered to
// [groups, K, cpad] (cpad = cout_g rounded up to 4, padding channels 0), so
// that the 4 output channels of a register block at one tap are one aligned
// vec4: on CPU rasterisers every storage load is a loop over the SIMD lanes,
// and a vec4 load costs about what a scalar one does. One element of the
// result per invocation, 64 per workgroup; an exact copy.
// Includes: precision prelude, grid, conv/params.

@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // a0 = cpad, a1 = elements of the result.
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.a1) {
        return;
    }
    let co = e % p.a0;
    let gk = e / p.a0;
    let k = gk % p.patch_len;
    let g = gk / p.patch_len;
    var v = T(0.0);
    if (co < p.cout_g) {
        v = w[(g * p.cout_g + co) * p.patch_len + k];
    }
    dst[e] = v;
}
