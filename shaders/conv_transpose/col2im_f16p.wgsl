// Transposed convolution, GEMM + col2im variant, step 2 on packed f16 storage.
// One invocation per u32 word of y overlapping the chunk's elements
// [s, e) = [n0, n0 + nc) images: it computes the word's elements that lie in
// the chunk and writes the word whole. When an image holds an odd number of
// elements a word can straddle two chunks: the earlier chunk's launch writes
// its low half (high half zero), and the next chunk's launch, ordered after it,
// reads that low half back and completes the word. Within one launch every word
// has a single owner, so no two invocations race.
// Includes: grid, activation, conv_transpose/params, conv_transpose/col2im_sum.

@group(0) @binding(1) var<storage, read> cols: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;

fn element(e: u32) -> f32 {
    let hw_out = p.h_out * p.w_out;
    let ox = e % p.w_out;
    let oy = (e / p.w_out) % p.h_out;
    let oc = (e / hw_out) % p.c_out;
    let img = e / (hw_out * p.c_out) - p.n0;
    var v = col2im_sum(img, oc, oy, ox);
    if (BIAS == 1u) {
        let b = unpack2x16float(bias[oc >> 1u]);
        v += select(b.x, b.y, (oc & 1u) == 1u);
    }
    return activate(v);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let per_img = p.c_out * p.h_out * p.w_out;
    let s = p.n0 * per_img;
    let e = s + p.nc * per_img;
    let w = s / 2u + flat_workgroup(wid, nwg) * 64u + lid;
    if (2u * w >= e) {
        return;
    }
    var lo = 0.0;
    if (2u * w >= s) {
        lo = element(2u * w);
    } else {
        lo = unpack2x16float(y[w]).x;
    }
    var hi = 0.0;
    if (2u * w + 1u < e) {
        hi = element(2u * w + 1u);
    }
    y[w] = pack2x16float(vec2<f32>(lo, hi));
}
