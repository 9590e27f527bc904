// z = x OP y on packed f16 storage, y broadcast as in binary.wgsl. One word (two
// elements) of z per invocation; x and y elements are fetched individually since
// the broadcast index of the two halves may fall in different words of y.
// Includes: grid, elementwise/binary_ops.

struct Params {
    n: u32,
    inner: u32,
    ny: u32,
    // Flat index of element 0 of this launch, when x and z are bound through a window.
    base: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> y: array<u32>;
@group(0) @binding(3) var<storage, read_write> z: array<u32>;

fn half_at(word: u32, i: u32) -> f32 {
    let v = unpack2x16float(word);
    return select(v.x, v.y, (i & 1u) == 1u);
}

fn element(i: u32) -> f32 {
    if (i >= p.n) {
        return 0.0;
    }
    let j = ((p.base + i) / p.inner) % p.ny;
    return apply(half_at(x[i >> 1u], i), half_at(y[j >> 1u], j));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    if (2u * w >= p.n) {
        return;
    }
    z[w] = pack2x16float(vec2<f32>(element(2u * w), element(2u * w + 1u)));
}
