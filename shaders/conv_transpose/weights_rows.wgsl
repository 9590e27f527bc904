// The transposed convolution's weights [C_in, R] (R = C_out*KH*KW, groups = 1)
// as row-major [R, C_in], the A operand of the column GEMM A . x, which the
// vec4 GEMM kernels read without transposes. An exact copy, one 16 x 16 block
// per invocation, 64 per workgroup (one element per invocation made every
// load a scattered one).
// The rows are f32 at every precision (the column GEMM runs in f32).
// Includes: precision prelude, grid, conv_backward/in2_typed (src_a = w;
// src_b unused).

struct Params {
    // Elements of w.
    n: u32,
    c_in: u32,
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // One 16 x 16 block of the transpose per invocation: the block's 16
    // source rows and 16 destination rows stay in cache while it is walked.
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let r_blocks = (p.rows + 15u) / 16u;
    if (e >= r_blocks * ((p.c_in + 15u) / 16u)) {
        return;
    }
    let r0 = (e % r_blocks) * 16u;
    let c0 = (e / r_blocks) * 16u;
    let r1 = min(r0 + 16u, p.rows);
    let c1 = min(c0 + 16u, p.c_in);
    for (var ci = c0; ci < c1; ci++) {
        for (var r = r0; r < r1; r++) {
            dst[r * p.c_in + ci] = ld_a(ci * p.rows + r);
        }
    }
}
