// batch_norm/fold.wgsl on packed f16 storage: one u32 word (two elements,
// possibly of different output channels) per invocation, so every invocation
// owns whole output words. The padding half is written as 0.
// Includes: grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> running_var: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

fn folded(i: u32, v: f32) -> f32 {
    let o = channel_of(i);
    return v * (gamma[o] * (1.0 / sqrt(running_var[o] + p.eps)));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let wi = flat_workgroup(wid, nwg) * 256u + lid;
    if (wi >= p.count) {
        return;
    }
    let v = unpack2x16float(w[wi]);
    let i = 2u * wi;
    var r = vec2<f32>(folded(i, v.x), 0.0);
    if (i + 1u < p.numel) {
        r.y = folded(i + 1u, v.y);
    }
    out[wi] = pack2x16float(r);
}
