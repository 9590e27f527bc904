// Global average (entry `global_avg`) and max (entry `global_max`) pooling: [N, C, H, W] ->
// [N, C, 1, 1]. One workgroup of 256 invocations per plane: each invocation folds
// the elements lid, lid+256, ... in f32, then a fixed tree in workgroup memory
// combines the 256 partials (deterministic). avg divides the f32 sum by H*W once,
// so f16 totals beyond 65504 stay finite; max propagates NaN and starts at -inf.
// Bytes: H*W loads + 1 store per plane.
// Includes: precision prelude, grid, pool/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

var<workgroup> partial: array<f32, 256>;

fn max_nan(a: f32, b: f32) -> f32 {
    if (is_nan(a)) {
        return a;
    }
    if (is_nan(b)) {
        return b;
    }
    return max(a, b);
}

@compute @workgroup_size(256)
fn global_avg(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    // Uniform per workgroup: the barriers below stay in uniform control flow.
    let plane = flat_workgroup(wid, nwg);
    if (plane >= p.planes) {
        return;
    }
    let hw = p.h * p.w;
    let base = plane * hw;
    var acc = 0.0;
    for (var i = lid; i < hw; i += 256u) {
        acc += f32(x[base + i]);
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        y[plane] = T(partial[0] / f32(hw));
    }
}

@compute @workgroup_size(256)
fn global_max(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let plane = flat_workgroup(wid, nwg);
    if (plane >= p.planes) {
        return;
    }
    let hw = p.h * p.w;
    let base = plane * hw;
    var acc = neg_inf();
    for (var i = lid; i < hw; i += 256u) {
        acc = max_nan(acc, f32(x[base + i]));
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] = max_nan(partial[lid], partial[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        y[plane] = T(partial[0]);
    }
}
