// The B operand of the weight gradient's pixel-major GEMM form: B's receptive
// fields unrolled pixel by pixel, cols[q][(c*KH + ky)*KW + kx] over the
// chunk's pixels q = (img*OH + oy)*OW + ox (im2col transposed), zero for the
// padding pixels q >= P up to the GEMM's width. With A's rows [a_c, W] the
// gradient dW = rows · cols is a plain row-major GEMM, which the 16x16 vec4
// kernels run at twice the NT kernel's FMAs per load.
// One invocation per pixel writes its whole row of C_in*KH*KW taps (a
// multiple of 4, as the GEMM needs) as vec4 stores: the pixel is decoded
// once (integer division is slow on CPU backends), the taps are walked with
// counters, and neighbouring invocations read neighbouring input columns.
// (Scalar stores, one row apart across the SIMD lanes, made this pass a third
// of the weight gradient of a 3x3 C64 56x56 layer on lavapipe.)
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
// f32 at every precision: the GEMM runs on f32 operands.
@group(0) @binding(2) var<storage, read_write> cols: array<vec4<f32>>;

// The input value under tap (c, ky, kx) of the pixel whose window starts at
// (iy0, ix0) of the image at src.
fn tap(src: u32, iy0: i32, ix0: i32, c: u32, ky: u32, kx: u32) -> T {
    let iy = iy0 + i32(ky * p.dil_h);
    let ix = ix0 + i32(kx * p.dil_w);
    if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
        return x[src + (c * p.h + u32(iy)) * p.w + u32(ix)];
    }
    return T(0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let q = flat_workgroup(wid, nwg) * 64u + lid;
    if (q >= p.width) {
        return;
    }
    let row4 = p.c_in * p.kh * p.kw / 4u;
    let out = q * row4;
    if (q >= p.cols) {
        for (var j = 0u; j < row4; j++) {
            cols[out + j] = vec4<f32>(0.0);
        }
        return;
    }
    let ox = q % p.ow;
    let u = q / p.ow;
    let oy = u % p.oh;
    let img = u / p.oh;
    let iy0 = i32(oy * p.stride_h) - i32(p.pad_t);
    let ix0 = i32(ox * p.stride_w) - i32(p.pad_l);
    let src = p.x_off + img * p.c_in * p.h * p.w;
    // The next tap: channel c, kernel row ky, column kx.
    var c = 0u;
    var ky = 0u;
    var kx = 0u;
    for (var j = 0u; j < row4; j++) {
        var v = vec4<f32>(0.0);
        for (var l = 0u; l < 4u; l++) {
            v[l] = f32(tap(src, iy0, ix0, c, ky, kx));
            kx += 1u;
            if (kx == p.kw) {
                kx = 0u;
                ky += 1u;
                if (ky == p.kh) {
                    ky = 0u;
                    c += 1u;
                }
            }
        }
        cols[out + j] = v;
    }
}
