// Batch-norm training statistics, pass 1: per (channel, chunk) partial mean and
// sum of squared deviations.
//
// Mapping: one 256-invocation workgroup per (channel c, chunk k); the chunk is
// elements [k*chunk, (k+1)*chunk) of the channel's n*hw (t -> image t / hw,
// pixel t % hw). Two sweeps over the chunk (the second from cache): the chunk
// sum by a workgroup tree gives the chunk mean m_k, then Σ (x - m_k)² by a
// second tree. Writes partial[c * chunks + k] = (m_k, M2_k); the chunk's count
// follows from the shape. Two-pass within a chunk keeps the variance free of
// the E[x²] - E[x]² cancellation; batch_norm/finalize.wgsl merges chunks with
// Chan's formula. Deterministic, f32 arithmetic for every storage type.
// Work: 2 loads and ~4 flops per element; 8 bytes written per chunk.
//
// Expects from the body: `load_x(i: u32) -> f32`.
// Includes: grid, batch_norm/params.

@group(0) @binding(2) var<storage, read_write> partial: array<vec2<f32>>;

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
    var s = 0.0;
    for (var t = t0 + lid; t < t1; t += 256u) {
        s += load_x(channel_element(c, t));
    }
    let mean = workgroup_sum(s, lid) / f32(t1 - t0);
    var q = 0.0;
    for (var t = t0 + lid; t < t1; t += 256u) {
        let d = load_x(channel_element(c, t)) - mean;
        q += d * d;
    }
    let m2 = workgroup_sum(q, lid);
    if (lid == 0u) {
        partial[g] = vec2<f32>(mean, m2);
    }
}
