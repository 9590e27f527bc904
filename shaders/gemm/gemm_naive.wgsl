// GEMM variant 1, naive: one output element per invocation, 16x16 invocations
// per workgroup, every operand load straight from storage. The baseline every
// other variant is measured against. 2*M*N*K FLOPs, (2*K + 1) loads per output.
// Includes: grid, precision prelude, activation, gemm/params, gemm/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = gemm_tile(flat_workgroup(wid, nwg));
    let row = tile.y * 16u + lid.y;
    let col = tile.z * 16u + lid.x;
    if (tile.x >= p.batch || row >= p.m || col >= p.n) {
        return;
    }
    var ia = a_at(tile.x) + row * p.a_rs;
    var ib = b_at(tile.x) + col * p.b_cs;
    var acc = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        acc = fma(f32(a[ia]), f32(b[ib]), acc);
        ia += p.a_cs;
        ib += p.b_rs;
    }
    c[c_at(tile.x) + row * p.c_rs + col] = T(epilogue(tile.x, row, col, acc));
}
