// Parameter block shared by the batch-norm kernels (NCHW, C channels of n*hw
// elements each). Fields a kernel does not use are zero.
// Included by every batch_norm/*.wgsl body.

struct Params {
    n: u32,
    c: u32,
    hw: u32,
    // Invocations' work items: elements (typed) or words (packed f16).
    count: u32,
    // Chunking of the statistics partials (crate::reduce::CHUNK elements per
    // chunk, `chunks` per channel).
    chunk: u32,
    chunks: u32,
    eps: f32,
    momentum: f32,
    // apply: 0 = `stat` holds 1/sqrt(var + eps), 1 = it holds the variance.
    mode: u32,
    // elements of the whole tensor (packed kernels: to mask the padding half).
    numel: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// Channel of the flat NCHW index i.
fn channel_of(i: u32) -> u32 {
    return (i / p.hw) % p.c;
}

var<workgroup> bn_red: array<f32, 256>;

// Sum of `v` over the 256 invocations of the workgroup by a halving tree (fixed
// order: deterministic). Every invocation must call it (it has barriers) and
// receives the total.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
    bn_red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            bn_red[lid] += bn_red[lid + s];
        }
        workgroupBarrier();
    }
    let total = bn_red[0];
    // Nobody may overwrite bn_red before everyone has read the total.
    workgroupBarrier();
    return total;
}
