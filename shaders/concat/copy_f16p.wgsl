// Strided block copy of f16 halves in packed storage (see concat/params.wgsl),
// bit-exact and independent of the shader-f16 feature.
//
// Each invocation owns one destination word: invocation (run r, j) takes word
// floor(a_r / 2) + j with a_r = r * dst_stride + dst_off the run's first half,
// and skips it when it lies past the run. Precondition (set up by the
// launcher): runs are at least one half apart (dst_stride > enum_len) or there
// is a single run, so no two runs share a word. Each half of the word is decoded on its own
// (block and offset from its destination index) and is copied from the source
// when it belongs to the copied region, or kept as it is otherwise: the other
// half of a boundary word belongs to another concatenation input, written by
// another launch before or after this one (launches are ordered), so the
// read-modify-write is race-free.
// Bytes: one word stored and up to two source words loaded per destination word.
// Includes: grid, concat/params.

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

fn src_half(i: u32) -> u32 {
    return (src[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
}

// The new value of destination half e, or `old` when e is outside the region.
fn half_value(e: u32, old: u32) -> u32 {
    if (e < p.dst_off) {
        return old;
    }
    let rel = e - p.dst_off;
    let b = rel / p.dst_stride;
    let j = rel % p.dst_stride;
    if (b >= p.blocks || j >= p.len) {
        return old;
    }
    return src_half(b * p.src_stride + p.src_off + j);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = flat_workgroup(wid, nwg) * 64u + lid;
    if (t >= p.enum_blocks * p.words_per_block) {
        return;
    }
    let r = t / p.words_per_block;
    let start = r * p.dst_stride + p.dst_off;
    let word = start / 2u + t % p.words_per_block;
    if (2u * word >= start + p.enum_len) {
        return;
    }
    let old = dst[word];
    let lo = half_value(2u * word, old & 0xffffu);
    let hi = half_value(2u * word + 1u, old >> 16u);
    dst[word] = lo | (hi << 16u);
}
