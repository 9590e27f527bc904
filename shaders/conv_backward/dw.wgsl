// Weight gradient of conv2d and of conv_transpose2d as one implicit GEMM, with
// the reduction split over workgroups (split-K) and inside them.
//
//   dW[a, b, ky, kx] = sum over (n, py, px) of
//       A[n, a, py, px] * B[n, g*bg + b, py*sh - pt + ky*dh, px*sw - pl + kx*dw]
// with g = a / ag (taps outside B contribute nothing).
// conv2d:           A = dy [N, C_out, OH, OW], B = x  [N, C_in, H, W],   dW OIHW.
// conv_transpose2d: A = x  [N, C_in, H, W],   B = dy [N, C_out, OH, OW], dW IOHW.
// Per group it is a GEMM with M = ag rows a, ncols = bg*kh*kw columns
// (b, ky, kx) and a long K = N * a_h * a_w: B's columns are gathered on the fly
// (implicit im2col), nothing is materialised.
//
// Mapping: a workgroup covers TM rows (the same for all its invocations, so
// loads of A are uniform: one load serves the workgroup) x WGN*4 columns of
// one group, over the K rows (n, py) of its split s (rows_per_split each).
// Its 64 invocations are WGK x WGN: each holds a TM x 4 register block (columns
// interleaved by WGN, so neighbouring invocations read neighbouring columns of
// B) and sums every WGK-th K row of the split; with WGK > 1 (few columns: 1x1
// kernels, depthwise) the WGK partial blocks are added in workgroup memory in a
// fixed order. Each split writes its f32 sums to part[s, dW element];
// dw_finalize.wgsl adds the splits in order (or, with one split at f32, part
// is dW itself). No atomics: deterministic.
// FLOPs: 2 * M * ncols * K per group. Loads per 4*TM FMAs: 4 of B (gathered,
// bounds-checked) and TM of A (uniform).
// Registers: every per-invocation array is a vec4 or a constant-indexed
// vec4 array (rows written out as `if (TM > i)` steps): CPU rasterisers keep a
// dynamically indexed private array in memory and gather from it lane by lane.
// Preconditions: TM <= 8, WGN divides 64.
// Includes: precision prelude (typed form only), grid,
// conv_backward/in2_typed or in2_f16p (src_a = A, src_b = B), conv_backward/dw_params.

@group(0) @binding(3) var<storage, read_write> part: array<f32>;

override TM: u32 = 4u;
override WGN: u32 = 8u;
override WGK: u32 = 64u / WGN;
const TN: u32 = 4u;

var<workgroup> red: array<vec4<f32>, 512>;

// The TM x 4 block: row i in acc[i].
var<private> acc: array<vec4<f32>, 8>;

// Adds the partial blocks of the WGK invocations of column group ln (in order).
fn reduce_block(lid: u32, ln: u32) {
    red[lid * 8u + 0u] = acc[0];
    red[lid * 8u + 1u] = acc[1];
    red[lid * 8u + 2u] = acc[2];
    red[lid * 8u + 3u] = acc[3];
    red[lid * 8u + 4u] = acc[4];
    red[lid * 8u + 5u] = acc[5];
    red[lid * 8u + 6u] = acc[6];
    red[lid * 8u + 7u] = acc[7];
    workgroupBarrier();
    if (lid < WGN) {
        for (var k2 = 1u; k2 < WGK; k2++) {
            let src = (k2 * WGN + ln) * 8u;
            acc[0] += red[src + 0u];
            acc[1] += red[src + 1u];
            acc[2] += red[src + 2u];
            acc[3] += red[src + 3u];
            acc[4] += red[src + 4u];
            acc[5] += red[src + 5u];
            acc[6] += red[src + 6u];
            acc[7] += red[src + 7u];
        }
    }
}

// Stores row i of the block (dW row a) for the columns c0 + j*WGN.
fn store_row(i: u32, a: u32, row_base: u32, c0: u32, v: vec4<f32>) {
    if (i >= TM || a >= p.ag) {
        return;
    }
    for (var j = 0u; j < TN; j++) {
        let c = c0 + j * WGN;
        if (c < p.ncols) {
            part[row_base + c] = v[j];
        }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let flat = flat_workgroup(wid, nwg);
    let tn = flat % p.tiles_n;
    let tm = (flat / p.tiles_n) % p.tiles_m;
    let g = (flat / (p.tiles_n * p.tiles_m)) % p.groups;
    let s = flat / (p.tiles_n * p.tiles_m * p.groups);
    // Uniform per workgroup: the barrier below stays in uniform control flow.
    if (s >= p.splits) {
        return;
    }
    let lk = lid / WGN;
    let ln = lid % WGN;
    let kk = p.kh * p.kw;

    // A's channels of rows 0-3 and 4-7 (clamped to the group's last row).
    let last = p.ag - 1u;
    let r0 = tm * TM;
    let ach0 = vec4<u32>(g * p.ag) + min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    let ach1 = vec4<u32>(g * p.ag) + min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(last));
    // B's channel and tap offsets of the 4 columns.
    let cols = min(vec4<u32>(tn * WGN * TN + ln) + vec4<u32>(0u, WGN, 2u * WGN, 3u * WGN),
                   vec4<u32>(p.ncols - 1u));
    let taps = cols % kk;
    let bch = vec4<u32>(g * p.bg) + cols / kk;
    let offy = vec4<i32>((taps / p.kw) * p.dh) - vec4<i32>(i32(p.pt));
    let offx = vec4<i32>((taps % p.kw) * p.dw) - vec4<i32>(i32(p.pl));

    let r_begin = s * p.rows_per_split;
    let r_end = min(r_begin + p.rows_per_split, p.n * p.a_h);
    let bw = i32(p.b_w);
    let hmax = i32(p.b_h) - 1;
    for (var row = r_begin + lk; row < r_end; row += WGK) {
        let n = row / p.a_h;
        let py = row % p.a_h;
        let iy = vec4<i32>(i32(py * p.sh)) + offy;
        let row_ok = (iy >= vec4<i32>(0)) & (iy <= vec4<i32>(hmax));
        let b_base = ((vec4<u32>(n * p.b_c) + bch) * p.b_h + vec4<u32>(clamp(iy, vec4<i32>(0), vec4<i32>(hmax)))) * p.b_w;
        // A guard, not a divergent `continue`: the row counter (and with
        // WGK == 1 the addresses of A) stays uniform.
        if (any(row_ok)) {
            let a_base0 = ((vec4<u32>(n * p.a_c) + ach0) * p.a_h + vec4<u32>(py)) * p.a_w;
            let a_base1 = ((vec4<u32>(n * p.a_c) + ach1) * p.a_h + vec4<u32>(py)) * p.a_w;
            for (var px = 0u; px < p.a_w; px++) {
                let ix = vec4<i32>(i32(px * p.sw)) + offx;
                let ok = row_ok & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(bw));
                let bi = b_base + vec4<u32>(clamp(ix, vec4<i32>(0), vec4<i32>(bw - 1)));
                let bv = select(vec4<f32>(0.0),
                                vec4<f32>(ld_b(bi.x), ld_b(bi.y), ld_b(bi.z), ld_b(bi.w)), ok);
                acc[0] = fma(vec4<f32>(ld_a(a_base0.x + px)), bv, acc[0]);
                if (TM > 1u) {
                    acc[1] = fma(vec4<f32>(ld_a(a_base0.y + px)), bv, acc[1]);
                }
                if (TM > 2u) {
                    acc[2] = fma(vec4<f32>(ld_a(a_base0.z + px)), bv, acc[2]);
                }
                if (TM > 3u) {
                    acc[3] = fma(vec4<f32>(ld_a(a_base0.w + px)), bv, acc[3]);
                }
                if (TM > 4u) {
                    acc[4] = fma(vec4<f32>(ld_a(a_base1.x + px)), bv, acc[4]);
                }
                if (TM > 5u) {
                    acc[5] = fma(vec4<f32>(ld_a(a_base1.y + px)), bv, acc[5]);
                }
                if (TM > 6u) {
                    acc[6] = fma(vec4<f32>(ld_a(a_base1.z + px)), bv, acc[6]);
                }
                if (TM > 7u) {
                    acc[7] = fma(vec4<f32>(ld_a(a_base1.w + px)), bv, acc[7]);
                }
            }
        }
    }

    if (WGK > 1u) {
        reduce_block(lid, ln);
    }
    if (lk != 0u) {
        return;
    }
    let out_base = s * p.numel + g * p.ag * p.ncols;
    let c0 = tn * WGN * TN + ln;
    store_row(0u, r0, out_base + r0 * p.ncols, c0, acc[0]);
    store_row(1u, r0 + 1u, out_base + (r0 + 1u) * p.ncols, c0, acc[1]);
    store_row(2u, r0 + 2u, out_base + (r0 + 2u) * p.ncols, c0, acc[2]);
    store_row(3u, r0 + 3u, out_base + (r0 + 3u) * p.ncols, c0, acc[3]);
    store_row(4u, r0 + 4u, out_base + (r0 + 4u) * p.ncols, c0, acc[4]);
    store_row(5u, r0 + 5u, out_base + (r0 + 5u) * p.ncols, c0, acc[5]);
    store_row(6u, r0 + 6u, out_base + (r0 + 6u) * p.ncols, c0, acc[6]);
    store_row(7u, r0 + 7u, out_base + (r0 + 7u) * p.ncols, c0, acc[7]);
}
