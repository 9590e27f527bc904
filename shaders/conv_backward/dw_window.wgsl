// Weight gradient of conv2d for few output channels at unit column stride and
// dilation (LeNet's layers): the same sums as dw.wgsl,
//   dW[a, b, ky, kx] = sum over (n, py, px) of
//       A[n, a, py, px] * B[n, g*bg + b, py*sh - pt + ky*dh, px - pl + kx],
// with the KW_C taps of one kernel row read as a sliding window: along px the
// input positions of taps 0..7 move by one, so each px step loads one new B
// value (and TM values of A) for TM x KW_C FMAs, where dw.wgsl loads 4 B values
// for 4 x TM. (Storage loads are loops over the SIMD lanes on CPU rasterisers.)
//
// Mapping: a block is (group g, TM rows a, one kernel row (b, ky)); its K rows
// (n, py) are cut into `splits` runs of rows_per_split consecutive rows, one
// run per invocation (64 per workgroup, ceil(splits/64) workgroups per block).
// Each invocation writes its TM x KW_C partial sums to part[s, dW element];
// dw_finalize.wgsl adds the splits in order. No workgroup memory, no atomics:
// deterministic. Accumulators: row i in acc[2i] (taps 0-3) and acc[2i + 1]
// (taps 4-7), constant-indexed.
// Preconditions: sw = dw = 1, KW_C = kw <= 8, TM <= 8; tiles_m = ceil(ag/TM),
// tiles_n = bg * kh (kernel rows per group).
// Includes: precision prelude (typed form only), grid,
// conv_backward/in2_typed or in2_f16p (src_a = A, src_b = B), conv_backward/dw_params.

@group(0) @binding(3) var<storage, read_write> part: array<f32>;

override TM: u32 = 8u;
override KW_C: u32 = 5u;

var<private> acc: array<vec4<f32>, 16>;

// B at column ix of the row starting at `row` (0 outside the row or when the
// row itself is outside B).
fn ld_x(row: u32, row_ok: bool, ix: i32) -> f32 {
    let wmax = i32(p.b_w) - 1;
    let v = ld_b(row + u32(clamp(ix, 0, wmax)));
    return select(0.0, v, row_ok && ix >= 0 && ix <= wmax);
}

// Stores row i of the block (dW row a of group g) for the KW_C taps.
fn store_row(i: u32, a: u32, base: u32, w0: vec4<f32>, w1: vec4<f32>) {
    if (i >= TM || a >= p.ag) {
        return;
    }
    for (var kx = 0u; kx < KW_C; kx++) {
        part[base + a * p.ncols + kx] = select(w1[kx & 3u], w0[kx & 3u], kx < 4u);
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let flat = flat_workgroup(wid, nwg);
    let per_block = (p.splits + 63u) / 64u;
    let blk = flat / per_block;
    let s = (flat - blk * per_block) * 64u + lid;
    if (blk >= p.groups * p.tiles_m * p.tiles_n || s >= p.splits) {
        return;
    }
    let tm = blk % p.tiles_m;
    let rest = blk / p.tiles_m;
    let cg = rest % p.tiles_n;
    let g = rest / p.tiles_n;
    let b = cg / p.kh;
    let ky = cg - b * p.kh;
    let r0 = tm * TM;
    let last = p.ag - 1u;
    let ach0 = vec4<u32>(g * p.ag) + min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    let ach1 = vec4<u32>(g * p.ag) + min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(last));
    let bch = g * p.bg + b;
    let hmax = i32(p.b_h) - 1;
    let x0 = -i32(p.pl);

    let r_begin = s * p.rows_per_split;
    let r_end = min(r_begin + p.rows_per_split, p.n * p.a_h);
    for (var r = r_begin; r < r_end; r++) {
        let n = r / p.a_h;
        let py = r - n * p.a_h;
        let iy = i32(py * p.sh) - i32(p.pt) + i32(ky * p.dh);
        let row_ok = iy >= 0 && iy <= hmax;
        let row = ((n * p.b_c + bch) * p.b_h + u32(clamp(iy, 0, hmax))) * p.b_w;
        let a0 = ((vec4<u32>(n * p.a_c) + ach0) * p.a_h + vec4<u32>(py)) * p.a_w;
        let a1 = ((vec4<u32>(n * p.a_c) + ach1) * p.a_h + vec4<u32>(py)) * p.a_w;
        // Taps 0..7 (0..3 when KW_C <= 4) of px = 0; each step shifts in the
        // next one.
        var w0 = vec4<f32>(ld_x(row, row_ok, x0), ld_x(row, row_ok, x0 + 1),
                           ld_x(row, row_ok, x0 + 2), ld_x(row, row_ok, x0 + 3));
        var w1 = vec4<f32>();
        if (KW_C > 4u) {
            w1 = vec4<f32>(ld_x(row, row_ok, x0 + 4), ld_x(row, row_ok, x0 + 5),
                           ld_x(row, row_ok, x0 + 6), ld_x(row, row_ok, x0 + 7));
        }
        if (row_ok) {
            for (var px = 0u; px < p.a_w; px++) {
                let av0 = vec4<f32>(ld_a(a0.x + px));
                acc[0] = fma(av0, w0, acc[0]);
                if (KW_C > 4u) {
                    acc[1] = fma(av0, w1, acc[1]);
                }
                if (TM > 1u) {
                    let av = vec4<f32>(ld_a(a0.y + px));
                    acc[2] = fma(av, w0, acc[2]);
                    if (KW_C > 4u) {
                        acc[3] = fma(av, w1, acc[3]);
                    }
                }
                if (TM > 2u) {
                    let av = vec4<f32>(ld_a(a0.z + px));
                    acc[4] = fma(av, w0, acc[4]);
                    if (KW_C > 4u) {
                        acc[5] = fma(av, w1, acc[5]);
                    }
                }
                if (TM > 3u) {
                    let av = vec4<f32>(ld_a(a0.w + px));
                    acc[6] = fma(av, w0, acc[6]);
                    if (KW_C > 4u) {
                        acc[7] = fma(av, w1, acc[7]);
                    }
                }
                if (TM > 4u) {
                    let av = vec4<f32>(ld_a(a1.x + px));
                    acc[8] = fma(av, w0, acc[8]);
                    if (KW_C > 4u) {
                        acc[9] = fma(av, w1, acc[9]);
                    }
                }
                if (TM > 5u) {
                    let av = vec4<f32>(ld_a(a1.y + px));
                    acc[10] = fma(av, w0, acc[10]);
                    if (KW_C > 4u) {
                        acc[11] = fma(av, w1, acc[11]);
                    }
                }
                if (TM > 6u) {
                    let av = vec4<f32>(ld_a(a1.z + px));
                    acc[12] = fma(av, w0, acc[12]);
                    if (KW_C > 4u) {
                        acc[13] = fma(av, w1, acc[13]);
                    }
                }
                if (TM > 7u) {
                    let av = vec4<f32>(ld_a(a1.w + px));
                    acc[14] = fma(av, w0, acc[14]);
                    if (KW_C > 4u) {
                        acc[15] = fma(av, w1, acc[15]);
                    }
                }
                if (KW_C > 4u) {
                    w0 = vec4<f32>(w0.yzw, w1.x);
                    w1 = vec4<f32>(w1.yzw, ld_x(row, row_ok, x0 + i32(px) + 8));
                } else {
                    w0 = vec4<f32>(w0.yzw, ld_x(row, row_ok, x0 + i32(px) + 4));
                }
            }
        }
    }

    let base = s * p.numel + g * p.ag * p.ncols + cg * p.kw;
    store_row(0u, r0, base, acc[0], acc[1]);
    store_row(1u, r0 + 1u, base, acc[2], acc[3]);
    store_row(2u, r0 + 2u, base, acc[4], acc[5]);
    store_row(3u, r0 + 3u, base, acc[6], acc[7]);
    store_row(4u, r0 + 4u, base, acc[8], acc[9]);
    store_row(5u, r0 + 5u, base, acc[10], acc[11]);
    store_row(6u, r0 + 6u, base, acc[12], acc[13]);
    store_row(7u, r0 + 7u, base, acc[14], acc[15]);
}
