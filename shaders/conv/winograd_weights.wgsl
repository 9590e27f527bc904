// conv2d variant 5, Winograd F(2x2, 3x3), step 1: weight transform
// U = G g G^T for every (output channel, input channel) pair, with
//   G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
// U is stored as 16 matrices [C_out, C_in] (xi = 4*row + column of the 4x4
// transform), the A operands of the 16 GEMMs. One invocation per pair: 9 loads,
// 16 stores. Preconditions: groups == 1, 3x3 kernel.
// With FLIPPED = 1, wt holds the weights of the convolution whose data
// gradient this one is ([C_in, C_out, 3, 3] in this launch's channel names):
// g of pair (co, ci) is that one's (ci, co) rotated by 180°, read in place.
// Includes: precision prelude, grid, conv/params.

@group(0) @binding(1) var<storage, read> wt: array<T>;
@group(0) @binding(2) var<storage, read_write> u: array<T>;

override FLIPPED: u32 = 0u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let pairs = p.c_out * p.c_in;
    if (e >= pairs) {
        return;
    }
    var g: array<f32, 9>;
    if (FLIPPED == 1u) {
        let src = ((e % p.c_in) * p.c_out + e / p.c_in) * 9u;
        for (var i = 0u; i < 9u; i++) {
            g[i] = f32(wt[src + 8u - i]);
        }
    } else {
        for (var i = 0u; i < 9u; i++) {
            g[i] = f32(wt[e * 9u + i]);
        }
    }
    // Gg: 4 x 3.
    var gg: array<f32, 12>;
    for (var c = 0u; c < 3u; c++) {
        let g0 = g[c];
        let g1 = g[3u + c];
        let g2 = g[6u + c];
        gg[c] = g0;
        gg[3u + c] = 0.5 * (g0 + g1 + g2);
        gg[6u + c] = 0.5 * (g0 - g1 + g2);
        gg[9u + c] = g2;
    }
    // (Gg) G^T: 4 x 4.
    for (var r = 0u; r < 4u; r++) {
        let g0 = gg[3u * r];
        let g1 = gg[3u * r + 1u];
        let g2 = gg[3u * r + 2u];
        let base = 4u * r;
        u[(base + 0u) * pairs + e] = T(g0);
        u[(base + 1u) * pairs + e] = T(0.5 * (g0 + g1 + g2));
        u[(base + 2u) * pairs + e] = T(0.5 * (g0 - g1 + g2));
        u[(base + 3u) * pairs + e] = T(g2);
    }
}
