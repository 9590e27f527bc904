// Folds evaluation-mode batch norm into a convolution's bias, in f32, one output
// channel per invocation (PyTorch's fuse_conv_bn_weights order):
//   b'[o] = (b[o] - mean[o]) * (1 / sqrt(var[o] + eps)) * gamma[o] + beta[o]
// with b = 0 when the convolution has no bias (p.mode == 0).
// Includes: grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 256u + lid;
    if (o >= p.c) {
        return;
    }
    var bv = 0.0;
    if (p.mode == 1u) {
        bv = b[o];
    }
    let r = 1.0 / sqrt(running_var[o] + p.eps);
    out[o] = (bv - running_mean[o]) * r * gamma[o] + beta[o];
}
