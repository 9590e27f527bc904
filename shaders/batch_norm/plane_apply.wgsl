// Batch-norm affine transform with a fused activation, "planes" variant: one
// invocation per run of p.chunk elements of one (image, channel) plane, so
// the channel (and its four per-channel values) is found once per run, not
// once per element:
//   y = act(((x - mean[c]) * r[c]) * gamma[c] + beta[c])
// with r = stat (training: the batch's 1/sqrt(var + eps)) or r = 1/sqrt(stat +
// eps) (evaluation: stat is the running variance), chosen by p.mode. VEC4
// (HW % 4 == 0): vec4 loads and stores. Arithmetic in f32.
// Bytes: one load and one store of T per element.
// Includes: precision prelude (T, T4), grid, activation, batch_norm/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> x4: array<T4>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> stat: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<T>;
@group(0) @binding(8) var<storage, read_write> y4: array<T4>;

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
    let start = (inv % p.chunks) * p.chunk;
    let len = min(p.chunk, p.hw - start);
    let base = plane * p.hw + start;
    let c = plane % p.c;
    let m = mean[c];
    var r = stat[c];
    if (p.mode == 1u) {
        r = 1.0 / sqrt(r + p.eps);
    }
    let g = gamma[c];
    let b = beta[c];
    if (VEC4) {
        let b4 = base / 4u;
        for (var q = 0u; q < len / 4u; q++) {
            let v = ((vec4<f32>(x4[b4 + q]) - m) * r) * g + b;
            y4[b4 + q] = T4(vec4<f32>(activate(v.x), activate(v.y), activate(v.z), activate(v.w)));
        }
    } else {
        for (var i = 0u; i < len; i++) {
            y[base + i] = T(activate(((f32(x[base + i]) - m) * r) * g + b));
        }
    }
}
