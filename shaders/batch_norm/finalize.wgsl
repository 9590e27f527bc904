// Batch-norm training statistics, pass 2: merges each channel's chunk partials
// (mean m_k, M2_k over cnt_k elements) into the batch mean and biased variance,
// writes save_mean and save_invstd = 1/sqrt(var + eps), and updates the running
// statistics in place as PyTorch does:
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * M2 / (n - 1)
//
// Mapping: one 256-invocation workgroup per channel. Invocation l merges chunks
// l, l + 256, ... in order (Chan et al.'s pairwise update), then a halving tree
// in workgroup memory merges the 256 running triples (count, mean, M2).
// Deterministic. Work: O(chunks) per channel; negligible next to pass 1.
// Preconditions: n*hw >= 2 (checked by the launcher).
// Includes: grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> save_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> save_invstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

var<workgroup> w_n: array<f32, 256>;
var<workgroup> w_m: array<f32, 256>;
var<workgroup> w_q: array<f32, 256>;

// Chan's merge of (na, ma, qa) and (nb, mb, qb).
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    if (b.x == 0.0) {
        return a;
    }
    if (a.x == 0.0) {
        return b;
    }
    let n = a.x + b.x;
    let d = b.y - a.y;
    let m = a.y + d * (b.x / n);
    let q = a.z + b.z + d * d * (a.x * (b.x / n));
    return vec3<f32>(n, m, q);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let c = flat_workgroup(wid, nwg);
    if (c >= p.c) {
        return;
    }
    let nhw = p.n * p.hw;
    var acc = vec3<f32>(0.0, 0.0, 0.0);
    for (var k = lid; k < p.chunks; k += 256u) {
        let cnt = min(p.chunk, nhw - k * p.chunk);
        let part = partial[c * p.chunks + k];
        acc = merge(acc, vec3<f32>(f32(cnt), part.x, part.y));
    }
    w_n[lid] = acc.x;
    w_m[lid] = acc.y;
    w_q[lid] = acc.z;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let r = merge(vec3<f32>(w_n[lid], w_m[lid], w_q[lid]),
                          vec3<f32>(w_n[lid + s], w_m[lid + s], w_q[lid + s]));
            w_n[lid] = r.x;
            w_m[lid] = r.y;
            w_q[lid] = r.z;
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let n = f32(nhw);
        let mean = w_m[0];
        let m2 = w_q[0];
        let var_biased = m2 / n;
        save_mean[c] = mean;
        save_invstd[c] = 1.0 / sqrt(var_biased + p.eps);
        let keep = 1.0 - p.momentum;
        running_mean[c] = keep * running_mean[c] + p.momentum * mean;
        running_var[c] = keep * running_var[c] + p.momentum * (m2 / (n - 1.0));
    }
}
