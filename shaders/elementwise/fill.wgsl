// Fills a buffer of 32-bit words with one bit pattern (zeros, NaN poison, a
// constant f32, a constant f16 pair). One word per invocation.
// Includes: grid.

struct Params {
    words: u32,
    value: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    if (w >= p.words) {
        return;
    }
    y[w] = p.value;
}
