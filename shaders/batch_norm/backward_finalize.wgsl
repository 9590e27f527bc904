// Batch-norm backward, pass 2: per channel, sums the chunk partials (S1, S2) of
// batch_norm/backward_reduce_core.wgsl and writes
//   dbeta[c]  = S1
//   dgamma[c] = S2 * invstd[c]
//   coef[c]   = (gamma*invstd, S1 / n, dgamma * invstd / n, mean)
// so that pass 3 computes dx = coef.x * (dy - coef.y - (x - coef.w) * coef.z),
// PyTorch's dx = gamma*invstd/n * (n*dy - Σdy - xhat * Σ dy*xhat).
//
// Mapping: one 256-invocation workgroup per channel; invocation l sums chunks l,
// l + 256, ... in order, then a halving tree. Deterministic.
// Includes: grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> invstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> coef: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let c = flat_workgroup(wid, nwg);
    if (c >= p.c) {
        return;
    }
    var s1 = 0.0;
    var s2 = 0.0;
    for (var k = lid; k < p.chunks; k += 256u) {
        let part = partial[c * p.chunks + k];
        s1 += part.x;
        s2 += part.y;
    }
    let t1 = workgroup_sum(s1, lid);
    let t2 = workgroup_sum(s2, lid);
    if (lid == 0u) {
        let r = invstd[c];
        let n = f32(p.n * p.hw);
        let dg = t2 * r;
        dbeta[c] = t1;
        dgamma[c] = dg;
        coef[c] = vec4<f32>(gamma[c] * r, t1 / n, dg * r / n, mean[c]);
    }
}
