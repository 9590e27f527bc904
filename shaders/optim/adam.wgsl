// torch.optim.Adam / AdamW, one f32 parameter element per invocation, in place,
// with the operations of PyTorch's single-tensor path in the same order (no
// fused multiply-adds, so a CPU doing the same f32 operations matches bit for
// bit):
//   AdamW (decoupled): w = w * (1 - lr*wd);   Adam: g = g + wd * w
//   m = lerp(m, g, 1 - beta1)   (PyTorch's lerp: weight < 0.5 ? m + wt*(g - m)
//                                               : g - (g - m)*(1 - wt))
//   v = v * beta2 + ((1 - beta2) * g) * g
//   w = w + (-step_size) * (m / (sqrt(v) / bc2_sqrt + eps))
// step_size = lr / (1 - beta1^step) and bc2_sqrt = sqrt(1 - beta2^step) are
// computed in f64 on the host and rounded to f32, as PyTorch's Python floats
// are when they meet f32 tensors.
// Bytes: 16 read, 12 written per element.
// Includes: grid.

struct Params {
    n: u32,
    decoupled: u32,
    _pad0: u32,
    _pad1: u32,
    weight_decay: f32,
    decay_factor: f32,
    lerp_weight: f32,
    one_minus_lerp_weight: f32,
    beta2: f32,
    one_minus_beta2: f32,
    neg_step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
    _pad2: f32,
    _pad3: f32,
    _pad4: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    var w = param[i];
    var g = grad[i];
    if (p.weight_decay != 0.0) {
        if (p.decoupled == 1u) {
            w = w * p.decay_factor;
        } else {
            g = g + p.weight_decay * w;
        }
    }
    var m = exp_avg[i];
    if (p.lerp_weight < 0.5) {
        m = m + p.lerp_weight * (g - m);
    } else {
        m = g - (g - m) * p.one_minus_lerp_weight;
    }
    let v = exp_avg_sq[i] * p.beta2 + (p.one_minus_beta2 * g) * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    let denom = sqrt(v) / p.bc2_sqrt + p.eps;
    param[i] = w + p.neg_step_size * (m / denom);
}
