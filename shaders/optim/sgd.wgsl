// torch.optim.SGD, one f32 parameter element per invocation, in place, with the
// operations of PyTorch's single-tensor path in the same order (no fused
// multiply-adds, so a CPU doing the same f32 operations matches bit for bit):
//   d = g;  if wd != 0: d = d + wd * w
//   momentum != 0:
//     buf = first ? d : buf * momentum + (1 - dampening) * d
//     d = nesterov ? d + momentum * buf : buf
//   w = w + (-lr) * d
// Host-computed scalars (1 - dampening, -lr) are rounded to f32 as PyTorch's
// scalar arguments are. Entry `plain` (no momentum buffer bound) and
// `momentum`. Bytes: 8 (12 with momentum) read, 4 (8) written per element.
// Includes: grid.

struct Params {
    n: u32,
    first: u32,
    nesterov: u32,
    _pad: u32,
    neg_lr: f32,
    momentum: f32,
    one_minus_dampening: f32,
    weight_decay: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;

fn decayed(i: u32) -> f32 {
    var d = grad[i];
    if (p.weight_decay != 0.0) {
        d = d + p.weight_decay * param[i];
    }
    return d;
}

@compute @workgroup_size(256)
fn plain(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    let d = decayed(i);
    param[i] = param[i] + p.neg_lr * d;
}

@compute @workgroup_size(256)
fn momentum(@builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    var d = decayed(i);
    var b = d;
    if (p.first == 0u) {
        b = buf[i] * p.momentum + p.one_minus_dampening * d;
    }
    buf[i] = b;
    if (p.nesterov == 1u) {
        d = d + p.momentum * b;
    } else {
        d = b;
    }
    param[i] = param[i] + p.neg_lr * d;
}
