// Transposed convolution, GEMM + col2im variant, step 2 (f32 / native f16):
// y[n0 + img, oc, oy, ox] = act(bias[oc] + col2im_sum(img, oc, oy, ox)), one
// output element per invocation over the chunk's nc images, then stored as T.
// Reads at most kh*kw f32 columns per output; each output is written by
// exactly one invocation (a gather, deterministic).
// Includes: precision prelude, grid, activation, conv_transpose/params,
// conv_transpose/col2im_sum.

@group(0) @binding(1) var<storage, read> cols: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let hw_out = p.h_out * p.w_out;
    if (e >= p.nc * p.c_out * hw_out) {
        return;
    }
    let ox = e % p.w_out;
    let oy = (e / p.w_out) % p.h_out;
    let oc = (e / hw_out) % p.c_out;
    let img = e / (hw_out * p.c_out);
    var v = col2im_sum(img, oc, oy, ox);
    if (BIAS == 1u) {
        v += f32(bias[oc]);
    }
    y[p.n0 * p.c_out * hw_out + e] = T(activate(v));
}
