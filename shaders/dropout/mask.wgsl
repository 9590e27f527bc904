// The f32 keep mask of dropout (1 kept, 0 dropped) for inspection and tests:
// exactly the decisions dropout.wgsl makes for the same (n, p, seed). One Philox
// call per invocation covers 4 elements.
// Includes: grid, dropout/philox, dropout/params.

@group(0) @binding(1) var<storage, read_write> mask: array<f32>;

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
        if (first + k < p.n) {
            mask[first + k] = select(0.0, 1.0, keep[k]);
        }
    }
}
