// conv2d variant 2 (im2col), merged columns: copies the GEMM's output
// s[C_out, P4] (one row per output channel, the chunk's images side by side,
// col = img*OH*OW + pixel) into y's NCHW layout. The GEMM then runs over every
// column of the chunk at once: one image's OH*OW columns (49 at 7x7) would
// leave most of a 128-column tile empty and break vec4 alignment. Bias and
// activation were applied by the GEMM's epilogue.
// One invocation per output element: a load and a store.
// Params: a0 = P4 (s's row length); y_off is the chunk's offset in the y window.
// Includes: precision prelude, grid, conv/params.

@group(0) @binding(1) var<storage, read> s: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // e runs over y's chunk in NCHW order, so that stores are contiguous.
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let ohw = p.oh * p.ow;
    if (e >= p.n * p.c_out * ohw) {
        return;
    }
    let pixel = e % ohw;
    let t = e / ohw;
    let co = t % p.c_out;
    let img = t / p.c_out;
    y[p.y_off + e] = s[co * p.a0 + img * ohw + pixel];
}
