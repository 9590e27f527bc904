// Transposed convolution, GEMM + col2im variant, step 2 when the stride equals
// the kernel (no padding, dilation or output padding, one group): the outputs
// tile exactly, each taking one tap of one input pixel, so col2im is a shuffle.
// One invocation per (chunk image, output channel, input pixel) writes that pixel's
// KH x KW outputs, adding the bias and the fused activation: four integer
// divisions per KH*KW outputs, where the general col2im (col2im.wgsl) needs
// several per output and tap (divisions are scalar loops on CPU rasterisers).
// Bytes: KH*KW f32 column loads and T stores per invocation.
// Includes: precision prelude, grid, activation, conv_transpose/params.

@group(0) @binding(1) var<storage, read> cols: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let plane = p.h_in * p.w_in;
    if (e >= p.nc * p.c_out * plane) {
        return;
    }
    // e = (z, q) with z = img * c_out + oc and q = iy * w_in + ix.
    let z = e / plane;
    let q = e - z * plane;
    let oc = z % p.c_out;
    let iy = q / p.w_in;
    let ix = q - iy * p.w_in;
    var b = 0.0;
    if (BIAS == 1u) {
        b = f32(bias[oc]);
    }
    let taps = p.kh * p.kw;
    let out0 = (p.n0 * p.c_out + z) * p.h_out * p.w_out + iy * p.kh * p.w_out + ix * p.kw;
    for (var ky = 0u; ky < p.kh; ky++) {
        for (var kx = 0u; kx < p.kw; kx++) {
            let v = cols[(z * taps + ky * p.kw + kx) * plane + q] + b;
            y[out0 + ky * p.w_out + kx] = T(activate(v));
        }
    }
}
