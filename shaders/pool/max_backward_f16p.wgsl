// Max-pooling backward on packed f16 storage: pool/max_backward.wgsl with each
// invocation owning one word of dx (elements 2w and 2w+1); the odd tail's
// padding half is written as 0.
// Includes: grid, pool/params, pool/max_grad.

@group(0) @binding(1) var<storage, read> dy: array<u32>;
@group(0) @binding(4) var<storage, read_write> dx: array<u32>;

fn load_dy(i: u32) -> f32 {
    let v = unpack2x16float(dy[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let word = flat_workgroup(wid, nwg) * 64u + lid;
    let e = 2u * word;
    if (e >= p.n) {
        return;
    }
    let a = max_grad(e);
    var b = 0.0;
    if (e + 1u < p.n) {
        b = max_grad(e + 1u);
    }
    dx[word] = pack2x16float(vec2<f32>(a, b));
}
