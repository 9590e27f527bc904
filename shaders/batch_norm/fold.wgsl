// Folds evaluation-mode batch norm into the preceding convolution's weight,
// T storage (f32 or native f16), one element per invocation:
//   w'[i] = w[i] * (gamma[o] * (1 / sqrt(var[o] + eps))),  o = i / hw
// (PyTorch's fuse_conv_bn_weights order), where p.hw is the weight's elements
// per output channel and p.c the output channels. f32 arithmetic.
// Includes: precision prelude (T), grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> running_var: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.count) {
        return;
    }
    let o = channel_of(i);
    out[i] = T(f32(w[i]) * (gamma[o] * (1.0 / sqrt(running_var[o] + p.eps))));
}
