// Batch-norm training statistics, "planes" variant, pass 2: one invocation per
// channel merges the channel's segment partials (mean, M2 over each segment's
// count) with Chan et al.'s pairwise update, in image and segment order and
// as a balanced tree (a stack of power-of-two runs: errors grow like log2 of
// the partial count, not like the count), then writes save_mean,
// save_invstd = 1/sqrt(var + eps) and updates the running statistics as
// PyTorch does (momentum, unbiased variance M2 / (n − 1)). Barrier-free; the
// N·chunks merges per channel are a small fraction of pass 1's work.
// Deterministic.
// Preconditions: n*hw >= 2 (checked by the launcher).
// Includes: grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> save_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> save_invstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

// Chan's merge of (na, ma, qa) and (nb, mb, qb); a comes first.
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    if (a.x == 0.0) {
        return b;
    }
    let n = a.x + b.x;
    let d = b.y - a.y;
    let m = a.y + d * (b.x / n);
    let q = a.z + b.z + d * d * (a.x * (b.x / n));
    return vec3<f32>(n, m, q);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let c = flat_workgroup(wid, nwg) * 64u + lid;
    if (c >= p.c) {
        return;
    }
    // Runs of 2^level partials, merged as soon as two of a level meet.
    var stack: array<vec3<f32>, 32>;
    var level: array<u32, 32>;
    var top = 0u;
    let first = c * p.n * p.chunks;
    for (var k = 0u; k < p.n * p.chunks; k++) {
        let seg = k % p.chunks;
        let part = partial[first + k];
        var item = vec3<f32>(f32(min(p.chunk, p.hw - seg * p.chunk)), part.x, part.y);
        var l = 0u;
        while (top > 0u && level[top - 1u] == l) {
            item = merge(stack[top - 1u], item);
            top -= 1u;
            l += 1u;
        }
        stack[top] = item;
        level[top] = l;
        top += 1u;
    }
    var acc = stack[top - 1u];
    for (var i = top - 1u; i > 0u; i--) {
        acc = merge(stack[i - 1u], acc);
    }
    let n = acc.x;
    let mean = acc.y;
    let m2 = acc.z;
    save_mean[c] = mean;
    save_invstd[c] = 1.0 / sqrt(m2 / n + p.eps);
    let keep = 1.0 - p.momentum;
    running_mean[c] = keep * running_mean[c] + p.momentum * mean;
    running_var[c] = keep * running_var[c] + p.momentum * (m2 / (n - 1.0));
}
