// y = x * a + b on packed f16 storage, one word (two elements) per invocation.
// Includes: grid.

struct Params {
    words: u32,
    a: f32,
    b: f32,
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
    let scaled = unpack2x16float(x[w]) * p.a;
    y[w] = pack2x16float(scaled + vec2<f32>(p.b));
}
