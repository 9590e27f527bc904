// Parameters shared by every GEMM variant.
//
// C[b] = op(A[b]) . op(B[b]) (+ bias), then the fused activation. Transposes and
// broadcasts are strides: A(m, k) = a[b*a_bs + m*a_rs + k*a_cs] and
// B(k, n) = b[b*b_bs + k*b_rs + n*b_cs] (a batch stride of 0 shares the operand).
// C's rows are c_rs apart: C(m, n) = c[b*c_bs + m*c_rs + n] (c_rs = N unless
// the output is a column block of a wider matrix). Every operand starts
// a_off / b_off / c_off elements into its binding (a chunk of a larger
// tensor); a_at, b_at and c_at give batch b's first element.
// Includes (before this file): grid.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_rs: u32,
    a_cs: u32,
    a_bs: u32,
    tiles_m: u32,
    b_rs: u32,
    b_cs: u32,
    b_bs: u32,
    tiles_n: u32,
    c_bs: u32,
    bias_bs: u32,
    a_off: u32,
    b_off: u32,
    c_off: u32,
    c_rs: u32,
}

// 0: no bias; 1: one bias value per row m; 2: one per column n.
override BIAS: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;

fn a_at(b: u32) -> u32 {
    return p.a_off + b * p.a_bs;
}

fn b_at(b: u32) -> u32 {
    return p.b_off + b * p.b_bs;
}

fn c_at(b: u32) -> u32 {
    return p.c_off + b * p.c_bs;
}

// Tile coordinates of a flat workgroup index: (batch, tile row, tile column).
// Returns batch == p.batch for workgroups past the end of a folded grid.
fn gemm_tile(flat: u32) -> vec3<u32> {
    let per_batch = p.tiles_m * p.tiles_n;
    let b = flat / per_batch;
    let r = flat % per_batch;
    return vec3<u32>(b, r / p.tiles_n, r % p.tiles_n);
}
