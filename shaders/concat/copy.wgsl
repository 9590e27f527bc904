// Strided block copy of 32-bit elements (f32, i32, u32 bits; see
// concat/params.wgsl): one element per invocation, 64 per workgroup, flat over
// blocks * len. Bit-exact. Bytes: 4 loaded + 4 stored per element.
// Includes: grid, concat/params.

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 64u + lid;
    if (i >= p.blocks * p.len) {
        return;
    }
    let b = i / p.len;
    let j = i % p.len;
    dst[b * p.dst_stride + p.dst_off + j] = src[b * p.src_stride + p.src_off + j];
}
