// Rows of a softmax along one axis: x viewed as [outer, len, inner]; row r
// (o = r / inner, i = r % inner) holds elements o*len*inner + i + a*inner for a
// in [0, len). Shared by softmax/forward.wgsl and softmax/backward.wgsl.
// Includes: grid.

struct Params {
    rows: u32,
    len: u32,
    inner: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// 0: softmax, 1: log_softmax.
override LOG: u32 = 0u;

fn row_base(r: u32) -> u32 {
    let o = r / p.inner;
    return o * p.len * p.inner + (r - o * p.inner);
}

fn is_nan_f32(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Maximum that propagates NaN (PyTorch's softmax of a row with NaN is NaN).
fn max_nan(a: f32, b: f32) -> f32 {
    return select(max(a, b), a + b, is_nan_f32(a) || is_nan_f32(b));
}

var<workgroup> sm_red: array<f32, 256>;

// Workgroup-wide reductions by a halving tree (fixed order: deterministic).
// Every invocation must call them; all receive the result.
fn workgroup_max(v: f32, lid: u32) -> f32 {
    sm_red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            sm_red[lid] = max_nan(sm_red[lid], sm_red[lid + s]);
        }
        workgroupBarrier();
    }
    let r = sm_red[0];
    workgroupBarrier();
    return r;
}

fn workgroup_sum(v: f32, lid: u32) -> f32 {
    sm_red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            sm_red[lid] += sm_red[lid + s];
        }
        workgroupBarrier();
    }
    let r = sm_red[0];
    workgroupBarrier();
    return r;
}

// -inf cannot be a WGSL constant expression (a shader creation error in
// strict compilers), so it is read from a private variable at run time.
var<private> NEG_INF_BITS: u32 = 0xff800000u;

fn neg_inf() -> f32 {
    return bitcast<f32>(NEG_INF_BITS);
}
