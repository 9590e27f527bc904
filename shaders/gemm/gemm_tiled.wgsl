// GEMM variant 2, workgroup-tiled: the classic 16x16 tiles staged through
// workgroup memory, K in steps of 16. Each operand element is loaded from
// storage once per workgroup instead of once per output: 2*K/16 loads per
// output. Good on GPUs with fast shared memory; on CPU rasterisers the barriers
// cost more than the loads they save.
// Includes: grid, precision prelude, activation, gemm/params, gemm/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

const TS: u32 = 16u;

var<workgroup> a_tile: array<f32, 256>;
var<workgroup> b_tile: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = gemm_tile(flat_workgroup(wid, nwg));
    // Uniform per workgroup, so returning here keeps the barriers below uniform.
    if (tile.x >= p.batch) {
        return;
    }
    let row = tile.y * TS + lid.y;
    let col = tile.z * TS + lid.x;
    let a_base = a_at(tile.x) + row * p.a_rs;
    let b_base = b_at(tile.x) + col * p.b_cs;
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.k; k0 += TS) {
        let ka = k0 + lid.x;
        var av = 0.0;
        if (row < p.m && ka < p.k) {
            av = f32(a[a_base + ka * p.a_cs]);
        }
        a_tile[lid.y * TS + lid.x] = av;
        let kb = k0 + lid.y;
        var bv = 0.0;
        if (col < p.n && kb < p.k) {
            bv = f32(b[b_base + kb * p.b_rs]);
        }
        b_tile[lid.y * TS + lid.x] = bv;
        workgroupBarrier();
        for (var kk = 0u; kk < TS; kk++) {
            acc = fma(a_tile[lid.y * TS + kk], b_tile[kk * TS + lid.x], acc);
        }
        workgroupBarrier();
    }
    if (row < p.m && col < p.n) {
        c[c_at(tile.x) + row * p.c_rs + col] = T(epilogue(tile.x, row, col, acc));
    }
}
