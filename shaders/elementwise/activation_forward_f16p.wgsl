// Elementwise activation on packed f16 storage (two halves per u32, as
// pack2x16float writes them): each invocation owns one word, so no two
// invocations ever write the same word. Arithmetic in f32. Works on every
// adapter; the padding half of an odd-length tensor is computed and ignored.
// Includes: grid, activation (ACT, ALPHA).

struct Params {
    words: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    if (w >= p.words) {
        return;
    }
    let v = unpack2x16float(x[w]);
    y[w] = pack2x16float(vec2<f32>(activate(v.x), activate(v.y)));
}
