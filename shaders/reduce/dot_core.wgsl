// Partial centred dot products (batch-norm backward): per (output j, chunk k)
// of a reduction plan over two tensors a and b of one shape,
//   S1 = Σ a,   S2 = Σ a * (b - center[j])
// over the chunk's elements.
//
// Mapping: one 256-invocation workgroup per (output, chunk) (reduce/plan.wgsl);
// each invocation accumulates its strided share in f32, then two workgroup
// trees. Writes partial[j * chunks + k] = (S1, S2); the consumer sums the
// chunks. Deterministic. Work: 2 loads and 3 flops per element; 8 bytes per
// chunk.
//
// Expects from the body: `load_a(i: u32) -> f32`, `load_b(i: u32) -> f32`,
// `center: array<f32>` (one per output), `partial: array<vec2<f32>>`.
// Includes: grid, reduce/plan.

@compute @workgroup_size(256)
fn dot(@builtin(workgroup_id) wid: vec3<u32>,
       @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg);
    if (g >= p.outputs * p.chunks) {
        return;
    }
    let j = g / p.chunks;
    let k = g % p.chunks;
    let base = out_base(j);
    let t0 = k * p.chunk;
    let t1 = min(t0 + p.chunk, p.total);
    let c = center[j];
    var s1 = 0.0;
    var s2 = 0.0;
    for (var t = t0 + lid; t < t1; t += 256u) {
        let i = base + elem_offset(t);
        let a = load_a(i);
        s1 += a;
        s2 += a * (load_b(i) - c);
    }
    let total1 = workgroup_sum(s1, lid);
    let total2 = workgroup_sum(s2, lid);
    if (lid == 0u) {
        partial[g] = vec2<f32>(total1, total2);
    }
}
