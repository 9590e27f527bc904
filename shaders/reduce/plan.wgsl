// The canonical form every weft reduction is resolved to (see
// crates/kernels/src/reduce.rs, ReducePlan): up to two kept runs of dimensions
// and up to two reduced runs.
//
//   output j in [0, outputs):   o = j / k_inner, i = j % k_inner
//   reduced t in [0, total):    a = t / r_inner, b = t % r_inner
//   element = o*so + i*si + a*sa + b*sb
//
// Long reductions are split into chunks of `chunk` elements, one workgroup per
// (output, chunk): workgroup g takes output g / chunks, chunk g % chunks.
// Included by reduce/reduce_core, reduce/moments_core and reduce/dot_core.
// Includes: grid.

struct Params {
    k_inner: u32,
    so: u32,
    si: u32,
    outputs: u32,
    r_inner: u32,
    sa: u32,
    sb: u32,
    // Elements reduced into each output.
    total: u32,
    // Elements per workgroup (a multiple of 256) and workgroups per output.
    chunk: u32,
    chunks: u32,
    // reduce_core: divides each result (the count for a mean's last pass).
    div: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn out_base(j: u32) -> u32 {
    return (j / p.k_inner) * p.so + (j % p.k_inner) * p.si;
}

fn elem_offset(t: u32) -> u32 {
    return (t / p.r_inner) * p.sa + (t % p.r_inner) * p.sb;
}

var<workgroup> plan_red: array<f32, 256>;

// Sum of `v` over the 256 invocations of the workgroup by a halving tree (fixed
// order: deterministic). Every invocation must call it (it has barriers) and
// receives the total.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
    plan_red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            plan_red[lid] += plan_red[lid + s];
        }
        workgroupBarrier();
    }
    let total = plan_red[0];
    // Nobody may overwrite plan_red before everyone has read the total.
    workgroupBarrier();
    return total;
}
