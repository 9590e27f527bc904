// Deterministic parallel reduction (sum, max, min; mean is a sum divided by
// `div`) over a reduction plan (reduce/plan.wgsl). Plans cover contiguous axes
// ([O, R, I]), the NCHW per-channel case ([R1, C, R2]) and a second pass over
// [outputs, chunks] partials.
//
// Entry points:
// - `serial`: one invocation per output, a sequential f32 loop over its `total`
//   elements. For short reductions (total <= 64), where a workgroup per output
//   would leave most invocations idle. 256 outputs per workgroup.
// - `tree`: one 256-invocation workgroup per (output, chunk of `chunk`
//   elements). Each invocation accumulates its strided share (chunk / 256
//   elements), then a halving tree in workgroup memory combines the 256 values.
//   Writes out[j * chunks + k]; with more than one chunk the launcher reduces the
//   [outputs, chunks] partials again, in f32.
//
// Both are deterministic: the order of every addition is fixed by the shape and
// the launch, never by scheduling (no atomics). Accumulation is f32 whatever the
// storage type, so f16 sums beyond 65504 stay finite. Max/min propagate NaN as
// PyTorch does. Work: one load and one f32 op per element; bytes moved: the
// input once plus 4 bytes per partial.
//
// Expects from the body: `load_x(i: u32) -> f32` and `out: array<f32>`.
// Includes: grid, reduce/plan.

// 0: sum (and mean), 1: max, 2: min.
override OP: u32 = 0u;

fn is_nan_f32(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// ±inf cannot be WGSL constant expressions (a shader creation error in
// strict compilers), so their bits are read from private variables.
var<private> NEG_INF_BITS: u32 = 0xff800000u;
var<private> POS_INF_BITS: u32 = 0x7f800000u;

fn identity() -> f32 {
    switch OP {
        case 1u: { return bitcast<f32>(NEG_INF_BITS); }
        case 2u: { return bitcast<f32>(POS_INF_BITS); }
        default: { return 0.0; }
    }
}

fn combine(a: f32, b: f32) -> f32 {
    switch OP {
        // a + b is NaN whenever either is: max/min propagate NaN.
        case 1u: { return select(max(a, b), a + b, is_nan_f32(a) || is_nan_f32(b)); }
        case 2u: { return select(min(a, b), a + b, is_nan_f32(a) || is_nan_f32(b)); }
        default: { return a + b; }
    }
}

@compute @workgroup_size(256)
fn serial(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let j = flat_workgroup(wid, nwg) * 256u + lid;
    if (j >= p.outputs) {
        return;
    }
    let base = out_base(j);
    var acc = identity();
    for (var t = 0u; t < p.total; t++) {
        acc = combine(acc, load_x(base + elem_offset(t)));
    }
    out[j] = acc / p.div;
}

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn tree(@builtin(workgroup_id) wid: vec3<u32>,
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
    var acc = identity();
    for (var t = t0 + lid; t < t1; t += 256u) {
        acc = combine(acc, load_x(base + elem_offset(t)));
    }
    red[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = combine(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[g] = red[0] / p.div;
    }
}
