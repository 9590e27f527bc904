// GEMM variant 3, register-blocked: each invocation computes a TM x TN block of
// outputs in registers (up to 8x8), with no workgroup memory. Per step of K it
// loads TM values of A and TN of B and does TM*TN FMAs, so loads per FMA fall
// from 2 to (TM + TN) / (TM * TN). Works for any strides (transposes, broadcast
// batches). Rows and columns of a block are interleaved by the 8x8 workgroup so
// that neighbouring invocations read neighbouring elements. Out-of-range rows
// and columns read a clamped valid element and are masked at the store, so the
// inner loop has no branches.
// Includes: grid, precision prelude, activation, gemm/params, gemm/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

override TM: u32 = 4u;
override TN: u32 = 4u;
const MAX_T: u32 = 8u;
const WG: u32 = 8u;

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
    var a_idx: array<u32, MAX_T>;
    var b_idx: array<u32, MAX_T>;
    for (var i = 0u; i < TM; i++) {
        let r = min(row0 + i * WG, p.m - 1u);
        a_idx[i] = tile.x * p.a_bs + r * p.a_rs;
    }
    for (var j = 0u; j < TN; j++) {
        let cc = min(col0 + j * WG, p.n - 1u);
        b_idx[j] = tile.x * p.b_bs + cc * p.b_cs;
    }
    var acc: array<f32, 64>;
    var av: array<f32, MAX_T>;
    var bv: array<f32, MAX_T>;
    for (var kk = 0u; kk < p.k; kk++) {
        for (var i = 0u; i < TM; i++) {
            av[i] = f32(a[a_idx[i] + kk * p.a_cs]);
        }
        for (var j = 0u; j < TN; j++) {
            bv[j] = f32(b[b_idx[j] + kk * p.b_rs]);
        }
        for (var i = 0u; i < TM; i++) {
            for (var j = 0u; j < TN; j++) {
                acc[i * MAX_T + j] = fma(av[i], bv[j], acc[i * MAX_T + j]);
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let row = row0 + i * WG;
        for (var j = 0u; j < TN; j++) {
            let col = col0 + j * WG;
            if (row < p.m && col < p.n) {
                c[tile.x * p.c_bs + row * p.n + col] = T(epilogue(tile.x, row, col, acc[i * MAX_T + j]));
            }
        }
    }
}
