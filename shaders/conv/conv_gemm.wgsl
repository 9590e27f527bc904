// The GEMM behind the im2col, 1x1 and Winograd variants of conv2d:
//   C(g, m, col) = sum_k A(g, m, k) * B(g, k, col)   (+ bias, activation)
// for g < groups (batches), m < cout_g rows, col < P columns, k < K (= patch_len).
// A is row-major per batch: A(g, m, k) = a[(g*cout_g + m)*K + k] (conv weights
// [C_out, C_in/g*KH*KW], or Winograd's transformed weights [16, C_out, C_in]).
// B is addressed through "images" so that columns may span a batch:
//   B(g, k, col) = b[x_off + g*b_gs + k*b_ks + (col / b_img)*b_is + col % b_img]
// (im2col columns: b_img >= P, b_is = 0; a 1x1 conv reads x itself:
// b_img = H*W, b_is = C_in*H*W, b_ks = H*W). C likewise:
//   C(g, m, col) -> c[y_off + (col / c_img)*c_is + (g*cout_g + m)*c_ms + col % c_img]
// (NCHW output: c_img = OH*OW, c_is = C_out*OH*OW, c_ms = OH*OW).
//
// Each invocation computes a TM x TN register block: TM rows (the same for the
// whole workgroup, so the A loads are uniform) by TN = 8 consecutive columns;
// 64 invocations per workgroup cover 512 columns. Per k: TM + TN loads feed
// TM*TN FMAs. Out-of-range rows and columns read clamped elements and are
// masked at the store. FLOPs: 2*groups*cout_g*P*K.
//
// Params: patch_len = K, a0 = b_gs, a1 = b_ks, a2 = b_img, a3 = b_is, a4 = c_img,
// a5 = c_is, a6 = c_ms, a7 = P, a8 = row tiles per batch (ceil(cout_g/TM));
// tiles_m = groups*a8 (fastest in the flat workgroup index),
// tiles_p = ceil(P/512). Bias (has_bias) is indexed by g*cout_g + m.
// Includes: precision prelude, grid, activation, conv/params, conv/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

// Rows per invocation (1, 2, 4 or 8).
override TM: u32 = 8u;
const MAX_TM: u32 = 8u;
const TN: u32 = 8u;
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
    let g = mt / p.a8;
    let m0 = (mt % p.a8) * TM;
    let col0 = (pt * WG + lid) * TN;
    let k_len = p.patch_len;
    var b_idx: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        let col = min(col0 + j, p.a7 - 1u);
        b_idx[j] = p.x_off + g * p.a0 + (col / p.a2) * p.a3 + col % p.a2;
    }
    var a_idx: array<u32, MAX_TM>;
    for (var i = 0u; i < TM; i++) {
        a_idx[i] = (g * p.cout_g + min(m0 + i, p.cout_g - 1u)) * k_len;
    }
    var acc: array<f32, 64>;
    var bk = 0u;
    for (var kk = 0u; kk < k_len; kk++) {
        var bv: array<f32, TN>;
        for (var j = 0u; j < TN; j++) {
            bv[j] = f32(b[b_idx[j] + bk]);
        }
        for (var i = 0u; i < TM; i++) {
            let av = f32(a[a_idx[i] + kk]);
            for (var j = 0u; j < TN; j++) {
                acc[i * TN + j] = fma(av, bv[j], acc[i * TN + j]);
            }
        }
        bk += p.a1;
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        if (m < p.cout_g) {
            let row = g * p.cout_g + m;
            for (var j = 0u; j < TN; j++) {
                let col = col0 + j;
                if (col < p.a7) {
                    let ci = p.y_off + (col / p.a4) * p.a5 + row * p.a6 + col % p.a4;
                    c[ci] = T(conv_epilogue(row, acc[i * TN + j]));
                }
            }
        }
    }
}
