// Parameters of the PReLU kernels. The input is viewed as [outer, channels,
// inner]: with a weight of C values, outer = N, channels = C, inner = the
// product of the dims after 1; with a single weight, channels = 1 and inner = n.
// Element i has channel (i / inner) % channels. The backward pass cuts each
// channel's outer * inner elements (`per_channel`) into `chunks` chunks of
// `chunk_len` = 256 * 8 elements.
// Includes: grid.

struct Params {
    n: u32,
    inner: u32,
    channels: u32,
    per_channel: u32,
    chunks: u32,
    chunk_len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
