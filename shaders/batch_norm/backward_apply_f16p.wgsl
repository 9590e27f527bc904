// Batch-norm backward pass 3 on packed f16 storage: one u32 word (two elements,
// possibly of different channels) per invocation, so every invocation owns
// whole output words; arithmetic as batch_norm/backward_apply.wgsl. The padding
// half of an odd-length tensor is written as 0.
// Includes: grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> dy: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read> coef: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dx: array<u32>;

fn grad(i: u32, g: f32, xv: f32) -> f32 {
    let k = coef[channel_of(i)];
    return k.x * ((g - k.y) - (xv - k.w) * k.z);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let w = flat_workgroup(wid, nwg) * 256u + lid;
    if (w >= p.count) {
        return;
    }
    let g = unpack2x16float(dy[w]);
    let xv = unpack2x16float(x[w]);
    let i = 2u * w;
    var out = vec2<f32>(grad(i, g.x, xv.x), 0.0);
    if (i + 1u < p.numel) {
        out.y = grad(i + 1u, g.y, xv.y);
    }
    dx[w] = pack2x16float(out);
}
