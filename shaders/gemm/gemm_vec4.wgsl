// GEMM variant 4, register-blocked with vector loads: each invocation computes
// TM rows x 4*TN4 columns (up to 16 x 16) in vec4 registers, loading A as vec4
// along K and B as vec4 along N, with no workgroup memory. The fastest form on
// CPU rasterisers, where per-lane loads are the bottleneck and every vec4 load
// feeds 4*TN4 (A) or TM (B) vector FMAs.
//
// The accumulators are written out one by one (c<row>_<col>) rather than as an
// array indexed in loops: when the compiler does not fully unroll such loops the
// array stays dynamically indexed and spills to memory (5-10x slower on
// lavapipe). Rows and columns beyond TM / TN4 sit behind `if (TM > i)` guards on
// override constants, which fold away when the pipeline is created.
//
// Preconditions (checked by the launcher): A is M x K and B is K x N, both
// row-major (no transposes), K % 4 == 0, N % 4 == 0, and the row strides,
// batch strides and offsets multiples of 4.
// A's rows go through the row hooks of gemm/a_rows.wgsl, which the variant's
// include defines: gemm/a_rows_own.wgsl (each invocation loads its rows) or
// gemm/a_rows_subgroup.wgsl (one load per row and subgroup).
// Includes: precision prelude, grid, activation, gemm/params, gemm/epilogue,
// gemm/a_rows, and one of those two.

@group(0) @binding(1) var<storage, read> a: array<T4>;
@group(0) @binding(2) var<storage, read> b: array<T4>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T4>;

override TM: u32 = 8u;
override TN4: u32 = 2u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

fn store_block(bt: u32, row: u32, c4: u32, n4: u32, s: vec4<f32>) {
    if (row < p.m && c4 < n4) {
        let col = c4 * 4u;
        let out = vec4<f32>(
            epilogue(bt, row, col, s.x),
            epilogue(bt, row, col + 1u, s.y),
            epilogue(bt, row, col + 2u, s.z),
            epilogue(bt, row, col + 3u, s.w));
        c[c_at(bt) / 4u + row * (p.c_rs / 4u) + c4] = T4(out);
    }
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = gemm_tile(flat_workgroup(wid, nwg));
    if (tile.x >= p.batch) {
        return;
    }
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    // Row strides in vec4s (rows may be longer than K or N: a chunk of
    // im2col columns, one image's columns of a batch).
    let ars4 = p.a_rs / 4u;
    let brs4 = p.b_rs / 4u;
    let row0 = tile.y * WG_Y * TM + lid.y;
    let col0 = tile.z * WG_X * TN4 + lid.x;
    let a_base = a_at(tile.x) / 4u;
    let b_base = b_at(tile.x) / 4u;
    // Out-of-range rows and columns read a clamped valid element; stores are masked.
    let ar0 = a_base + min(row0 + 0u * WG_Y, p.m - 1u) * ars4;
    let ar1 = a_base + min(row0 + 1u * WG_Y, p.m - 1u) * ars4;
    let ar2 = a_base + min(row0 + 2u * WG_Y, p.m - 1u) * ars4;
    let ar3 = a_base + min(row0 + 3u * WG_Y, p.m - 1u) * ars4;
    let ar4 = a_base + min(row0 + 4u * WG_Y, p.m - 1u) * ars4;
    let ar5 = a_base + min(row0 + 5u * WG_Y, p.m - 1u) * ars4;
    let ar6 = a_base + min(row0 + 6u * WG_Y, p.m - 1u) * ars4;
    let ar7 = a_base + min(row0 + 7u * WG_Y, p.m - 1u) * ars4;
    let ar8 = a_base + min(row0 + 8u * WG_Y, p.m - 1u) * ars4;
    let ar9 = a_base + min(row0 + 9u * WG_Y, p.m - 1u) * ars4;
    let ar10 = a_base + min(row0 + 10u * WG_Y, p.m - 1u) * ars4;
    let ar11 = a_base + min(row0 + 11u * WG_Y, p.m - 1u) * ars4;
    let ar12 = a_base + min(row0 + 12u * WG_Y, p.m - 1u) * ars4;
    let ar13 = a_base + min(row0 + 13u * WG_Y, p.m - 1u) * ars4;
    let ar14 = a_base + min(row0 + 14u * WG_Y, p.m - 1u) * ars4;
    let ar15 = a_base + min(row0 + 15u * WG_Y, p.m - 1u) * ars4;
    // Where A's rows come from: each invocation's own loads, or loads shared
    // across a subgroup (the variant's include, gemm/a_rows_*.wgsl).
    let share = a_share(a_base, row0, WG_Y, ars4);
    let bc0 = min(col0 + 0u * WG_X, n4 - 1u);
    let bc1 = min(col0 + 1u * WG_X, n4 - 1u);
    let bc2 = min(col0 + 2u * WG_X, n4 - 1u);
    let bc3 = min(col0 + 3u * WG_X, n4 - 1u);
    var c0_0 = vec4<f32>(0.0); var c0_1 = vec4<f32>(0.0); var c0_2 = vec4<f32>(0.0); var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0); var c1_1 = vec4<f32>(0.0); var c1_2 = vec4<f32>(0.0); var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0); var c2_1 = vec4<f32>(0.0); var c2_2 = vec4<f32>(0.0); var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0); var c3_1 = vec4<f32>(0.0); var c3_2 = vec4<f32>(0.0); var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0); var c4_1 = vec4<f32>(0.0); var c4_2 = vec4<f32>(0.0); var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0); var c5_1 = vec4<f32>(0.0); var c5_2 = vec4<f32>(0.0); var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0); var c6_1 = vec4<f32>(0.0); var c6_2 = vec4<f32>(0.0); var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0); var c7_1 = vec4<f32>(0.0); var c7_2 = vec4<f32>(0.0); var c7_3 = vec4<f32>(0.0);
    var c8_0 = vec4<f32>(0.0); var c8_1 = vec4<f32>(0.0); var c8_2 = vec4<f32>(0.0); var c8_3 = vec4<f32>(0.0);
    var c9_0 = vec4<f32>(0.0); var c9_1 = vec4<f32>(0.0); var c9_2 = vec4<f32>(0.0); var c9_3 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0); var c10_1 = vec4<f32>(0.0); var c10_2 = vec4<f32>(0.0); var c10_3 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0); var c11_1 = vec4<f32>(0.0); var c11_2 = vec4<f32>(0.0); var c11_3 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0); var c12_1 = vec4<f32>(0.0); var c12_2 = vec4<f32>(0.0); var c12_3 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0); var c13_1 = vec4<f32>(0.0); var c13_2 = vec4<f32>(0.0); var c13_3 = vec4<f32>(0.0);
    var c14_0 = vec4<f32>(0.0); var c14_1 = vec4<f32>(0.0); var c14_2 = vec4<f32>(0.0); var c14_3 = vec4<f32>(0.0);
    var c15_0 = vec4<f32>(0.0); var c15_1 = vec4<f32>(0.0); var c15_2 = vec4<f32>(0.0); var c15_3 = vec4<f32>(0.0);
    for (var kq = 0u; kq < k4; kq++) {
        let pair = a_share_load(share, kq);
        let r0 = b_base + kq * 4u * brs4;
        let r1 = r0 + 1u * brs4;
        let r2 = r0 + 2u * brs4;
        let r3 = r0 + 3u * brs4;
        let b0_0 = vec4<f32>(b[r0 + bc0]); let b0_1 = vec4<f32>(b[r0 + bc1]); let b0_2 = vec4<f32>(b[r0 + bc2]); let b0_3 = vec4<f32>(b[r0 + bc3]);
        let b1_0 = vec4<f32>(b[r1 + bc0]); let b1_1 = vec4<f32>(b[r1 + bc1]); let b1_2 = vec4<f32>(b[r1 + bc2]); let b1_3 = vec4<f32>(b[r1 + bc3]);
        let b2_0 = vec4<f32>(b[r2 + bc0]); let b2_1 = vec4<f32>(b[r2 + bc1]); let b2_2 = vec4<f32>(b[r2 + bc2]); let b2_3 = vec4<f32>(b[r2 + bc3]);
        let b3_0 = vec4<f32>(b[r3 + bc0]); let b3_1 = vec4<f32>(b[r3 + bc1]); let b3_2 = vec4<f32>(b[r3 + bc2]); let b3_3 = vec4<f32>(b[r3 + bc3]);
        {
            let av = a_row(ar0 + kq, pair, 0u);
            { c0_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c0_0)))); }
            if (TN4 > 1u) { c0_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c0_1)))); }
            if (TN4 > 2u) { c0_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c0_2)))); }
            if (TN4 > 3u) { c0_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c0_3)))); }
        }
        if (TM > 1u) {
            let av = a_row(ar1 + kq, pair, 1u);
            { c1_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c1_0)))); }
            if (TN4 > 1u) { c1_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c1_1)))); }
            if (TN4 > 2u) { c1_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c1_2)))); }
            if (TN4 > 3u) { c1_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c1_3)))); }
        }
        if (TM > 2u) {
            let av = a_row(ar2 + kq, pair, 2u);
            { c2_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c2_0)))); }
            if (TN4 > 1u) { c2_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c2_1)))); }
            if (TN4 > 2u) { c2_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c2_2)))); }
            if (TN4 > 3u) { c2_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c2_3)))); }
        }
        if (TM > 3u) {
            let av = a_row(ar3 + kq, pair, 3u);
            { c3_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c3_0)))); }
            if (TN4 > 1u) { c3_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c3_1)))); }
            if (TN4 > 2u) { c3_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c3_2)))); }
            if (TN4 > 3u) { c3_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c3_3)))); }
        }
        if (TM > 4u) {
            let av = a_row(ar4 + kq, pair, 4u);
            { c4_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c4_0)))); }
            if (TN4 > 1u) { c4_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c4_1)))); }
            if (TN4 > 2u) { c4_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c4_2)))); }
            if (TN4 > 3u) { c4_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c4_3)))); }
        }
        if (TM > 5u) {
            let av = a_row(ar5 + kq, pair, 5u);
            { c5_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c5_0)))); }
            if (TN4 > 1u) { c5_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c5_1)))); }
            if (TN4 > 2u) { c5_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c5_2)))); }
            if (TN4 > 3u) { c5_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c5_3)))); }
        }
        if (TM > 6u) {
            let av = a_row(ar6 + kq, pair, 6u);
            { c6_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c6_0)))); }
            if (TN4 > 1u) { c6_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c6_1)))); }
            if (TN4 > 2u) { c6_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c6_2)))); }
            if (TN4 > 3u) { c6_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c6_3)))); }
        }
        if (TM > 7u) {
            let av = a_row(ar7 + kq, pair, 7u);
            { c7_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c7_0)))); }
            if (TN4 > 1u) { c7_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c7_1)))); }
            if (TN4 > 2u) { c7_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c7_2)))); }
            if (TN4 > 3u) { c7_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c7_3)))); }
        }
        if (TM > 8u) {
            let av = a_row(ar8 + kq, pair, 8u);
            { c8_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c8_0)))); }
            if (TN4 > 1u) { c8_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c8_1)))); }
            if (TN4 > 2u) { c8_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c8_2)))); }
            if (TN4 > 3u) { c8_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c8_3)))); }
        }
        if (TM > 9u) {
            let av = a_row(ar9 + kq, pair, 9u);
            { c9_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c9_0)))); }
            if (TN4 > 1u) { c9_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c9_1)))); }
            if (TN4 > 2u) { c9_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c9_2)))); }
            if (TN4 > 3u) { c9_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c9_3)))); }
        }
        if (TM > 10u) {
            let av = a_row(ar10 + kq, pair, 10u);
            { c10_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c10_0)))); }
            if (TN4 > 1u) { c10_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c10_1)))); }
            if (TN4 > 2u) { c10_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c10_2)))); }
            if (TN4 > 3u) { c10_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c10_3)))); }
        }
        if (TM > 11u) {
            let av = a_row(ar11 + kq, pair, 11u);
            { c11_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c11_0)))); }
            if (TN4 > 1u) { c11_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c11_1)))); }
            if (TN4 > 2u) { c11_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c11_2)))); }
            if (TN4 > 3u) { c11_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c11_3)))); }
        }
        if (TM > 12u) {
            let av = a_row(ar12 + kq, pair, 12u);
            { c12_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c12_0)))); }
            if (TN4 > 1u) { c12_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c12_1)))); }
            if (TN4 > 2u) { c12_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c12_2)))); }
            if (TN4 > 3u) { c12_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c12_3)))); }
        }
        if (TM > 13u) {
            let av = a_row(ar13 + kq, pair, 13u);
            { c13_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c13_0)))); }
            if (TN4 > 1u) { c13_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c13_1)))); }
            if (TN4 > 2u) { c13_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c13_2)))); }
            if (TN4 > 3u) { c13_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c13_3)))); }
        }
        if (TM > 14u) {
            let av = a_row(ar14 + kq, pair, 14u);
            { c14_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c14_0)))); }
            if (TN4 > 1u) { c14_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c14_1)))); }
            if (TN4 > 2u) { c14_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c14_2)))); }
            if (TN4 > 3u) { c14_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c14_3)))); }
        }
        if (TM > 15u) {
            let av = a_row(ar15 + kq, pair, 15u);
            { c15_0 = fma(vec4<f32>(av.w), b3_0, fma(vec4<f32>(av.z), b2_0, fma(vec4<f32>(av.y), b1_0, fma(vec4<f32>(av.x), b0_0, c15_0)))); }
            if (TN4 > 1u) { c15_1 = fma(vec4<f32>(av.w), b3_1, fma(vec4<f32>(av.z), b2_1, fma(vec4<f32>(av.y), b1_1, fma(vec4<f32>(av.x), b0_1, c15_1)))); }
            if (TN4 > 2u) { c15_2 = fma(vec4<f32>(av.w), b3_2, fma(vec4<f32>(av.z), b2_2, fma(vec4<f32>(av.y), b1_2, fma(vec4<f32>(av.x), b0_2, c15_2)))); }
            if (TN4 > 3u) { c15_3 = fma(vec4<f32>(av.w), b3_3, fma(vec4<f32>(av.z), b2_3, fma(vec4<f32>(av.y), b1_3, fma(vec4<f32>(av.x), b0_3, c15_3)))); }
        }
    }
    {
        { store_block(tile.x, row0 + 0u * WG_Y, col0 + 0u * WG_X, n4, c0_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 0u * WG_Y, col0 + 1u * WG_X, n4, c0_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 0u * WG_Y, col0 + 2u * WG_X, n4, c0_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 0u * WG_Y, col0 + 3u * WG_X, n4, c0_3); }
    }
    if (TM > 1u) {
        { store_block(tile.x, row0 + 1u * WG_Y, col0 + 0u * WG_X, n4, c1_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 1u * WG_Y, col0 + 1u * WG_X, n4, c1_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 1u * WG_Y, col0 + 2u * WG_X, n4, c1_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 1u * WG_Y, col0 + 3u * WG_X, n4, c1_3); }
    }
    if (TM > 2u) {
        { store_block(tile.x, row0 + 2u * WG_Y, col0 + 0u * WG_X, n4, c2_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 2u * WG_Y, col0 + 1u * WG_X, n4, c2_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 2u * WG_Y, col0 + 2u * WG_X, n4, c2_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 2u * WG_Y, col0 + 3u * WG_X, n4, c2_3); }
    }
    if (TM > 3u) {
        { store_block(tile.x, row0 + 3u * WG_Y, col0 + 0u * WG_X, n4, c3_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 3u * WG_Y, col0 + 1u * WG_X, n4, c3_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 3u * WG_Y, col0 + 2u * WG_X, n4, c3_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 3u * WG_Y, col0 + 3u * WG_X, n4, c3_3); }
    }
    if (TM > 4u) {
        { store_block(tile.x, row0 + 4u * WG_Y, col0 + 0u * WG_X, n4, c4_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 4u * WG_Y, col0 + 1u * WG_X, n4, c4_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 4u * WG_Y, col0 + 2u * WG_X, n4, c4_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 4u * WG_Y, col0 + 3u * WG_X, n4, c4_3); }
    }
    if (TM > 5u) {
        { store_block(tile.x, row0 + 5u * WG_Y, col0 + 0u * WG_X, n4, c5_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 5u * WG_Y, col0 + 1u * WG_X, n4, c5_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 5u * WG_Y, col0 + 2u * WG_X, n4, c5_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 5u * WG_Y, col0 + 3u * WG_X, n4, c5_3); }
    }
    if (TM > 6u) {
        { store_block(tile.x, row0 + 6u * WG_Y, col0 + 0u * WG_X, n4, c6_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 6u * WG_Y, col0 + 1u * WG_X, n4, c6_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 6u * WG_Y, col0 + 2u * WG_X, n4, c6_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 6u * WG_Y, col0 + 3u * WG_X, n4, c6_3); }
    }
    if (TM > 7u) {
        { store_block(tile.x, row0 + 7u * WG_Y, col0 + 0u * WG_X, n4, c7_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 7u * WG_Y, col0 + 1u * WG_X, n4, c7_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 7u * WG_Y, col0 + 2u * WG_X, n4, c7_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 7u * WG_Y, col0 + 3u * WG_X, n4, c7_3); }
    }
    if (TM > 8u) {
        { store_block(tile.x, row0 + 8u * WG_Y, col0 + 0u * WG_X, n4, c8_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 8u * WG_Y, col0 + 1u * WG_X, n4, c8_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 8u * WG_Y, col0 + 2u * WG_X, n4, c8_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 8u * WG_Y, col0 + 3u * WG_X, n4, c8_3); }
    }
    if (TM > 9u) {
        { store_block(tile.x, row0 + 9u * WG_Y, col0 + 0u * WG_X, n4, c9_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 9u * WG_Y, col0 + 1u * WG_X, n4, c9_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 9u * WG_Y, col0 + 2u * WG_X, n4, c9_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 9u * WG_Y, col0 + 3u * WG_X, n4, c9_3); }
    }
    if (TM > 10u) {
        { store_block(tile.x, row0 + 10u * WG_Y, col0 + 0u * WG_X, n4, c10_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 10u * WG_Y, col0 + 1u * WG_X, n4, c10_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 10u * WG_Y, col0 + 2u * WG_X, n4, c10_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 10u * WG_Y, col0 + 3u * WG_X, n4, c10_3); }
    }
    if (TM > 11u) {
        { store_block(tile.x, row0 + 11u * WG_Y, col0 + 0u * WG_X, n4, c11_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 11u * WG_Y, col0 + 1u * WG_X, n4, c11_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 11u * WG_Y, col0 + 2u * WG_X, n4, c11_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 11u * WG_Y, col0 + 3u * WG_X, n4, c11_3); }
    }
    if (TM > 12u) {
        { store_block(tile.x, row0 + 12u * WG_Y, col0 + 0u * WG_X, n4, c12_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 12u * WG_Y, col0 + 1u * WG_X, n4, c12_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 12u * WG_Y, col0 + 2u * WG_X, n4, c12_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 12u * WG_Y, col0 + 3u * WG_X, n4, c12_3); }
    }
    if (TM > 13u) {
        { store_block(tile.x, row0 + 13u * WG_Y, col0 + 0u * WG_X, n4, c13_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 13u * WG_Y, col0 + 1u * WG_X, n4, c13_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 13u * WG_Y, col0 + 2u * WG_X, n4, c13_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 13u * WG_Y, col0 + 3u * WG_X, n4, c13_3); }
    }
    if (TM > 14u) {
        { store_block(tile.x, row0 + 14u * WG_Y, col0 + 0u * WG_X, n4, c14_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 14u * WG_Y, col0 + 1u * WG_X, n4, c14_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 14u * WG_Y, col0 + 2u * WG_X, n4, c14_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 14u * WG_Y, col0 + 3u * WG_X, n4, c14_3); }
    }
    if (TM > 15u) {
        { store_block(tile.x, row0 + 15u * WG_Y, col0 + 0u * WG_X, n4, c15_0); }
        if (TN4 > 1u) { store_block(tile.x, row0 + 15u * WG_Y, col0 + 1u * WG_X, n4, c15_1); }
        if (TN4 > 2u) { store_block(tile.x, row0 + 15u * WG_Y, col0 + 2u * WG_X, n4, c15_2); }
        if (TN4 > 3u) { store_block(tile.x, row0 + 15u * WG_Y, col0 + 3u * WG_X, n4, c15_3); }
    }
}
