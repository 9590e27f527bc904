// Conversion between f32 and packed f16 storage. Each invocation owns one f16
// word, i.e. two f32 elements; f32 -> f16 rounds to nearest even.
// Includes: grid.

struct Params {
    n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(256)
fn to_f16(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    let i = 2u * w;
    if (i >= p.n) {
        return;
    }
    let lo = bitcast<f32>(src[i]);
    var hi = 0.0;
    if (i + 1u < p.n) {
        hi = bitcast<f32>(src[i + 1u]);
    }
    dst[w] = pack2x16float(vec2<f32>(lo, hi));
}

@compute @workgroup_size(256)
fn to_f32(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    let i = 2u * w;
    if (i >= p.n) {
        return;
    }
    let v = unpack2x16float(src[w]);
    dst[i] = bitcast<u32>(v.x);
    if (i + 1u < p.n) {
        dst[i + 1u] = bitcast<u32>(v.y);
    }
}
