// Batch-norm backward, pass 1: per (channel, chunk) partial sums
//   S1 = Σ dy,   S2 = Σ dy * (x - mean[c])
// over the chunk's elements (the same chunks as batch_norm/stats_core.wgsl).
//
// Mapping: one 256-invocation workgroup per (channel c, chunk k); each
// invocation accumulates its strided share in f32, then two workgroup trees.
// Writes partial[c * chunks + k] = (S1, S2). Deterministic.
// Work: 2 loads and 3 flops per element; 8 bytes written per chunk.
//
// Expects from the body: `load_dy(i: u32) -> f32`, `load_x(i: u32) -> f32`.
// Includes: grid, batch_norm/params.

@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<vec2<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg);
    if (g >= p.c * p.chunks) {
        return;
    }
    let c = g / p.chunks;
    let k = g % p.chunks;
    let t0 = k * p.chunk;
    let t1 = min(t0 + p.chunk, p.n * p.hw);
    let m = mean[c];
    var s1 = 0.0;
    var s2 = 0.0;
    for (var t = t0 + lid; t < t1; t += 256u) {
        let i = channel_element(c, t);
        let g_i = load_dy(i);
        s1 += g_i;
        s2 += g_i * (load_x(i) - m);
    }
    let total1 = workgroup_sum(s1, lid);
    let total2 = workgroup_sum(s2, lid);
    if (lid == 0u) {
        partial[g] = vec2<f32>(total1, total2);
    }
}
