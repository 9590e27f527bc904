// conv2d variant 1, direct: one output element per invocation, 64 invocations
// per workgroup over the flat NCHW output of the launch. Each invocation walks
// its receptive field (C_in/groups x KH x KW taps, padding skipped) loading the
// input and weight of every tap straight from storage and accumulating in f32,
// then adds the bias and applies the fused activation. The baseline every other
// variant is measured against: 2*K FLOPs and 2*K loads per output
// (K = C_in/groups*KH*KW). Accepts every problem (any stride, padding,
// dilation, groups).
// Includes: precision prelude, grid, activation, conv/params, conv/direct_common.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> wt: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;

fn ld_x(i: u32) -> f32 {
    return f32(x[i]);
}

fn ld_w(i: u32) -> f32 {
    return f32(wt[i]);
}

fn ld_bias(i: u32) -> f32 {
    return f32(bias[i]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.n * p.c_out * p.oh * p.ow) {
        return;
    }
    y[p.y_off + e] = T(direct_output(e));
}
