// Connected components, pass 0: every pixel its own root. One pixel per
// invocation, 256 per workgroup.
// Includes: grid, label/params.

@group(0) @binding(1) var<storage, read_write> parent: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i < p.n) {
        parent[i] = i;
    }
}
