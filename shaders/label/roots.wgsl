// Connected components, pass 2: every set pixel points straight at its root
// (the unions are complete, so the forest no longer changes), and is_root
// marks the roots: the first pixel of each component in raster order. One
// pixel per invocation, 256 per workgroup.
// Includes: grid, label/params.

@group(0) @binding(1) var<storage, read> image: array<u32>;
@group(0) @binding(2) var<storage, read> parent: array<u32>;
@group(0) @binding(3) var<storage, read_write> root: array<u32>;
@group(0) @binding(4) var<storage, read_write> is_root: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    var r = i;
    loop {
        let up = parent[r];
        if (up == r) {
            break;
        }
        r = up;
    }
    root[i] = r;
    is_root[i] = select(0u, 1u, image[i] != 0u && r == i);
}
