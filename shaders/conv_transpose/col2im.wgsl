// Transposed convolution, GEMM + col2im variant, step 2 (f32 / native f16):
// y[n0 + img, oc, oy, ox] = act(bias[oc] + col2im_sum(img, oc, oy, ox)) over
// the chunk's nc images, then stored as T. Each output is written by exactly
// one invocation (a gather, deterministic) and reads at most kh*kw f32
// columns.
// One invocation per run of RUN outputs along a row (segs runs per row): a
// CPU backend pays per invocation about what a few outputs' sums cost, so one
// output per invocation ran at a fifth of this.
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
    if (e >= p.nc * p.c_out * p.h_out * p.segs) {
        return;
    }
    let seg = e % p.segs;
    let row = e / p.segs;
    let oy = row % p.h_out;
    let oc = (row / p.h_out) % p.c_out;
    let img = row / (p.h_out * p.c_out);
    let ox0 = seg * RUN;
    var v = col2im_run(img, oc, oy, ox0);
    var b = 0.0;
    if (BIAS == 1u) {
        b = f32(bias[oc]);
    }
    let out = (((p.n0 + img) * p.c_out + oc) * p.h_out + oy) * p.w_out + ox0;
    let n = min(RUN, p.w_out - ox0);
    for (var j = 0u; j < RUN; j++) {
        if (j < n) {
            y[out + j] = T(activate(v[j] + b));
        }
    }
}
