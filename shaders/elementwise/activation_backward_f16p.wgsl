// Activation backward on packed f16 storage: dx = dy * act'(v), one word
// (two elements) per invocation. See activation_backward.wgsl for v.
// Includes: grid, activation (ACT, ALPHA).

struct Params {
    words: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> saved: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    if (w >= p.words) {
        return;
    }
    let v = unpack2x16float(saved[w]);
    let g = unpack2x16float(dy[w]);
    dx[w] = pack2x16float(vec2<f32>(g.x * act_grad(v.x), g.y * act_grad(v.y)));
}
