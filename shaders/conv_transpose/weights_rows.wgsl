// The transposed convolution's weights [C_in, R] (R = C_out*KH*KW, groups = 1)
// as row-major [R, C_in], the A operand of the column GEMM A . x, which the
// vec4 GEMM kernels read without transposes. An exact copy, one element per
// invocation, 64 per workgroup.
// Includes: precision prelude, grid, conv_backward/in2_typed (src_a = w;
// src_b unused), conv_backward/out3_typed (dst).

struct Params {
    // Elements of w.
    n: u32,
    c_in: u32,
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.n) {
        return;
    }
    // e indexes [R, C_in].
    let r = e / p.c_in;
    let ci = e % p.c_in;
    dst[e] = T(ld_a(ci * p.rows + r));
}
