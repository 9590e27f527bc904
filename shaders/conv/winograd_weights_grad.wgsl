// conv2d weight gradient, Winograd F(2x2, 3x3), step 4: dW = G^T dU G for
// every (A channel, B channel) pair from the 16 GEMM products dU (stored as 16
// matrices [A_C, B_C]), with
//   G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]],
// the gradient of the forward's weight transform U = G g G^T. With
// `accumulate`, adds to dW (chunks after the first, in order: deterministic).
// One invocation per pair: 16 loads, 9 stores.
// Includes: grid.

struct Params {
    pairs: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> du: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.pairs) {
        return;
    }
    // G^T dU: 3 x 4 (rows mixed).
    var gu: array<vec4<f32>, 3>;
    {
        var u: array<vec4<f32>, 4>;
        for (var r = 0u; r < 4u; r++) {
            let b = 4u * r * p.pairs + e;
            u[r] = vec4<f32>(du[b], du[b + p.pairs], du[b + 2u * p.pairs], du[b + 3u * p.pairs]);
        }
        let s = 0.5 * (u[1] + u[2]);
        gu[0] = u[0] + s;
        gu[1] = 0.5 * (u[1] - u[2]);
        gu[2] = s + u[3];
    }
    // (G^T dU) G: 3 x 3 (columns mixed).
    for (var r = 0u; r < 3u; r++) {
        let v = gu[r];
        let s = 0.5 * (v.y + v.z);
        var w = vec3<f32>(v.x + s, 0.5 * (v.y - v.z), s + v.w);
        let o = e * 9u + 3u * r;
        if (p.accumulate != 0u) {
            w += vec3<f32>(dw[o], dw[o + 1u], dw[o + 2u]);
        }
        dw[o] = w.x;
        dw[o + 1u] = w.y;
        dw[o + 2u] = w.z;
    }
}
