// Partial moments for variances (batch-norm statistics): per (output j, chunk
// k) of a reduction plan, the chunk's mean m_k and sum of squared deviations
// M2_k = Σ (x - m_k)².
//
// Mapping: one 256-invocation workgroup per (output, chunk) (reduce/plan.wgsl).
// Two sweeps over the chunk's elements (the second from cache): the chunk sum
// by a workgroup tree gives m_k, then Σ (x - m_k)² by a second tree. Writes
// partial[j * chunks + k] = (m_k, M2_k); the chunk's count follows from the
// plan (min(chunk, total - k*chunk)). Two passes within a chunk keep the
// variance free of the E[x²] - E[x]² cancellation; the consumer merges chunks
// with Chan et al.'s pairwise formula. Deterministic; f32 arithmetic for every
// storage type. Work: 2 loads and ~4 flops per element; 8 bytes per chunk.
//
// Expects from the body: `load_x(i: u32) -> f32`,
// `partial: array<vec2<f32>>`.
// Includes: grid, reduce/plan.

@compute @workgroup_size(256)
fn moments(@builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg);
    // Uniform per workgroup: the barriers below stay in uniform control flow.
    if (g >= p.outputs * p.chunks) {
        return;
    }
    let j = g / p.chunks;
    let k = g % p.chunks;
    let base = out_base(j);
    let t0 = k * p.chunk;
    let t1 = min(t0 + p.chunk, p.total);
    var s = 0.0;
    for (var t = t0 + lid; t < t1; t += 256u) {
        s += load_x(base + elem_offset(t));
    }
    let mean = workgroup_sum(s, lid) / f32(t1 - t0);
    var q = 0.0;
    for (var t = t0 + lid; t < t1; t += 256u) {
        let d = load_x(base + elem_offset(t)) - mean;
        q += d * d;
    }
    let m2 = workgroup_sum(q, lid);
    if (lid == 0u) {
        partial[g] = vec2<f32>(mean, m2);
    }
}
