// Dropout (and its backward, the same map on dy): y = x * (keep ? 1/(1-p) : 0)
// with the keep mask regenerated from (seed, element index) by Philox, so no mask
// is stored. One Philox call per invocation covers 4 consecutive elements; 64
// invocations per workgroup. One f32 multiply, rounded once to T: for f32
// storage exactly x * (mask * scale) as a CPU computes it.
// Bytes: 1 load + 1 store per element.
// Includes: precision prelude, grid, dropout/philox, dropout/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg) * 64u + lid;
    let first = 4u * g;
    if (first >= p.n) {
        return;
    }
    let keep = keep4(g);
    for (var k = 0u; k < 4u; k++) {
        let i = first + k;
        if (i < p.n) {
            y[i] = T(f32(x[i]) * factor(keep[k]));
        }
    }
}
