// conv2d variant 1, direct, on packed f16 storage (two halves per u32) for
// adapters without shader-f16. Same arithmetic as conv_direct.wgsl (f32
// accumulation); each invocation owns one u32 word of y, i.e. two consecutive
// flat outputs (possibly in different rows, channels or images), so no two
// invocations write the same word. The launcher starts every batch chunk on an
// even element, so words never straddle two launches; words of the y window
// before the chunk (the alignment slack `y_off`) are left alone, and the upper
// half of a final odd word is the tensor's padding half (written as 0).
// Includes: grid, activation, conv/params, conv/direct_common.

@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> wt: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;

fn half_at(v: u32, i: u32) -> f32 {
    let h = unpack2x16float(v);
    return select(h.x, h.y, (i & 1u) == 1u);
}

fn ld_x(i: u32) -> f32 {
    return half_at(x[i >> 1u], i);
}

fn ld_w(i: u32) -> f32 {
    return half_at(wt[i >> 1u], i);
}

fn ld_bias(i: u32) -> f32 {
    return half_at(bias[i >> 1u], i);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // Word index within the y window; y_off is even.
    let word = flat_workgroup(wid, nwg) * 64u + lid + p.y_off / 2u;
    let total = p.n * p.c_out * p.oh * p.ow;
    let e = 2u * word - p.y_off;
    if (e >= total) {
        return;
    }
    var hi = 0.0;
    if (e + 1u < total) {
        hi = direct_output(e + 1u);
    }
    y[word] = pack2x16float(vec2<f32>(direct_output(e), hi));
}
