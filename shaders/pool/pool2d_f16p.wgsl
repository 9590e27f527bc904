// 2-D pooling forward on packed f16 storage: the pool2d.wgsl algorithm with each
// invocation owning one u32 word of the output, i.e. the two adjacent flat
// outputs 2w and 2w+1 (which may lie in different rows or planes), so no two
// invocations write the same word. Inputs are unpacked half by half; arithmetic
// in f32; the odd tail's padding half is written as 0. Entry `with_indices` also
// writes both outputs' i32 indices.
// Bytes: 2*kh*kw half loads + 1 word store (+ 2 index stores) per invocation.
// Includes: grid, pool/params, pool/forward.

@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;

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
    let a = pool_output(o);
    var b = 0.0;
    if (o + 1u < p.n) {
        b = pool_output(o + 1u);
    }
    y[word] = pack2x16float(vec2<f32>(a, b));
}

@compute @workgroup_size(64)
fn with_indices(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let word = flat_workgroup(wid, nwg) * 64u + lid;
    let o = 2u * word;
    if (o >= p.n) {
        return;
    }
    let a = pool_max(o, 1.0);
    indices[o] = a.index;
    var b = 0.0;
    if (o + 1u < p.n) {
        let r = pool_max(o + 1u, 1.0);
        b = r.value;
        indices[o + 1u] = r.index;
    }
    y[word] = pack2x16float(vec2<f32>(a.value, b));
}
