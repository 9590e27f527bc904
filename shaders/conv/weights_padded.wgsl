// conv2d variant 2 (im2col) with one group: a copy of the weights
// [C_out, patch_len] with each row padded by zeros to a2 = patch_len rounded
// up to 4 (the rows of the zero-padded columns), so that the GEMM's vec4
// kernels can load A along K. One element of the copy per invocation; small
// (a 7x7 stem on 3 channels: 64 x 148).
// Includes: precision prelude, grid, conv/params.

@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read_write> wp: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.c_out * p.a2) {
        return;
    }
    let k = e % p.a2;
    let co = e / p.a2;
    var v = T(0.0);
    if (k < p.patch_len) {
        v = w[co * p.patch_len + k];
    }
    wp[e] = v;
}
