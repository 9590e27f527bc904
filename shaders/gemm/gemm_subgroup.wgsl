// GEMM variant 5, subgroup-shared A: each invocation computes one column of a
// block of TM rows. Within a subgroup every lane needs the same A values, so
// lane l loads A(row, k0 + l) once and the subgroup passes them around with
// subgroupShuffle: A loads per output fall by the subgroup size. Needs the
// subgroups feature; control flow stays uniform across the subgroup (no early
// exit per lane: out-of-range columns read a clamped element and skip the store).
// Includes: grid, precision prelude, activation, gemm/params, gemm/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

const TM: u32 = 8u;
const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_size) sg_size: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let tile = gemm_tile(flat_workgroup(wid, nwg));
    if (tile.x >= p.batch) {
        return;
    }
    let row0 = tile.y * TM;
    let col = tile.z * WG + lid;
    let colc = min(col, p.n - 1u);
    let b_base = b_at(tile.x) + colc * p.b_cs;
    var a_row: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        a_row[i] = a_at(tile.x) + min(row0 + i, p.m - 1u) * p.a_rs;
    }
    var acc: array<f32, TM>;
    for (var k0 = 0u; k0 < p.k; k0 += sg_size) {
        // Each lane fetches one K position for every row of the block.
        let kl = min(k0 + lane, p.k - 1u);
        var av: array<f32, TM>;
        for (var i = 0u; i < TM; i++) {
            av[i] = f32(a[a_row[i] + kl * p.a_cs]);
        }
        let steps = min(sg_size, p.k - k0);
        for (var s = 0u; s < steps; s++) {
            let bv = f32(b[b_base + (k0 + s) * p.b_rs]);
            for (var i = 0u; i < TM; i++) {
                acc[i] = fma(subgroupShuffle(av[i], s), bv, acc[i]);
            }
        }
    }
    if (col < p.n) {
        for (var i = 0u; i < TM; i++) {
            let row = row0 + i;
            if (row < p.m) {
                c[c_at(tile.x) + row * p.c_rs + col] = T(epilogue(tile.x, row, col, acc[i]));
            }
        }
    }
}
