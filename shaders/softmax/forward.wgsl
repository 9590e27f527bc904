// softmax / log_softmax along one axis (LOG selects), numerically stable:
//   m = max_a x,  s = Σ_a exp(x - m)
//   softmax:     y = exp(x - m) / s
//   log_softmax: y = (x - m) - log(s)
// T storage (f32 or native f16), f32 arithmetic, so f16 logits of any finite
// magnitude give finite results; logits of ±1e4 in f32 too.
//
// Entry points:
// - `serial`: one invocation per row, three sweeps over the row (rows of up to
//   64 elements; consecutive invocations take consecutive rows, so strided rows
//   (inner > 1) still read consecutive addresses).
// - `tree`: one 256-invocation workgroup per row, strided sweeps plus workgroup
//   trees for the max and the sum (long rows).
// Work per element: 3 loads, 1 store, 2 exp (softmax) or 1 exp (log_softmax).
// Deterministic.
// Includes: precision prelude (T), grid, softmax/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

fn finish(v: f32, m: f32, s: f32, log_s: f32) -> f32 {
    if (LOG == 1u) {
        return (v - m) - log_s;
    }
    return exp(v - m) / s;
}

@compute @workgroup_size(256)
fn serial(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let r = flat_workgroup(wid, nwg) * 256u + lid;
    if (r >= p.rows) {
        return;
    }
    let base = row_base(r);
    var m = neg_inf();
    for (var a = 0u; a < p.len; a++) {
        m = max_nan(m, f32(x[base + a * p.inner]));
    }
    var s = 0.0;
    for (var a = 0u; a < p.len; a++) {
        s += exp(f32(x[base + a * p.inner]) - m);
    }
    let log_s = log(s);
    for (var a = 0u; a < p.len; a++) {
        let i = base + a * p.inner;
        y[i] = T(finish(f32(x[i]), m, s, log_s));
    }
}

@compute @workgroup_size(256)
fn tree(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = flat_workgroup(wid, nwg);
    // Uniform per workgroup: the barriers below stay in uniform control flow.
    if (r >= p.rows) {
        return;
    }
    let base = row_base(r);
    var m = neg_inf();
    for (var a = lid; a < p.len; a += 256u) {
        m = max_nan(m, f32(x[base + a * p.inner]));
    }
    m = workgroup_max(m, lid);
    var s = 0.0;
    for (var a = lid; a < p.len; a += 256u) {
        s += exp(f32(x[base + a * p.inner]) - m);
    }
    s = workgroup_sum(s, lid);
    let log_s = log(s);
    for (var a = lid; a < p.len; a += 256u) {
        let i = base + a * p.inner;
        y[i] = T(finish(f32(x[i]), m, s, log_s));
    }
}
