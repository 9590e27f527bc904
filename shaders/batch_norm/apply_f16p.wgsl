// Batch-norm affine transform with a fused activation on packed f16 storage:
// one u32 word (elements 2w and 2w+1, which may lie in different channels) per
// invocation, so every invocation owns whole output words. Same arithmetic as
// batch_norm/apply.wgsl, in f32. The padding half of an odd-length tensor is
// written as 0.
// Includes: grid, activation, batch_norm/params.

@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> stat: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;

fn transform(i: u32, xv: f32) -> f32 {
    let c = channel_of(i);
    var r = stat[c];
    if (p.mode == 1u) {
        r = 1.0 / sqrt(r + p.eps);
    }
    return activate(((xv - mean[c]) * r) * gamma[c] + beta[c]);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    if (w >= p.count) {
        return;
    }
    let xv = unpack2x16float(x[w]);
    let i = 2u * w;
    var out = vec2<f32>(transform(i, xv.x), 0.0);
    if (i + 1u < p.numel) {
        out.y = transform(i + 1u, xv.y);
    }
    y[w] = pack2x16float(out);
}
