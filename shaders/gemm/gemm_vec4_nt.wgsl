// GEMM variant 6, "NT": C = A·Bᵀ with both operands read as vec4 along K.
// Dense layers compute x·Wᵀ (A = x [M, K], B = W [N, K]) and the weight
// gradient of an im2col convolution is dy·colsᵀ: both operands are
// contiguous along the reduction, which the vec4 kernels (B along N) cannot
// use and the register kernels read one scalar at a time. Here each
// invocation keeps TM rows of A and TN rows of B in flight (up to 8 x 8) and
// per step of 4 along K loads TM + TN vec4s for 4·TM·TN FMAs: a quarter of
// register_8x8's loads per FMA, what vec4_8x8 achieves for row-major B. The
// TM·TN accumulators are scalars (dot products as chains of four FMAs, in
// order along K), 64 registers at 8x8 like vec4_8x8's.
//
// Mapping: an 8x8 workgroup covers (8·TM) x (8·TN) outputs; invocation
// (lid.x, lid.y) takes rows row0 + i·8 and columns col0 + j·8, so neighbours
// read neighbouring rows. Out-of-range rows and columns read a clamped valid
// row and are masked at the store; the accumulators are written out one by
// one behind `if (TM > i)` guards (a dynamically indexed array spills on
// lavapipe).
//
// Preconditions (checked by the launcher): A's rows and B's rows (trans_b)
// are contiguous along K (a_cs = b_rs = 1), K % 4 == 0, and the row strides
// (a_rs, b_cs) and batch strides are multiples of 4: rows may be longer than
// K, so that a batch can be consecutive K ranges of the same rows (the split
// reduction of the weight gradient).
// A's rows go through the row hooks (gemm/a_rows.wgsl): each invocation's
// own loads, or loads shared across a subgroup (`vec4_nt_8x8_sg`).
// Includes: precision prelude, grid, activation, gemm/params, gemm/epilogue,
// gemm/a_rows, and gemm/a_rows_own or gemm/a_rows_subgroup.

@group(0) @binding(1) var<storage, read> a: array<T4>;
@group(0) @binding(2) var<storage, read> b: array<T4>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

override TM: u32 = 8u;
override TN: u32 = 8u;
const WG: u32 = 8u;

fn store(bt: u32, row: u32, col: u32, v: f32) {
    if (row < p.m && col < p.n) {
        c[c_at(bt) + row * p.c_rs + col] = T(epilogue(bt, row, col, v));
    }
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = gemm_tile(flat_workgroup(wid, nwg));
    if (tile.x >= p.batch) {
        return;
    }
    let k4 = p.k / 4u;
    let ars4 = p.a_rs / 4u;
    let bcs4 = p.b_cs / 4u;
    let row0 = tile.y * WG * TM + lid.y;
    let col0 = tile.z * WG * TN + lid.x;
    let a_base = a_at(tile.x) / 4u;
    let b_base = b_at(tile.x) / 4u;
    let ar0 = a_base + min(row0 + 0u * WG, p.m - 1u) * ars4;
    let ar1 = a_base + min(row0 + 1u * WG, p.m - 1u) * ars4;
    let ar2 = a_base + min(row0 + 2u * WG, p.m - 1u) * ars4;
    let ar3 = a_base + min(row0 + 3u * WG, p.m - 1u) * ars4;
    let ar4 = a_base + min(row0 + 4u * WG, p.m - 1u) * ars4;
    let ar5 = a_base + min(row0 + 5u * WG, p.m - 1u) * ars4;
    let ar6 = a_base + min(row0 + 6u * WG, p.m - 1u) * ars4;
    let ar7 = a_base + min(row0 + 7u * WG, p.m - 1u) * ars4;
    // Where A's rows come from (the variant's row hooks, gemm/a_rows.wgsl).
    let share = a_share(a_base, row0, WG, ars4);
    let br0 = b_base + min(col0 + 0u * WG, p.n - 1u) * bcs4;
    let br1 = b_base + min(col0 + 1u * WG, p.n - 1u) * bcs4;
    let br2 = b_base + min(col0 + 2u * WG, p.n - 1u) * bcs4;
    let br3 = b_base + min(col0 + 3u * WG, p.n - 1u) * bcs4;
    let br4 = b_base + min(col0 + 4u * WG, p.n - 1u) * bcs4;
    let br5 = b_base + min(col0 + 5u * WG, p.n - 1u) * bcs4;
    let br6 = b_base + min(col0 + 6u * WG, p.n - 1u) * bcs4;
    let br7 = b_base + min(col0 + 7u * WG, p.n - 1u) * bcs4;
    var c0_0 = 0.0; var c0_1 = 0.0; var c0_2 = 0.0; var c0_3 = 0.0; var c0_4 = 0.0; var c0_5 = 0.0; var c0_6 = 0.0; var c0_7 = 0.0;
    var c1_0 = 0.0; var c1_1 = 0.0; var c1_2 = 0.0; var c1_3 = 0.0; var c1_4 = 0.0; var c1_5 = 0.0; var c1_6 = 0.0; var c1_7 = 0.0;
    var c2_0 = 0.0; var c2_1 = 0.0; var c2_2 = 0.0; var c2_3 = 0.0; var c2_4 = 0.0; var c2_5 = 0.0; var c2_6 = 0.0; var c2_7 = 0.0;
    var c3_0 = 0.0; var c3_1 = 0.0; var c3_2 = 0.0; var c3_3 = 0.0; var c3_4 = 0.0; var c3_5 = 0.0; var c3_6 = 0.0; var c3_7 = 0.0;
    var c4_0 = 0.0; var c4_1 = 0.0; var c4_2 = 0.0; var c4_3 = 0.0; var c4_4 = 0.0; var c4_5 = 0.0; var c4_6 = 0.0; var c4_7 = 0.0;
    var c5_0 = 0.0; var c5_1 = 0.0; var c5_2 = 0.0; var c5_3 = 0.0; var c5_4 = 0.0; var c5_5 = 0.0; var c5_6 = 0.0; var c5_7 = 0.0;
    var c6_0 = 0.0; var c6_1 = 0.0; var c6_2 = 0.0; var c6_3 = 0.0; var c6_4 = 0.0; var c6_5 = 0.0; var c6_6 = 0.0; var c6_7 = 0.0;
    var c7_0 = 0.0; var c7_1 = 0.0; var c7_2 = 0.0; var c7_3 = 0.0; var c7_4 = 0.0; var c7_5 = 0.0; var c7_6 = 0.0; var c7_7 = 0.0;
    for (var kq = 0u; kq < k4; kq++) {
        let pair = a_share_load(share, kq);
        let b0 = vec4<f32>(b[br0 + kq]);
        var b1 = vec4<f32>(0.0);
        if (TN > 1u) { b1 = vec4<f32>(b[br1 + kq]); }
        var b2 = vec4<f32>(0.0);
        if (TN > 2u) { b2 = vec4<f32>(b[br2 + kq]); }
        var b3 = vec4<f32>(0.0);
        if (TN > 3u) { b3 = vec4<f32>(b[br3 + kq]); }
        var b4 = vec4<f32>(0.0);
        if (TN > 4u) { b4 = vec4<f32>(b[br4 + kq]); }
        var b5 = vec4<f32>(0.0);
        if (TN > 5u) { b5 = vec4<f32>(b[br5 + kq]); }
        var b6 = vec4<f32>(0.0);
        if (TN > 6u) { b6 = vec4<f32>(b[br6 + kq]); }
        var b7 = vec4<f32>(0.0);
        if (TN > 7u) { b7 = vec4<f32>(b[br7 + kq]); }
        {
            let av = a_row(ar0 + kq, pair, 0u);
            { c0_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c0_0)))); }
            if (TN > 1u) { c0_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c0_1)))); }
            if (TN > 2u) { c0_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c0_2)))); }
            if (TN > 3u) { c0_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c0_3)))); }
            if (TN > 4u) { c0_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c0_4)))); }
            if (TN > 5u) { c0_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c0_5)))); }
            if (TN > 6u) { c0_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c0_6)))); }
            if (TN > 7u) { c0_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c0_7)))); }
        }
        if (TM > 1u) {
            let av = a_row(ar1 + kq, pair, 1u);
            { c1_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c1_0)))); }
            if (TN > 1u) { c1_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c1_1)))); }
            if (TN > 2u) { c1_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c1_2)))); }
            if (TN > 3u) { c1_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c1_3)))); }
            if (TN > 4u) { c1_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c1_4)))); }
            if (TN > 5u) { c1_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c1_5)))); }
            if (TN > 6u) { c1_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c1_6)))); }
            if (TN > 7u) { c1_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c1_7)))); }
        }
        if (TM > 2u) {
            let av = a_row(ar2 + kq, pair, 2u);
            { c2_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c2_0)))); }
            if (TN > 1u) { c2_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c2_1)))); }
            if (TN > 2u) { c2_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c2_2)))); }
            if (TN > 3u) { c2_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c2_3)))); }
            if (TN > 4u) { c2_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c2_4)))); }
            if (TN > 5u) { c2_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c2_5)))); }
            if (TN > 6u) { c2_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c2_6)))); }
            if (TN > 7u) { c2_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c2_7)))); }
        }
        if (TM > 3u) {
            let av = a_row(ar3 + kq, pair, 3u);
            { c3_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c3_0)))); }
            if (TN > 1u) { c3_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c3_1)))); }
            if (TN > 2u) { c3_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c3_2)))); }
            if (TN > 3u) { c3_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c3_3)))); }
            if (TN > 4u) { c3_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c3_4)))); }
            if (TN > 5u) { c3_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c3_5)))); }
            if (TN > 6u) { c3_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c3_6)))); }
            if (TN > 7u) { c3_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c3_7)))); }
        }
        if (TM > 4u) {
            let av = a_row(ar4 + kq, pair, 4u);
            { c4_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c4_0)))); }
            if (TN > 1u) { c4_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c4_1)))); }
            if (TN > 2u) { c4_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c4_2)))); }
            if (TN > 3u) { c4_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c4_3)))); }
            if (TN > 4u) { c4_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c4_4)))); }
            if (TN > 5u) { c4_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c4_5)))); }
            if (TN > 6u) { c4_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c4_6)))); }
            if (TN > 7u) { c4_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c4_7)))); }
        }
        if (TM > 5u) {
            let av = a_row(ar5 + kq, pair, 5u);
            { c5_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c5_0)))); }
            if (TN > 1u) { c5_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c5_1)))); }
            if (TN > 2u) { c5_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c5_2)))); }
            if (TN > 3u) { c5_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c5_3)))); }
            if (TN > 4u) { c5_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c5_4)))); }
            if (TN > 5u) { c5_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c5_5)))); }
            if (TN > 6u) { c5_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c5_6)))); }
            if (TN > 7u) { c5_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c5_7)))); }
        }
        if (TM > 6u) {
            let av = a_row(ar6 + kq, pair, 6u);
            { c6_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c6_0)))); }
            if (TN > 1u) { c6_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c6_1)))); }
            if (TN > 2u) { c6_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c6_2)))); }
            if (TN > 3u) { c6_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c6_3)))); }
            if (TN > 4u) { c6_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c6_4)))); }
            if (TN > 5u) { c6_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c6_5)))); }
            if (TN > 6u) { c6_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c6_6)))); }
            if (TN > 7u) { c6_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c6_7)))); }
        }
        if (TM > 7u) {
            let av = a_row(ar7 + kq, pair, 7u);
            { c7_0 = fma(av.w, b0.w, fma(av.z, b0.z, fma(av.y, b0.y, fma(av.x, b0.x, c7_0)))); }
            if (TN > 1u) { c7_1 = fma(av.w, b1.w, fma(av.z, b1.z, fma(av.y, b1.y, fma(av.x, b1.x, c7_1)))); }
            if (TN > 2u) { c7_2 = fma(av.w, b2.w, fma(av.z, b2.z, fma(av.y, b2.y, fma(av.x, b2.x, c7_2)))); }
            if (TN > 3u) { c7_3 = fma(av.w, b3.w, fma(av.z, b3.z, fma(av.y, b3.y, fma(av.x, b3.x, c7_3)))); }
            if (TN > 4u) { c7_4 = fma(av.w, b4.w, fma(av.z, b4.z, fma(av.y, b4.y, fma(av.x, b4.x, c7_4)))); }
            if (TN > 5u) { c7_5 = fma(av.w, b5.w, fma(av.z, b5.z, fma(av.y, b5.y, fma(av.x, b5.x, c7_5)))); }
            if (TN > 6u) { c7_6 = fma(av.w, b6.w, fma(av.z, b6.z, fma(av.y, b6.y, fma(av.x, b6.x, c7_6)))); }
            if (TN > 7u) { c7_7 = fma(av.w, b7.w, fma(av.z, b7.z, fma(av.y, b7.y, fma(av.x, b7.x, c7_7)))); }
        }
    }
    {
        { store(tile.x, row0 + 0u * WG, col0 + 0u * WG, c0_0); }
        if (TN > 1u) { store(tile.x, row0 + 0u * WG, col0 + 1u * WG, c0_1); }
        if (TN > 2u) { store(tile.x, row0 + 0u * WG, col0 + 2u * WG, c0_2); }
        if (TN > 3u) { store(tile.x, row0 + 0u * WG, col0 + 3u * WG, c0_3); }
        if (TN > 4u) { store(tile.x, row0 + 0u * WG, col0 + 4u * WG, c0_4); }
        if (TN > 5u) { store(tile.x, row0 + 0u * WG, col0 + 5u * WG, c0_5); }
        if (TN > 6u) { store(tile.x, row0 + 0u * WG, col0 + 6u * WG, c0_6); }
        if (TN > 7u) { store(tile.x, row0 + 0u * WG, col0 + 7u * WG, c0_7); }
    }
    if (TM > 1u) {
        { store(tile.x, row0 + 1u * WG, col0 + 0u * WG, c1_0); }
        if (TN > 1u) { store(tile.x, row0 + 1u * WG, col0 + 1u * WG, c1_1); }
        if (TN > 2u) { store(tile.x, row0 + 1u * WG, col0 + 2u * WG, c1_2); }
        if (TN > 3u) { store(tile.x, row0 + 1u * WG, col0 + 3u * WG, c1_3); }
        if (TN > 4u) { store(tile.x, row0 + 1u * WG, col0 + 4u * WG, c1_4); }
        if (TN > 5u) { store(tile.x, row0 + 1u * WG, col0 + 5u * WG, c1_5); }
        if (TN > 6u) { store(tile.x, row0 + 1u * WG, col0 + 6u * WG, c1_6); }
        if (TN > 7u) { store(tile.x, row0 + 1u * WG, col0 + 7u * WG, c1_7); }
    }
    if (TM > 2u) {
        { store(tile.x, row0 + 2u * WG, col0 + 0u * WG, c2_0); }
        if (TN > 1u) { store(tile.x, row0 + 2u * WG, col0 + 1u * WG, c2_1); }
        if (TN > 2u) { store(tile.x, row0 + 2u * WG, col0 + 2u * WG, c2_2); }
        if (TN > 3u) { store(tile.x, row0 + 2u * WG, col0 + 3u * WG, c2_3); }
        if (TN > 4u) { store(tile.x, row0 + 2u * WG, col0 + 4u * WG, c2_4); }
        if (TN > 5u) { store(tile.x, row0 + 2u * WG, col0 + 5u * WG, c2_5); }
        if (TN > 6u) { store(tile.x, row0 + 2u * WG, col0 + 6u * WG, c2_6); }
        if (TN > 7u) { store(tile.x, row0 + 2u * WG, col0 + 7u * WG, c2_7); }
    }
    if (TM > 3u) {
        { store(tile.x, row0 + 3u * WG, col0 + 0u * WG, c3_0); }
        if (TN > 1u) { store(tile.x, row0 + 3u * WG, col0 + 1u * WG, c3_1); }
        if (TN > 2u) { store(tile.x, row0 + 3u * WG, col0 + 2u * WG, c3_2); }
        if (TN > 3u) { store(tile.x, row0 + 3u * WG, col0 + 3u * WG, c3_3); }
        if (TN > 4u) { store(tile.x, row0 + 3u * WG, col0 + 4u * WG, c3_4); }
        if (TN > 5u) { store(tile.x, row0 + 3u * WG, col0 + 5u * WG, c3_5); }
        if (TN > 6u) { store(tile.x, row0 + 3u * WG, col0 + 6u * WG, c3_6); }
        if (TN > 7u) { store(tile.x, row0 + 3u * WG, col0 + 7u * WG, c3_7); }
    }
    if (TM > 4u) {
        { store(tile.x, row0 + 4u * WG, col0 + 0u * WG, c4_0); }
        if (TN > 1u) { store(tile.x, row0 + 4u * WG, col0 + 1u * WG, c4_1); }
        if (TN > 2u) { store(tile.x, row0 + 4u * WG, col0 + 2u * WG, c4_2); }
        if (TN > 3u) { store(tile.x, row0 + 4u * WG, col0 + 3u * WG, c4_3); }
        if (TN > 4u) { store(tile.x, row0 + 4u * WG, col0 + 4u * WG, c4_4); }
        if (TN > 5u) { store(tile.x, row0 + 4u * WG, col0 + 5u * WG, c4_5); }
        if (TN > 6u) { store(tile.x, row0 + 4u * WG, col0 + 6u * WG, c4_6); }
        if (TN > 7u) { store(tile.x, row0 + 4u * WG, col0 + 7u * WG, c4_7); }
    }
    if (TM > 5u) {
        { store(tile.x, row0 + 5u * WG, col0 + 0u * WG, c5_0); }
        if (TN > 1u) { store(tile.x, row0 + 5u * WG, col0 + 1u * WG, c5_1); }
        if (TN > 2u) { store(tile.x, row0 + 5u * WG, col0 + 2u * WG, c5_2); }
        if (TN > 3u) { store(tile.x, row0 + 5u * WG, col0 + 3u * WG, c5_3); }
        if (TN > 4u) { store(tile.x, row0 + 5u * WG, col0 + 4u * WG, c5_4); }
        if (TN > 5u) { store(tile.x, row0 + 5u * WG, col0 + 5u * WG, c5_5); }
        if (TN > 6u) { store(tile.x, row0 + 5u * WG, col0 + 6u * WG, c5_6); }
        if (TN > 7u) { store(tile.x, row0 + 5u * WG, col0 + 7u * WG, c5_7); }
    }
    if (TM > 6u) {
        { store(tile.x, row0 + 6u * WG, col0 + 0u * WG, c6_0); }
        if (TN > 1u) { store(tile.x, row0 + 6u * WG, col0 + 1u * WG, c6_1); }
        if (TN > 2u) { store(tile.x, row0 + 6u * WG, col0 + 2u * WG, c6_2); }
        if (TN > 3u) { store(tile.x, row0 + 6u * WG, col0 + 3u * WG, c6_3); }
        if (TN > 4u) { store(tile.x, row0 + 6u * WG, col0 + 4u * WG, c6_4); }
        if (TN > 5u) { store(tile.x, row0 + 6u * WG, col0 + 5u * WG, c6_5); }
        if (TN > 6u) { store(tile.x, row0 + 6u * WG, col0 + 6u * WG, c6_6); }
        if (TN > 7u) { store(tile.x, row0 + 6u * WG, col0 + 7u * WG, c6_7); }
    }
    if (TM > 7u) {
        { store(tile.x, row0 + 7u * WG, col0 + 0u * WG, c7_0); }
        if (TN > 1u) { store(tile.x, row0 + 7u * WG, col0 + 1u * WG, c7_1); }
        if (TN > 2u) { store(tile.x, row0 + 7u * WG, col0 + 2u * WG, c7_2); }
        if (TN > 3u) { store(tile.x, row0 + 7u * WG, col0 + 3u * WG, c7_3); }
        if (TN > 4u) { store(tile.x, row0 + 7u * WG, col0 + 4u * WG, c7_4); }
        if (TN > 5u) { store(tile.x, row0 + 7u * WG, col0 + 5u * WG, c7_5); }
        if (TN > 6u) { store(tile.x, row0 + 7u * WG, col0 + 6u * WG, c7_6); }
        if (TN > 7u) { store(tile.x, row0 + 7u * WG, col0 + 7u * WG, c7_7); }
    }
}
