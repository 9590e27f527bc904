// Batch-norm training statistics, "planes" variant, pass 1: the partial
// moments of one segment of one (image, channel) plane per invocation.
//
// A plane x[img, c, :, :] is HW contiguous elements; it is cut into
// segments of p.chunk elements (p.chunks per plane, the last one shorter).
// Invocation (plane, segment) sums its segment in two sweeps (the second from
// cache): m = Σx / len, then M2 = Σ (x − m)², and writes
// partial[(c·N + img)·chunks + segment] = (m, M2), the channel's partials in
// image order for plane_finalize.wgsl. No workgroup memory, no barriers, and
// one integer division per segment: on CPU backends barriers and per-element
// divisions cost more than the loads. With VEC4 (HW % 4 == 0) the loads are
// vec4s. Sums run in four interleaved lanes of blocks of 16 (sum_segment).
// Bytes: numel elements read (twice, the second from cache); 8 per segment
// written.
// Includes: precision prelude (T, T4), grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
// The same buffer as `x`, for vector loads.
@group(0) @binding(2) var<storage, read> x4: array<T4>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec2<f32>>;

// Whether HW is a multiple of 4 (segments then are whole vec4s).
override VEC4: bool = false;

// Element i of x, minus `center` and squared when `square`.
fn term(i: u32, center: f32, square: bool) -> f32 {
    let d = f32(x[i]) - center;
    return select(d, d * d, square);
}

// Vec4 i of x, likewise.
fn term4(i: u32, center: f32, square: bool) -> vec4<f32> {
    let d = vec4<f32>(x4[i]) - center;
    return select(d, d * d, square);
}

// Σ over the segment's elements [base, base + len) of term(·), as four
// interleaved lanes, each a serial sum of blocks of 16 terms (<= 16 terms per
// f32 chain before it is added to the next level: errors grow like 16 + 8
// ulps, not like the segment's length).
fn sum_segment(base: u32, len: u32, center: f32, square: bool) -> vec4<f32> {
    var total = vec4<f32>(0.0);
    if (VEC4) {
        let b4 = base / 4u;
        let quads = len / 4u;
        for (var q0 = 0u; q0 < quads; q0 += 16u) {
            var block = vec4<f32>(0.0);
            for (var q = q0; q < min(q0 + 16u, quads); q++) {
                block += term4(b4 + q, center, square);
            }
            total += block;
        }
    } else {
        for (var i0 = 0u; i0 < len; i0 += 64u) {
            var block = vec4<f32>(0.0);
            for (var i = i0; i < min(i0 + 64u, len); i += 4u) {
                var v = vec4<f32>(term(base + i, center, square), 0.0, 0.0, 0.0);
                if (i + 1u < len) { v.y = term(base + i + 1u, center, square); }
                if (i + 2u < len) { v.z = term(base + i + 2u, center, square); }
                if (i + 3u < len) { v.w = term(base + i + 3u, center, square); }
                block += v;
            }
            total += block;
        }
    }
    return total;
}

fn lanes_sum(v: vec4<f32>) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let inv = flat_workgroup(wid, nwg) * 64u + lid;
    if (inv >= p.count) {
        return;
    }
    let plane = inv / p.chunks;
    let seg = inv % p.chunks;
    let start = seg * p.chunk;
    let len = min(p.chunk, p.hw - start);
    let base = plane * p.hw + start;
    let mean = lanes_sum(sum_segment(base, len, 0.0, false)) / f32(len);
    let m2 = lanes_sum(sum_segment(base, len, mean, true));
    let c = plane % p.c;
    let img = plane / p.c;
    partial[(c * p.n + img) * p.chunks + seg] = vec2<f32>(mean, m2);
}
