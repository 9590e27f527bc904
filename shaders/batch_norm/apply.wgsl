// Batch-norm affine transform with a fused activation, T storage (f32 or native
// f16), one element per invocation:
//   y = act(((x - mean[c]) * r[c]) * gamma[c] + beta[c])
// with r = stat (training: the batch's 1/sqrt(var + eps)) or r = 1/sqrt(stat +
// eps) (evaluation: stat is the running variance), chosen by p.mode.
// Arithmetic in f32. Bytes: one load and one store of T per element plus four
// cached per-channel f32 loads.
// Includes: precision prelude (T), grid, activation, batch_norm/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> stat: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.count) {
        return;
    }
    let c = channel_of(i);
    var r = stat[c];
    if (p.mode == 1u) {
        r = 1.0 / sqrt(r + p.eps);
    }
    let v = ((f32(x[i]) - mean[c]) * r) * gamma[c] + beta[c];
    y[i] = T(activate(v));
}
