// Connected components of an image labelled in bands (larger than one
// binding): a band's labels mapped through its table to the whole image's
// (merged across band edges, numbered in raster order). One pixel per
// invocation, 256 per workgroup.
// Includes: grid, label/params.

@group(0) @binding(1) var<storage, read> band: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    labels[i] = table[band[i]];
}
