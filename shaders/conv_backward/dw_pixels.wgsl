// The B operand of the weight gradient's pixel-major GEMM form: B's receptive
// fields unrolled pixel by pixel, cols[q][(c*KH + ky)*KW + kx] over the
// chunk's pixels q = (img*OH + oy)*OW + ox (im2col transposed), zero for the
// padding pixels q >= P up to the GEMM's width. With A's rows [a_c, W] the
// gradient dW = rows · cols is a plain row-major GEMM, which the 16x16 vec4
// kernels run at twice the NT kernel's FMAs per load.
// One invocation per pixel writes its whole row of C_in*KH*KW taps: the
// pixel is decoded once (integer division is slow on CPU backends), and
// neighbouring invocations read neighbouring input columns.
// Bytes: W*patch elements written, as many read (zeros not loaded).
// Includes: precision prelude, grid.

struct Params {
    c_in: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: u32,
    dil_w: u32,
    pad_t: u32,
    pad_l: u32,
    // Pixels of the chunk, and the GEMM's (padded) width.
    cols: u32,
    width: u32,
    // The chunk's first element in the binding of x.
    x_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> cols: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let q = flat_workgroup(wid, nwg) * 64u + lid;
    if (q >= p.width) {
        return;
    }
    let taps = p.kh * p.kw;
    let row_len = p.c_in * taps;
    let out = q * row_len;
    if (q >= p.cols) {
        for (var j = 0u; j < row_len; j++) {
            cols[out + j] = T(0.0);
        }
        return;
    }
    let ox = q % p.ow;
    let u = q / p.ow;
    let oy = u % p.oh;
    let img = u / p.oh;
    let plane = p.h * p.w;
    let iy0 = i32(oy * p.stride_h) - i32(p.pad_t);
    let ix0 = i32(ox * p.stride_w) - i32(p.pad_l);
    var src = p.x_off + img * p.c_in * plane;
    var o = out;
    for (var c = 0u; c < p.c_in; c++) {
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky * p.dil_h);
            let row_ok = iy >= 0 && iy < i32(p.h);
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = ix0 + i32(kx * p.dil_w);
                var v = T(0.0);
                if (row_ok && ix >= 0 && ix < i32(p.w)) {
                    v = x[src + u32(iy) * p.w + u32(ix)];
                }
                cols[o] = v;
                o += 1u;
            }
        }
        src += plane;
    }
}
