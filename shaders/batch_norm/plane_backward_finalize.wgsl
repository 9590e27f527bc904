// Batch-norm backward, "planes" variant, pass 2: one invocation per channel
// sums the channel's segment partials (S1, S2) of plane_dot.wgsl in image and
// segment order as a balanced tree (as plane_finalize.wgsl) and writes
//   dbeta[c]  = S1
//   dgamma[c] = S2 * invstd[c]
//   coef[c]   = (gamma*invstd, S1 / n, dgamma * invstd / n, mean)
// for plane_backward_apply.wgsl (as batch_norm/backward_finalize.wgsl).
// Sequential and barrier-free. Deterministic.
// Includes: grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> invstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> coef: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let c = flat_workgroup(wid, nwg) * 64u + lid;
    if (c >= p.c) {
        return;
    }
    var stack: array<vec2<f32>, 32>;
    var level: array<u32, 32>;
    var top = 0u;
    let first = c * p.n * p.chunks;
    for (var k = 0u; k < p.n * p.chunks; k++) {
        var item = partial[first + k];
        var l = 0u;
        while (top > 0u && level[top - 1u] == l) {
            item = stack[top - 1u] + item;
            top -= 1u;
            l += 1u;
        }
        stack[top] = item;
        level[top] = l;
        top += 1u;
    }
    var s = stack[top - 1u];
    for (var i = top - 1u; i > 0u; i--) {
        s = stack[i - 1u] + s;
    }
    let r = invstd[c];
    let n = f32(p.n * p.hw);
    let dg = s.y * r;
    dbeta[c] = s.x;
    dgamma[c] = dg;
    coef[c] = vec4<f32>(gamma[c] * r, s.x / n, dg * r / n, mean[c]);
}
