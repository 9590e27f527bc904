// conv2d variant 3, implicit GEMM: the GEMM W[C_out/g, K] . cols[K, N*OH*OW]
// (K = C_in/g*KH*KW) computed without materialising cols. Each invocation
// owns a TM x TN register block: TM output channels (the same for the whole
// workgroup, so every weight load is uniform) by TN consecutive output columns
// of one output row (a "segment"); 64 invocations per workgroup cover 64
// segments. K runs as (ci, ky, kx) with the im2col indices computed on the fly.
//
// Input reuse across kx: when the launcher specialises the kernel width,
// column stride and dilation (KW_C > 0, SW_C, DW_C), each (ci, ky) step loads
// the input row window the segment's TN outputs need once,
// (TN-1)*SW_C + (KW_C-1)*DW_C + 1 values, and serves all KW_C taps from
// registers: for a 3x3 stride-1 kernel, 10 input loads and 24 weight loads feed
// 192 FMAs, against 48 loads per 192 FMAs for a plain 8x8 register-blocked
// GEMM. With KW_C = 0 the kernel runs the generic (any kernel width, stride and
// dilation) form: TN input loads and TM weight loads per tap.
//
// Padding: loads read a clamped in-range element and select 0 outside the
// image, so the inner loops have no branches; out-of-range channels read a
// clamped weight and out-of-range columns are masked at the store.
// FLOPs: 2*C_out*N*OH*OW*K (+ waste of partial blocks). No scratch memory.
//
// Params: a0 = segments per output row (ceil(OW/TN)), a1 = segments in the
// launch (n*OH*a0), a2 = channel tiles per group (ceil((C_out/g)/TM));
// tiles_m = groups*a2 (fastest in the flat workgroup index), tiles_p =
// ceil(a1/64). Preconditions: non-empty input (h, w > 0).
// Includes: precision prelude, grid, activation, conv/params, conv/epilogue.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> wt: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;

// Output channels per invocation (1, 2, 4 or 8).
override TM: u32 = 8u;
// Consecutive output columns per invocation (at most 8).
override TN: u32 = 8u;
// Specialised kernel width, column stride and dilation (KW_C = 0: generic).
override KW_C: u32 = 0u;
override SW_C: u32 = 1u;
override DW_C: u32 = 1u;
const MAX_TM: u32 = 8u;
const MAX_TN: u32 = 8u;
const MAX_WIN: u32 = 32u;
const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let flat = flat_workgroup(wid, nwg);
    let mt = flat % p.tiles_m;
    let pt = flat / p.tiles_m;
    if (pt >= p.tiles_p) {
        return;
    }
    let g = mt / p.a2;
    let m0 = (mt % p.a2) * TM;
    let seg_raw = pt * WG + lid;
    let seg = min(seg_raw, p.a1 - 1u);
    let ox0 = (seg % p.a0) * TN;
    let rowi = seg / p.a0;
    let oy = rowi % p.oh;
    let img = rowi / p.oh;
    let hw = p.h * p.w;
    let iy0 = i32(oy * p.stride_h) - i32(p.pad_t);
    let ix0 = i32(ox0 * p.stride_w) - i32(p.pad_l);
    let hmax = i32(p.h) - 1;
    let wmax = i32(p.w) - 1;
    let co0 = g * p.cout_g + m0;
    let co_last = g * p.cout_g + p.cout_g - 1u;
    var wrow: array<u32, MAX_TM>;
    for (var i = 0u; i < TM; i++) {
        wrow[i] = min(co0 + i, co_last) * p.patch_len;
    }
    var acc: array<f32, 64>;
    var xc = p.x_off + (img * p.c_in + g * p.cin_g) * hw;
    var wc = 0u;
    for (var ci = 0u; ci < p.cin_g; ci++) {
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky * p.dil_h);
            let row_ok = iy >= 0 && iy <= hmax;
            let row = xc + u32(clamp(iy, 0, hmax)) * p.w;
            if (KW_C > 0u) {
                var win: array<f32, MAX_WIN>;
                for (var t = 0u; t < (TN - 1u) * SW_C + (KW_C - 1u) * DW_C + 1u; t++) {
                    let ix = ix0 + i32(t);
                    let v = f32(x[row + u32(clamp(ix, 0, wmax))]);
                    win[t] = select(0.0, v, row_ok && ix >= 0 && ix <= wmax);
                }
                for (var kx = 0u; kx < KW_C; kx++) {
                    for (var i = 0u; i < TM; i++) {
                        let wv = f32(wt[wrow[i] + wc + kx]);
                        for (var j = 0u; j < TN; j++) {
                            acc[i * MAX_TN + j] = fma(wv, win[j * SW_C + kx * DW_C], acc[i * MAX_TN + j]);
                        }
                    }
                }
            } else {
                for (var kx = 0u; kx < p.kw; kx++) {
                    var xv: array<f32, MAX_TN>;
                    for (var j = 0u; j < TN; j++) {
                        let ix = ix0 + i32(j * p.stride_w + kx * p.dil_w);
                        let v = f32(x[row + u32(clamp(ix, 0, wmax))]);
                        xv[j] = select(0.0, v, row_ok && ix >= 0 && ix <= wmax);
                    }
                    for (var i = 0u; i < TM; i++) {
                        let wv = f32(wt[wrow[i] + wc + kx]);
                        for (var j = 0u; j < TN; j++) {
                            acc[i * MAX_TN + j] = fma(wv, xv[j], acc[i * MAX_TN + j]);
                        }
                    }
                }
            }
            wc += p.kw;
        }
        xc += hw;
    }
    if (seg_raw >= p.a1) {
        return;
    }
    let ohw = p.oh * p.ow;
    let out0 = p.y_off + ((img * p.c_out + co0) * p.oh + oy) * p.ow + ox0;
    for (var i = 0u; i < TM; i++) {
        if (m0 + i < p.cout_g) {
            for (var j = 0u; j < TN; j++) {
                if (ox0 + j < p.ow) {
                    y[out0 + i * ohw + j] = T(conv_epilogue(co0 + i, acc[i * MAX_TN + j]));
                }
            }
        }
    }
}
