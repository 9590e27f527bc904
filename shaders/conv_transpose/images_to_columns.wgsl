// The column GEMM's B operand over a whole chunk (gemm_vec4_col2im with
// merged columns): xm[ci, img*H_in*W_in + q] = x[n0 + img, ci, q], zeros in
// the padding columns up to the padded width a = p.col_rs. One GEMM then
// covers all the chunk's pixels: one image's H_in*W_in (49 at 7x7) would fill
// a fraction of the GEMM's 128-column tiles and, not a multiple of 4, keep it
// off the vector kernels. One invocation per run of RUN elements of an xm row
// (f32; a CPU backend pays per invocation about what a few elements' copies
// cost); p.x_off is the chunk's first element in the binding of x.
// Includes: precision prelude, grid, conv_transpose/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> xm: array<f32>;

const RUN: u32 = 8u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let width = p.col_rs;
    let runs = (width + RUN - 1u) / RUN;
    if (e >= p.c_in * runs) {
        return;
    }
    let col0 = (e % runs) * RUN;
    let ci = e / runs;
    let plane = p.h_in * p.w_in;
    let cols = p.nc * plane;
    var img = col0 / plane;
    var q = col0 % plane;
    for (var j = 0u; j < RUN; j++) {
        let col = col0 + j;
        if (col >= width) {
            break;
        }
        var v = 0.0;
        if (col < cols) {
            v = f32(x[p.x_off + (img * p.c_in + ci) * plane + q]);
        }
        xm[ci * width + col] = v;
        q += 1u;
        if (q == plane) {
            q = 0u;
            img += 1u;
        }
    }
}
