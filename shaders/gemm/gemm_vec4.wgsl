// GEMM variant 4, register-blocked with vector loads: each invocation computes
// TM rows x 4*TN4 columns (up to 16 x 16) in vec4 registers, loading A as vec4
// along K and B as vec4 along N, with no workgroup memory. The fastest form on
// CPU rasterisers, where per-lane loads are the bottleneck and every vec4 load
// feeds 4*TN4 (A) or TM (B) vector FMAs.
// Preconditions (checked by the launcher): A is M x K and B is K x N, both
// row-major and contiguous per batch (no transposes), K % 4 == 0, N % 4 == 0.
// Includes: grid, precision prelude, activation, gemm/params, gemm/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T4>;
@group(0) @binding(2) var<storage, read> b: array<T4>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T4>;

override TM: u32 = 8u;
override TN4: u32 = 2u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
const MAX_TM: u32 = 16u;
const MAX_TN4: u32 = 4u;

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
    let row0 = tile.y * WG_Y * TM + lid.y;
    let col0 = tile.z * WG_X * TN4 + lid.x;
    var a_idx: array<u32, MAX_TM>;
    var b_col: array<u32, MAX_TN4>;
    for (var i = 0u; i < TM; i++) {
        let r = min(row0 + i * WG_Y, p.m - 1u);
        a_idx[i] = (tile.x * p.a_bs) / 4u + r * k4;
    }
    for (var j = 0u; j < TN4; j++) {
        b_col[j] = min(col0 + j * WG_X, n4 - 1u);
    }
    let b_base = (tile.x * p.b_bs) / 4u;
    var acc: array<vec4<f32>, 64>;
    var bv: array<vec4<f32>, 16>;
    for (var kq = 0u; kq < k4; kq++) {
        // B rows k .. k+3, TN4 vec4s each.
        for (var kk = 0u; kk < 4u; kk++) {
            let brow = b_base + (kq * 4u + kk) * n4;
            for (var j = 0u; j < TN4; j++) {
                bv[kk * MAX_TN4 + j] = vec4<f32>(b[brow + b_col[j]]);
            }
        }
        for (var i = 0u; i < TM; i++) {
            let av = vec4<f32>(a[a_idx[i] + kq]);
            for (var j = 0u; j < TN4; j++) {
                var s = acc[i * MAX_TN4 + j];
                s = fma(vec4<f32>(av.x), bv[j], s);
                s = fma(vec4<f32>(av.y), bv[MAX_TN4 + j], s);
                s = fma(vec4<f32>(av.z), bv[2u * MAX_TN4 + j], s);
                s = fma(vec4<f32>(av.w), bv[3u * MAX_TN4 + j], s);
                acc[i * MAX_TN4 + j] = s;
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let row = row0 + i * WG_Y;
        for (var j = 0u; j < TN4; j++) {
            let c4 = col0 + j * WG_X;
            if (row < p.m && c4 < n4) {
                let s = acc[i * MAX_TN4 + j];
                let col = c4 * 4u;
                let out = vec4<f32>(
                    epilogue(tile.x, row, col, s.x),
                    epilogue(tile.x, row, col + 1u, s.y),
                    epilogue(tile.x, row, col + 2u, s.z),
                    epilogue(tile.x, row, col + 3u, s.w));
                c[(tile.x * p.c_bs) / 4u + row * n4 + c4] = T4(out);
            }
        }
    }
}
