// 2-D upsampling on packed f16 storage: upsample.wgsl with each invocation owning
// one output word (flat outputs 2w and 2w+1, possibly in different rows or
// planes); the odd tail's padding half is written as 0.
// Includes: grid, upsample/params, upsample/forward.

@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;

fn load(i: u32) -> f32 {
    let v = unpack2x16float(x[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let word = flat_workgroup(wid, nwg) * 64u + lid;
    let o = 2u * word;
    if (o >= p.n) {
        return;
    }
    let a = upsample_value(o);
    var b = 0.0;
    if (o + 1u < p.n) {
        b = upsample_value(o + 1u);
    }
    y[word] = pack2x16float(vec2<f32>(a, b));
}
