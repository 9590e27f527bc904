// Gradients of softmax / log_softmax along one axis (LOG selects), from the
// forward's output y and the upstream gradient dy:
//   softmax:     dx = y * (dy - Σ_a dy*y)
//   log_softmax: dx = dy - exp(y) * Σ_a dy
// T storage (f32 or native f16), f32 arithmetic. Entry points `serial` (one
// invocation per row, rows of up to 64) and `tree` (one 256-invocation
// workgroup per row), mapped as in softmax/forward.wgsl. Work per element:
// 2 loads for the sum, 2 loads and a store for dx. Deterministic.
// Includes: precision prelude (T), grid, softmax/params.

@group(0) @binding(1) var<storage, read> y: array<T>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

fn term(i: u32) -> f32 {
    if (LOG == 1u) {
        return f32(dy[i]);
    }
    return f32(dy[i]) * f32(y[i]);
}

fn grad(i: u32, s: f32) -> f32 {
    if (LOG == 1u) {
        return f32(dy[i]) - exp(f32(y[i])) * s;
    }
    return f32(y[i]) * (f32(dy[i]) - s);
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
    var s = 0.0;
    for (var a = 0u; a < p.len; a++) {
        s += term(base + a * p.inner);
    }
    for (var a = 0u; a < p.len; a++) {
        let i = base + a * p.inner;
        dx[i] = T(grad(i, s));
    }
}

@compute @workgroup_size(256)
fn tree(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = flat_workgroup(wid, nwg);
    if (r >= p.rows) {
        return;
    }
    let base = row_base(r);
    var s = 0.0;
    for (var a = lid; a < p.len; a += 256u) {
        s += term(base + a * p.inner);
    }
    s = workgroup_sum(s, lid);
    for (var a = lid; a < p.len; a += 256u) {
        let i = base + a * p.inner;
        dx[i] = T(grad(i, s));
    }
}
