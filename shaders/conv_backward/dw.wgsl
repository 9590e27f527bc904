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
// Preconditions: TM <= 8, WGN divides 64.
// Includes: precision prelude (typed form only), grid,
// conv_backward/in2_typed or in2_f16p (src_a = A, src_b = B).

struct Params {
    n: u32,
    a_c: u32,
    a_h: u32,
    a_w: u32,
    b_c: u32,
    b_h: u32,
    b_w: u32,
    groups: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pt: u32,
    pl: u32,
    ag: u32,
    bg: u32,
    ncols: u32,
    numel: u32,
    tiles_m: u32,
    tiles_n: u32,
    splits: u32,
    rows_per_split: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

override TM: u32 = 4u;
override WGN: u32 = 8u;
override WGK: u32 = 64u / WGN;
const TN: u32 = 4u;
const MAX_TM: u32 = 8u;

var<workgroup> red: array<f32, 2048>;

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

    var ach: array<u32, MAX_TM>;
    for (var i = 0u; i < TM; i++) {
        ach[i] = g * p.ag + min(tm * TM + i, p.ag - 1u);
    }
    var bch: array<u32, TN>;
    var offy: array<i32, TN>;
    var offx: array<i32, TN>;
    for (var j = 0u; j < TN; j++) {
        let c = min(tn * WGN * TN + ln + j * WGN, p.ncols - 1u);
        let b = c / kk;
        let k = c % kk;
        bch[j] = g * p.bg + b;
        offy[j] = i32((k / p.kw) * p.dh) - i32(p.pt);
        offx[j] = i32((k % p.kw) * p.dw) - i32(p.pl);
    }

    var acc: array<f32, 32>;
    var a_base: array<u32, MAX_TM>;
    var b_base: array<u32, TN>;
    var row_ok: array<bool, TN>;
    var av: array<f32, MAX_TM>;
    var bv: array<f32, TN>;
    let r_begin = s * p.rows_per_split;
    let r_end = min(r_begin + p.rows_per_split, p.n * p.a_h);
    let bw = i32(p.b_w);
    for (var row = r_begin + lk; row < r_end; row += WGK) {
        let n = row / p.a_h;
        let py = row % p.a_h;
        var live = false;
        for (var j = 0u; j < TN; j++) {
            let iy = i32(py * p.sh) + offy[j];
            row_ok[j] = iy >= 0 && iy < i32(p.b_h);
            live = live || row_ok[j];
            b_base[j] = ((n * p.b_c + bch[j]) * p.b_h + u32(clamp(iy, 0, i32(p.b_h) - 1))) * p.b_w;
        }
        // A guard, not a divergent `continue`: the row counter (and with
        // WGK == 1 the addresses of A) stays uniform.
        if (live) {
            for (var i = 0u; i < TM; i++) {
                a_base[i] = ((n * p.a_c + ach[i]) * p.a_h + py) * p.a_w;
            }
            for (var px = 0u; px < p.a_w; px++) {
                for (var i = 0u; i < TM; i++) {
                    av[i] = ld_a(a_base[i] + px);
                }
                let x0 = i32(px * p.sw);
                for (var j = 0u; j < TN; j++) {
                    let ix = x0 + offx[j];
                    let ok = row_ok[j] && ix >= 0 && ix < bw;
                    bv[j] = select(0.0, ld_b(b_base[j] + u32(clamp(ix, 0, bw - 1))), ok);
                }
                for (var i = 0u; i < TM; i++) {
                    for (var j = 0u; j < TN; j++) {
                        acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
                    }
                }
            }
        }
    }

    if (WGK > 1u) {
        for (var q = 0u; q < TM * TN; q++) {
            red[lid * 32u + q] = acc[q];
        }
        workgroupBarrier();
        if (lk == 0u) {
            for (var k2 = 1u; k2 < WGK; k2++) {
                let src = (k2 * WGN + ln) * 32u;
                for (var q = 0u; q < TM * TN; q++) {
                    acc[q] += red[src + q];
                }
            }
        }
    }
    if (lk != 0u) {
        return;
    }
    let out_base = s * p.numel;
    for (var i = 0u; i < TM; i++) {
        let a = tm * TM + i;
        for (var j = 0u; j < TN; j++) {
            let c = tn * WGN * TN + ln + j * WGN;
            if (a < p.ag && c < p.ncols) {
                part[out_base + (g * p.ag + a) * p.ncols + c] = acc[i * TN + j];
            }
        }
    }
}
