// Batch-norm backward, "planes" variant, pass 1: per segment of one (image,
// channel) plane (as plane_moments.wgsl cuts them), one invocation computes
//   S1 = Σ dy,   S2 = Σ dy · (x − mean[c])
// and writes partial[(c·N + img)·chunks + segment] = (S1, S2). No barriers,
// one division per segment; VEC4 (HW % 4 == 0): vec4 loads of dy and x.
// Sums in four lanes of blocks of 16 terms.
// Bytes: two loads of T per element, 8 per segment written.
// Includes: precision prelude (T, T4), grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> dy4: array<T4>;
@group(0) @binding(3) var<storage, read> x: array<T>;
@group(0) @binding(4) var<storage, read> x4: array<T4>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<vec2<f32>>;

override VEC4: bool = false;

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
    let c = plane % p.c;
    let m = mean[c];
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    // Four interleaved lanes, each a serial sum of blocks of 16 terms (as
    // plane_moments.wgsl).
    if (VEC4) {
        let b4 = base / 4u;
        let quads = len / 4u;
        for (var q0 = 0u; q0 < quads; q0 += 16u) {
            var b1 = vec4<f32>(0.0);
            var b2 = vec4<f32>(0.0);
            for (var q = q0; q < min(q0 + 16u, quads); q++) {
                let g = vec4<f32>(dy4[b4 + q]);
                b1 += g;
                b2 += g * (vec4<f32>(x4[b4 + q]) - m);
            }
            s1 += b1;
            s2 += b2;
        }
    } else {
        for (var i0 = 0u; i0 < len; i0 += 64u) {
            var b1 = vec4<f32>(0.0);
            var b2 = vec4<f32>(0.0);
            for (var i = i0; i < min(i0 + 64u, len); i += 4u) {
                var g = vec4<f32>(0.0);
                var d = vec4<f32>(0.0);
                for (var j = 0u; j < 4u; j++) {
                    if (i + j < len) {
                        g[j] = f32(dy[base + i + j]);
                        d[j] = f32(x[base + i + j]) - m;
                    }
                }
                b1 += g;
                b2 += g * d;
            }
            s1 += b1;
            s2 += b2;
        }
    }
    let img = plane / p.c;
    partial[(c * p.n + img) * p.chunks + seg] =
        vec2<f32>((s1.x + s1.y) + (s1.z + s1.w), (s2.x + s2.y) + (s2.z + s2.w));
}
