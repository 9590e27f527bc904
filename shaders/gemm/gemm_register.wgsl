// GEMM variant 3, register-blocked: each invocation computes a TM x TN block of
// outputs in registers (up to 8x8), with no workgroup memory. Per step of K it
// loads TM values of A and TN of B and does TM*TN FMAs, so loads per FMA fall
// from 2 to (TM + TN) / (TM * TN). Works for any strides (transposes, broadcast
// batches). Rows and columns of a block are interleaved by the 8x8 workgroup so
// that neighbouring invocations read neighbouring elements. Out-of-range rows
// and columns read a clamped valid element and are masked at the store, so the
// inner loop has no branches.
//
// The accumulators are written out one by one (c<row>_<col>) behind `if (TM > i)`
// guards on override constants: a dynamically indexed accumulator array spills
// to memory on lavapipe when its loops are not fully unrolled.
// Includes: precision prelude, grid, activation, gemm/params, gemm/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

override TM: u32 = 4u;
override TN: u32 = 4u;
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
    let row0 = tile.y * WG * TM + lid.y;
    let col0 = tile.z * WG * TN + lid.x;
    let ar0 = a_at(tile.x) + min(row0 + 0u * WG, p.m - 1u) * p.a_rs;
    let ar1 = a_at(tile.x) + min(row0 + 1u * WG, p.m - 1u) * p.a_rs;
    let ar2 = a_at(tile.x) + min(row0 + 2u * WG, p.m - 1u) * p.a_rs;
    let ar3 = a_at(tile.x) + min(row0 + 3u * WG, p.m - 1u) * p.a_rs;
    let ar4 = a_at(tile.x) + min(row0 + 4u * WG, p.m - 1u) * p.a_rs;
    let ar5 = a_at(tile.x) + min(row0 + 5u * WG, p.m - 1u) * p.a_rs;
    let ar6 = a_at(tile.x) + min(row0 + 6u * WG, p.m - 1u) * p.a_rs;
    let ar7 = a_at(tile.x) + min(row0 + 7u * WG, p.m - 1u) * p.a_rs;
    let bc0 = b_at(tile.x) + min(col0 + 0u * WG, p.n - 1u) * p.b_cs;
    let bc1 = b_at(tile.x) + min(col0 + 1u * WG, p.n - 1u) * p.b_cs;
    let bc2 = b_at(tile.x) + min(col0 + 2u * WG, p.n - 1u) * p.b_cs;
    let bc3 = b_at(tile.x) + min(col0 + 3u * WG, p.n - 1u) * p.b_cs;
    let bc4 = b_at(tile.x) + min(col0 + 4u * WG, p.n - 1u) * p.b_cs;
    let bc5 = b_at(tile.x) + min(col0 + 5u * WG, p.n - 1u) * p.b_cs;
    let bc6 = b_at(tile.x) + min(col0 + 6u * WG, p.n - 1u) * p.b_cs;
    let bc7 = b_at(tile.x) + min(col0 + 7u * WG, p.n - 1u) * p.b_cs;
    var c0_0 = 0.0; var c0_1 = 0.0; var c0_2 = 0.0; var c0_3 = 0.0; var c0_4 = 0.0; var c0_5 = 0.0; var c0_6 = 0.0; var c0_7 = 0.0;
    var c1_0 = 0.0; var c1_1 = 0.0; var c1_2 = 0.0; var c1_3 = 0.0; var c1_4 = 0.0; var c1_5 = 0.0; var c1_6 = 0.0; var c1_7 = 0.0;
    var c2_0 = 0.0; var c2_1 = 0.0; var c2_2 = 0.0; var c2_3 = 0.0; var c2_4 = 0.0; var c2_5 = 0.0; var c2_6 = 0.0; var c2_7 = 0.0;
    var c3_0 = 0.0; var c3_1 = 0.0; var c3_2 = 0.0; var c3_3 = 0.0; var c3_4 = 0.0; var c3_5 = 0.0; var c3_6 = 0.0; var c3_7 = 0.0;
    var c4_0 = 0.0; var c4_1 = 0.0; var c4_2 = 0.0; var c4_3 = 0.0; var c4_4 = 0.0; var c4_5 = 0.0; var c4_6 = 0.0; var c4_7 = 0.0;
    var c5_0 = 0.0; var c5_1 = 0.0; var c5_2 = 0.0; var c5_3 = 0.0; var c5_4 = 0.0; var c5_5 = 0.0; var c5_6 = 0.0; var c5_7 = 0.0;
    var c6_0 = 0.0; var c6_1 = 0.0; var c6_2 = 0.0; var c6_3 = 0.0; var c6_4 = 0.0; var c6_5 = 0.0; var c6_6 = 0.0; var c6_7 = 0.0;
    var c7_0 = 0.0; var c7_1 = 0.0; var c7_2 = 0.0; var c7_3 = 0.0; var c7_4 = 0.0; var c7_5 = 0.0; var c7_6 = 0.0; var c7_7 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let ka = kk * p.a_cs;
        let kb = kk * p.b_rs;
        let b0 = f32(b[bc0 + kb]);
        let b1 = f32(b[bc1 + kb]);
        let b2 = f32(b[bc2 + kb]);
        let b3 = f32(b[bc3 + kb]);
        let b4 = f32(b[bc4 + kb]);
        let b5 = f32(b[bc5 + kb]);
        let b6 = f32(b[bc6 + kb]);
        let b7 = f32(b[bc7 + kb]);
        {
            let av = f32(a[ar0 + ka]);
            { c0_0 = fma(av, b0, c0_0); }
            if (TN > 1u) { c0_1 = fma(av, b1, c0_1); }
            if (TN > 2u) { c0_2 = fma(av, b2, c0_2); }
            if (TN > 3u) { c0_3 = fma(av, b3, c0_3); }
            if (TN > 4u) { c0_4 = fma(av, b4, c0_4); }
            if (TN > 5u) { c0_5 = fma(av, b5, c0_5); }
            if (TN > 6u) { c0_6 = fma(av, b6, c0_6); }
            if (TN > 7u) { c0_7 = fma(av, b7, c0_7); }
        }
        if (TM > 1u) {
            let av = f32(a[ar1 + ka]);
            { c1_0 = fma(av, b0, c1_0); }
            if (TN > 1u) { c1_1 = fma(av, b1, c1_1); }
            if (TN > 2u) { c1_2 = fma(av, b2, c1_2); }
            if (TN > 3u) { c1_3 = fma(av, b3, c1_3); }
            if (TN > 4u) { c1_4 = fma(av, b4, c1_4); }
            if (TN > 5u) { c1_5 = fma(av, b5, c1_5); }
            if (TN > 6u) { c1_6 = fma(av, b6, c1_6); }
            if (TN > 7u) { c1_7 = fma(av, b7, c1_7); }
        }
        if (TM > 2u) {
            let av = f32(a[ar2 + ka]);
            { c2_0 = fma(av, b0, c2_0); }
            if (TN > 1u) { c2_1 = fma(av, b1, c2_1); }
            if (TN > 2u) { c2_2 = fma(av, b2, c2_2); }
            if (TN > 3u) { c2_3 = fma(av, b3, c2_3); }
            if (TN > 4u) { c2_4 = fma(av, b4, c2_4); }
            if (TN > 5u) { c2_5 = fma(av, b5, c2_5); }
            if (TN > 6u) { c2_6 = fma(av, b6, c2_6); }
            if (TN > 7u) { c2_7 = fma(av, b7, c2_7); }
        }
        if (TM > 3u) {
            let av = f32(a[ar3 + ka]);
            { c3_0 = fma(av, b0, c3_0); }
            if (TN > 1u) { c3_1 = fma(av, b1, c3_1); }
            if (TN > 2u) { c3_2 = fma(av, b2, c3_2); }
            if (TN > 3u) { c3_3 = fma(av, b3, c3_3); }
            if (TN > 4u) { c3_4 = fma(av, b4, c3_4); }
            if (TN > 5u) { c3_5 = fma(av, b5, c3_5); }
            if (TN > 6u) { c3_6 = fma(av, b6, c3_6); }
            if (TN > 7u) { c3_7 = fma(av, b7, c3_7); }
        }
        if (TM > 4u) {
            let av = f32(a[ar4 + ka]);
            { c4_0 = fma(av, b0, c4_0); }
            if (TN > 1u) { c4_1 = fma(av, b1, c4_1); }
            if (TN > 2u) { c4_2 = fma(av, b2, c4_2); }
            if (TN > 3u) { c4_3 = fma(av, b3, c4_3); }
            if (TN > 4u) { c4_4 = fma(av, b4, c4_4); }
            if (TN > 5u) { c4_5 = fma(av, b5, c4_5); }
            if (TN > 6u) { c4_6 = fma(av, b6, c4_6); }
            if (TN > 7u) { c4_7 = fma(av, b7, c4_7); }
        }
        if (TM > 5u) {
            let av = f32(a[ar5 + ka]);
            { c5_0 = fma(av, b0, c5_0); }
            if (TN > 1u) { c5_1 = fma(av, b1, c5_1); }
            if (TN > 2u) { c5_2 = fma(av, b2, c5_2); }
            if (TN > 3u) { c5_3 = fma(av, b3, c5_3); }
            if (TN > 4u) { c5_4 = fma(av, b4, c5_4); }
            if (TN > 5u) { c5_5 = fma(av, b5, c5_5); }
            if (TN > 6u) { c5_6 = fma(av, b6, c5_6); }
            if (TN > 7u) { c5_7 = fma(av, b7, c5_7); }
        }
        if (TM > 6u) {
            let av = f32(a[ar6 + ka]);
            { c6_0 = fma(av, b0, c6_0); }
            if (TN > 1u) { c6_1 = fma(av, b1, c6_1); }
            if (TN > 2u) { c6_2 = fma(av, b2, c6_2); }
            if (TN > 3u) { c6_3 = fma(av, b3, c6_3); }
            if (TN > 4u) { c6_4 = fma(av, b4, c6_4); }
            if (TN > 5u) { c6_5 = fma(av, b5, c6_5); }
            if (TN > 6u) { c6_6 = fma(av, b6, c6_6); }
            if (TN > 7u) { c6_7 = fma(av, b7, c6_7); }
        }
        if (TM > 7u) {
            let av = f32(a[ar7 + ka]);
            { c7_0 = fma(av, b0, c7_0); }
            if (TN > 1u) { c7_1 = fma(av, b1, c7_1); }
            if (TN > 2u) { c7_2 = fma(av, b2, c7_2); }
            if (TN > 3u) { c7_3 = fma(av, b3, c7_3); }
            if (TN > 4u) { c7_4 = fma(av, b4, c7_4); }
            if (TN > 5u) { c7_5 = fma(av, b5, c7_5); }
            if (TN > 6u) { c7_6 = fma(av, b6, c7_6); }
            if (TN > 7u) { c7_7 = fma(av, b7, c7_7); }
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
