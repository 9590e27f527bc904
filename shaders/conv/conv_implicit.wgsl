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
// registers. At unit stride and dilation the window is a sliding pair of vec4
// registers (TN loads, then one per further tap), not an indexed array: CPU
// rasterisers keep dynamically indexed private arrays in memory and gather
// from them lane by lane. For a 3x3 stride-1 kernel with 8 rows: 10 input loads
// and 6 vec4 weight loads feed 192 FMAs, against 48 loads per 192 FMAs for a
// plain 8x8 register-blocked GEMM. With KW_C = 0 the kernel runs the generic
// (any kernel width, stride and dilation) form: TN input loads per tap.
//
// Weights: the launcher binds either the OIHW tensor itself (TM scalar loads
// per tap; blocks of 1-2 rows) or a copy reordered to [groups, K, cpad]
// (implicit_weights_taps: the 4 or 8 rows of a tap are one or two aligned vec4
// loads), placed in a uniform block when it is f32 and at most 16 KiB (CPU
// rasterisers serve uniform loads with a gather, storage loads with a
// bounds-checked loop over the SIMD lanes). a3 = cpad.
//
// Register blocking on CPU rasterisers: the TM rows are written out one by one
// (tap_rows, store_rows) rather than as a loop, and the accumulators are vec4
// pairs, so that they stay constant-indexed registers whatever the compiler's
// loop-unrolling limits (a dynamically indexed accumulator array is spilled to
// memory and costs 5-10x on lavapipe).
//
// Padding: kernel rows outside the image are skipped (when no lane of a SIMD
// group needs them); within a row, loads read a clamped in-range element and
// select 0 outside the image, so the inner loops have no branches; out-of-range channels read a
// clamped weight and out-of-range columns are masked at the store; invocations
// past the last segment return at once (no barriers here).
// FLOPs: 2*C_out*N*OH*OW*K (+ partial blocks). Scratch: the reordered weights.
//
// Params: a0 = segments per output row (ceil(OW/TN)), a1 = segments in the
// launch (n*OH*a0), a2 = channel tiles per group (ceil((C_out/g)/TM));
// tiles_m = groups*a2 (fastest in the flat workgroup index), tiles_p =
// ceil(a1/64). Preconditions: non-empty input (h, w > 0).
// Includes: precision prelude, grid, activation, conv/params, conv/epilogue,
// one of conv/implicit_weights_{oihw, taps, taps_uniform} (binding 2,
// `tap_weights`).

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;

// Output channels per invocation (1, 2, 4, 6 or 8).
override TM: u32 = 8u;
// Consecutive output columns per invocation (4 or 8).
override TN: u32 = 8u;
// Specialised kernel width, column stride and dilation (KW_C = 0: generic).
override KW_C: u32 = 0u;
override SW_C: u32 = 1u;
override DW_C: u32 = 1u;
const MAX_TN: u32 = 8u;
const MAX_WIN: u32 = 32u;
const WG: u32 = 64u;

// The block: row i, columns 0-3 in acc[2i] and 4-7 in acc[2i + 1].
var<private> acc: array<vec4<f32>, 16>;

// Input element (row, ix) of the current channel, 0 outside the image.
fn ld_x(row: u32, row_ok: bool, ix: i32, wmax: i32) -> f32 {
    let v = f32(x[row + u32(clamp(ix, 0, wmax))]);
    return select(0.0, v, row_ok && ix >= 0 && ix <= wmax);
}

// One kernel tap for every row of the block; x0 and x1 are the input values
// of columns 0-3 and 4-7. The weights of rows 0-3 and 4-7 at this tap come
// from `tap_weights` (conv/implicit_weights_*.wgsl).
fn tap_rows(g: u32, m0: u32, tap: u32, x0: vec4<f32>, x1: vec4<f32>) {
    let wa = tap_weights(g, m0, tap);
    acc[0] = fma(vec4<f32>(wa.x), x0, acc[0]);
    if (TN == 8u) {
        acc[1] = fma(vec4<f32>(wa.x), x1, acc[1]);
    }
    if (TM > 1u) {
        acc[2] = fma(vec4<f32>(wa.y), x0, acc[2]);
        if (TN == 8u) {
            acc[3] = fma(vec4<f32>(wa.y), x1, acc[3]);
        }
    }
    if (TM > 2u) {
        acc[4] = fma(vec4<f32>(wa.z), x0, acc[4]);
        if (TN == 8u) {
            acc[5] = fma(vec4<f32>(wa.z), x1, acc[5]);
        }
        acc[6] = fma(vec4<f32>(wa.w), x0, acc[6]);
        if (TN == 8u) {
            acc[7] = fma(vec4<f32>(wa.w), x1, acc[7]);
        }
    }
    if (TM > 4u) {
        let wb = tap_weights(g, m0 + 4u, tap);
        acc[8] = fma(vec4<f32>(wb.x), x0, acc[8]);
        acc[10] = fma(vec4<f32>(wb.y), x0, acc[10]);
        if (TN == 8u) {
            acc[9] = fma(vec4<f32>(wb.x), x1, acc[9]);
            acc[11] = fma(vec4<f32>(wb.y), x1, acc[11]);
        }
        if (TM > 6u) {
            acc[12] = fma(vec4<f32>(wb.z), x0, acc[12]);
            acc[14] = fma(vec4<f32>(wb.w), x0, acc[14]);
            if (TN == 8u) {
                acc[13] = fma(vec4<f32>(wb.z), x1, acc[13]);
                acc[15] = fma(vec4<f32>(wb.w), x1, acc[15]);
            }
        }
    }
}

// Stores row m of the block (output channel co at y index `out`), masking
// channels past the group and columns past the output row.
fn store_row(m: u32, co: u32, out: u32, ox0: u32, a0: vec4<f32>, a1: vec4<f32>) {
    if (m >= p.cout_g) {
        return;
    }
    for (var j = 0u; j < TN; j++) {
        if (ox0 + j < p.ow) {
            let v = select(a1[j & 3u], a0[j & 3u], j < 4u);
            y[out + j] = T(conv_epilogue(co, v));
        }
    }
}

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
    let seg = pt * WG + lid;
    // Invocations past the last segment have nothing to store; leaving early
    // lets a CPU rasteriser skip SIMD groups with no live lane.
    if (seg >= p.a1) {
        return;
    }
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
    var xc = p.x_off + (img * p.c_in + g * p.cin_g) * hw;
    var tap = 0u;
    for (var ci = 0u; ci < p.cin_g; ci++) {
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky * p.dil_h);
            let row_ok = iy >= 0 && iy <= hmax;
            let row = xc + u32(clamp(iy, 0, hmax)) * p.w;
            // Rows in the padding add nothing: skipped whenever no lane of
            // the SIMD group needs them.
            if (row_ok) {
                if (KW_C > 0u && SW_C == 1u && DW_C == 1u) {
                    // Unit stride and dilation: the TN inputs of tap kx + 1 are
                    // those of tap kx shifted by one, so the row is read as a
                    // sliding window of registers (no indexed array, which CPU
                    // rasterisers keep in memory and gather from lane by lane).
                    var x0 = vec4<f32>(ld_x(row, row_ok, ix0, wmax), ld_x(row, row_ok, ix0 + 1, wmax),
                                       ld_x(row, row_ok, ix0 + 2, wmax), ld_x(row, row_ok, ix0 + 3, wmax));
                    var x1 = vec4<f32>();
                    if (TN == 8u) {
                        x1 = vec4<f32>(ld_x(row, row_ok, ix0 + 4, wmax), ld_x(row, row_ok, ix0 + 5, wmax),
                                       ld_x(row, row_ok, ix0 + 6, wmax), ld_x(row, row_ok, ix0 + 7, wmax));
                    }
                    for (var kx = 0u; kx < KW_C; kx++) {
                        tap_rows(g, m0, tap + kx, x0, x1);
                        if (kx + 1u < KW_C) {
                            let next = ld_x(row, row_ok, ix0 + i32(TN + kx), wmax);
                            if (TN == 8u) {
                                x0 = vec4<f32>(x0.yzw, x1.x);
                                x1 = vec4<f32>(x1.yzw, next);
                            } else {
                                x0 = vec4<f32>(x0.yzw, next);
                            }
                        }
                    }
                } else if (KW_C > 0u) {
                    var win: array<f32, MAX_WIN>;
                    for (var t = 0u; t < (TN - 1u) * SW_C + (KW_C - 1u) * DW_C + 1u; t++) {
                        win[t] = ld_x(row, row_ok, ix0 + i32(t), wmax);
                    }
                    for (var kx = 0u; kx < KW_C; kx++) {
                        let o = kx * DW_C;
                        let x0 = vec4<f32>(win[o], win[o + SW_C], win[o + 2u * SW_C], win[o + 3u * SW_C]);
                        var x1 = vec4<f32>();
                        if (TN == 8u) {
                            x1 = vec4<f32>(win[o + 4u * SW_C], win[o + 5u * SW_C], win[o + 6u * SW_C], win[o + 7u * SW_C]);
                        }
                        tap_rows(g, m0, tap + kx, x0, x1);
                    }
                } else {
                    for (var kx = 0u; kx < p.kw; kx++) {
                        var xv: array<f32, MAX_TN>;
                        for (var j = 0u; j < TN; j++) {
                            xv[j] = ld_x(row, row_ok, ix0 + i32(j * p.stride_w + kx * p.dil_w), wmax);
                        }
                        tap_rows(g, m0, tap + kx, vec4<f32>(xv[0], xv[1], xv[2], xv[3]),
                                 vec4<f32>(xv[4], xv[5], xv[6], xv[7]));
                    }
                }
            }
            tap += p.kw;
        }
        xc += hw;
    }
    let ohw = p.oh * p.ow;
    let out0 = p.y_off + ((img * p.c_out + co0) * p.oh + oy) * p.ow + ox0;
    {
        store_row(m0 + 0u, co0 + 0u, out0 + 0u * ohw, ox0, acc[0], acc[1]);
    }
    if (TM > 1u) {
        store_row(m0 + 1u, co0 + 1u, out0 + 1u * ohw, ox0, acc[2], acc[3]);
    }
    if (TM > 2u) {
        store_row(m0 + 2u, co0 + 2u, out0 + 2u * ohw, ox0, acc[4], acc[5]);
    }
    if (TM > 3u) {
        store_row(m0 + 3u, co0 + 3u, out0 + 3u * ohw, ox0, acc[6], acc[7]);
    }
    if (TM > 4u) {
        store_row(m0 + 4u, co0 + 4u, out0 + 4u * ohw, ox0, acc[8], acc[9]);
    }
    if (TM > 5u) {
        store_row(m0 + 5u, co0 + 5u, out0 + 5u * ohw, ox0, acc[10], acc[11]);
    }
    if (TM > 6u) {
        store_row(m0 + 6u, co0 + 6u, out0 + 6u * ohw, ox0, acc[12], acc[13]);
    }
    if (TM > 7u) {
        store_row(m0 + 7u, co0 + 7u, out0 + 7u * ohw, ox0, acc[14], acc[15]);
    }
}
