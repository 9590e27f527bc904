// Connected components, pass 4: labels 1..N in raster order of each
// component's first pixel (its root's place among the roots, from the
// exclusive scan of is_root), 0 for background. One pixel per invocation,
// 256 per workgroup.
// Includes: grid, label/params.

@group(0) @binding(1) var<storage, read> image: array<u32>;
@group(0) @binding(2) var<storage, read> root: array<u32>;
@group(0) @binding(3) var<storage, read> rank: array<u32>;
@group(0) @binding(4) var<storage, read_write> labels: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    labels[i] = select(0u, rank[root[i]] + 1u, image[i] != 0u);
}
