// Parameters of the strided block copy behind concat_channels and
// split_channels: for b < blocks and j < len,
//   dst[b * dst_stride + dst_off + j] = src[b * src_stride + src_off + j].
// Concatenation copies input i (blocks = N, len = C_i * inner) into the output at
// dst_off = (channels before i) * inner, dst_stride = C_total * inner; split is
// the mirror image. The packed-f16 body enumerates destination words by
// `enum_blocks` runs of `enum_len` elements starting at dst_off and spaced
// dst_stride apart (one run covering everything when dst is contiguous), with
// `words_per_block` = enum_len / 2 + 1 invocations per run.
// Includes: grid.

struct Params {
    blocks: u32,
    len: u32,
    src_stride: u32,
    src_off: u32,
    dst_stride: u32,
    dst_off: u32,
    enum_blocks: u32,
    enum_len: u32,
    words_per_block: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
