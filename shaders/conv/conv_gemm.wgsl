// The GEMM behind the im2col, 1x1 and Winograd variants of conv2d:
//   C(g, m, col) = sum_k A(g, m, k) * B(g, k, col)   (+ bias, activation)
// for g < groups (batches), m < cout_g rows, col < P columns, k < K (=
// patch_len). A is row-major per batch: A(g, m, k) = a[(g*cout_g + m)*K + k]
// (conv weights [C_out, C_in/g*KH*KW], or Winograd's transformed weights
// [16, C_out, C_in]). B is addressed through "images" so that columns may span
// a batch:
//   B(g, k, col) = b[x_off + g*b_gs + k*b_ks + (col / b_img)*b_is + col % b_img]
// (im2col columns: b_img >= P, b_is = 0; a 1x1 conv reads x itself:
// b_img = H*W, b_is = C_in*H*W, b_ks = H*W). C likewise:
//   C(g, m, col) -> c[y_off + (col / c_img)*c_is + (g*cout_g + m)*c_ms + col % c_img]
// (NCHW output: c_img = OH*OW, c_is = C_out*OH*OW, c_ms = OH*OW).
//
// Each invocation computes a TM x 8 register block: TM rows (the same for the
// whole workgroup, so the A loads are uniform) by 8 consecutive columns held
// as two vec4 accumulators per row; 64 invocations per workgroup cover 512
// columns. Per k: 8 B values and TM A values feed 8*TM FMAs. Loads are what
// costs on CPU rasterisers, so both operands have vector paths, read through
// second bindings of the same buffers (a4, b4):
// - B_VEC4: the 8 columns of a B row as two aligned vec4 loads; the launcher
//   sets it when x_off, b_gs, b_ks, b_is and b_img are multiples of 4 (im2col
//   and Winograd pass b_img = P4, their padded row length);
// - A_VEC4: K % 4 == 0, so each A row reads one vec4 per 4 k steps (k4_rows)
//   and 16 vector loads feed 256 FMAs, as in gemm_vec4.wgsl.
// The rows are written out one by one (no loop) so the accumulators stay
// constant-indexed registers on CPU rasterisers. Out-of-range rows and columns
// read clamped elements and are masked at the store; invocations past the last
// column return at once (no barriers here).
// FLOPs: 2*groups*cout_g*P*K.
//
// Params: patch_len = K, a0 = b_gs, a1 = b_ks, a2 = b_img, a3 = b_is,
// a4 = c_img, a5 = c_is, a6 = c_ms, a7 = P, a8 = row tiles per batch
// (ceil(cout_g/TM)); tiles_m = groups*a8 (fastest in the flat workgroup index),
// tiles_p = ceil(P/512). Bias (has_bias) is indexed by g*cout_g + m.
// Includes: precision prelude, grid, activation, conv/params, conv/epilogue.

@group(0) @binding(1) var<storage, read> a: array<T>;
// The same buffer as `a`, for vector loads.
@group(0) @binding(2) var<storage, read> a4: array<T4>;
@group(0) @binding(3) var<storage, read> b: array<T>;
// The same buffer as `b`, for vector loads.
@group(0) @binding(4) var<storage, read> b4: array<T4>;
@group(0) @binding(5) var<storage, read> bias: array<T>;
@group(0) @binding(6) var<storage, read_write> c: array<T>;

// Rows per invocation (1 to 8).
override TM: u32 = 8u;
// Whether the 8 columns of a B row are two aligned vec4s.
override B_VEC4: bool = false;
// Whether K is a multiple of 4 (A rows then are aligned vec4s along k).
override A_VEC4: bool = false;
const TN: u32 = 8u;
const WG: u32 = 64u;

// The block: row i, columns 0-3 in acc[2i] and 4-7 in acc[2i + 1].
var<private> acc: array<vec4<f32>, 16>;

// One k step for every row: A(row i, k) at a[a_row_i + k] with
// a_row_i = (g*cout_g + min(m0 + i, cout_g - 1))*K; b0, b1 are B(k, columns).
fn k_rows(a_row0: u32, m_last: u32, k: u32, b0: vec4<f32>, b1: vec4<f32>) {
    {
        let av = vec4<f32>(f32(a[a_row0 + min(0u, m_last) * p.patch_len + k]));
        acc[0] = fma(av, b0, acc[0]);
        acc[1] = fma(av, b1, acc[1]);
    }
    if (TM > 1u) {
        let av = vec4<f32>(f32(a[a_row0 + min(1u, m_last) * p.patch_len + k]));
        acc[2] = fma(av, b0, acc[2]);
        acc[3] = fma(av, b1, acc[3]);
    }
    if (TM > 2u) {
        let av = vec4<f32>(f32(a[a_row0 + min(2u, m_last) * p.patch_len + k]));
        acc[4] = fma(av, b0, acc[4]);
        acc[5] = fma(av, b1, acc[5]);
    }
    if (TM > 3u) {
        let av = vec4<f32>(f32(a[a_row0 + min(3u, m_last) * p.patch_len + k]));
        acc[6] = fma(av, b0, acc[6]);
        acc[7] = fma(av, b1, acc[7]);
    }
    if (TM > 4u) {
        let av = vec4<f32>(f32(a[a_row0 + min(4u, m_last) * p.patch_len + k]));
        acc[8] = fma(av, b0, acc[8]);
        acc[9] = fma(av, b1, acc[9]);
    }
    if (TM > 5u) {
        let av = vec4<f32>(f32(a[a_row0 + min(5u, m_last) * p.patch_len + k]));
        acc[10] = fma(av, b0, acc[10]);
        acc[11] = fma(av, b1, acc[11]);
    }
    if (TM > 6u) {
        let av = vec4<f32>(f32(a[a_row0 + min(6u, m_last) * p.patch_len + k]));
        acc[12] = fma(av, b0, acc[12]);
        acc[13] = fma(av, b1, acc[13]);
    }
    if (TM > 7u) {
        let av = vec4<f32>(f32(a[a_row0 + min(7u, m_last) * p.patch_len + k]));
        acc[14] = fma(av, b0, acc[14]);
        acc[15] = fma(av, b1, acc[15]);
    }
}

// Four k steps (k = 4*kq ..) for every row, with A read as one vec4 per row;
// bq holds B(k + r, columns 0-3) in bq[2r] and columns 4-7 in bq[2r + 1].
fn k4_rows(a_row0: u32, m_last: u32, kq: u32, bq: array<vec4<f32>, 8>) {
    {
        let av = vec4<f32>(a4[(a_row0 + min(0u, m_last) * p.patch_len) / 4u + kq]);
        acc[0] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[0]))));
        acc[1] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[1]))));
    }
    if (TM > 1u) {
        let av = vec4<f32>(a4[(a_row0 + min(1u, m_last) * p.patch_len) / 4u + kq]);
        acc[2] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[2]))));
        acc[3] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[3]))));
    }
    if (TM > 2u) {
        let av = vec4<f32>(a4[(a_row0 + min(2u, m_last) * p.patch_len) / 4u + kq]);
        acc[4] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[4]))));
        acc[5] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[5]))));
    }
    if (TM > 3u) {
        let av = vec4<f32>(a4[(a_row0 + min(3u, m_last) * p.patch_len) / 4u + kq]);
        acc[6] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[6]))));
        acc[7] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[7]))));
    }
    if (TM > 4u) {
        let av = vec4<f32>(a4[(a_row0 + min(4u, m_last) * p.patch_len) / 4u + kq]);
        acc[8] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[8]))));
        acc[9] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[9]))));
    }
    if (TM > 5u) {
        let av = vec4<f32>(a4[(a_row0 + min(5u, m_last) * p.patch_len) / 4u + kq]);
        acc[10] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[10]))));
        acc[11] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[11]))));
    }
    if (TM > 6u) {
        let av = vec4<f32>(a4[(a_row0 + min(6u, m_last) * p.patch_len) / 4u + kq]);
        acc[12] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[12]))));
        acc[13] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[13]))));
    }
    if (TM > 7u) {
        let av = vec4<f32>(a4[(a_row0 + min(7u, m_last) * p.patch_len) / 4u + kq]);
        acc[14] = fma(vec4<f32>(av.x), bq[0], fma(vec4<f32>(av.y), bq[2], fma(vec4<f32>(av.z), bq[4], fma(vec4<f32>(av.w), bq[6], acc[14]))));
        acc[15] = fma(vec4<f32>(av.x), bq[1], fma(vec4<f32>(av.y), bq[3], fma(vec4<f32>(av.z), bq[5], fma(vec4<f32>(av.w), bq[7], acc[15]))));
    }
}

// B(k, columns j0 .. j0+3) of this invocation, the row of k at offset bk.
fn b_row(b_idx: array<u32, TN>, bk: u32, j0: u32) -> vec4<f32> {
    if (B_VEC4) {
        return vec4<f32>(b4[(b_idx[j0] + bk) / 4u]);
    }
    return vec4<f32>(f32(b[b_idx[j0] + bk]), f32(b[b_idx[j0 + 1u] + bk]),
                     f32(b[b_idx[j0 + 2u] + bk]), f32(b[b_idx[j0 + 3u] + bk]));
}

// Stores row m (global row `row`) of the block, masking rows past the batch
// and columns past P.
fn store_row(m: u32, row: u32, col0: u32, a0: vec4<f32>, a1: vec4<f32>) {
    if (m >= p.cout_g) {
        return;
    }
    for (var j = 0u; j < TN; j++) {
        let col = col0 + j;
        if (col < p.a7) {
            let v = select(a1[j & 3u], a0[j & 3u], j < 4u);
            c[p.y_off + (col / p.a4) * p.a5 + row * p.a6 + col % p.a4] = T(conv_epilogue(row, v));
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
    let g = mt / p.a8;
    let m0 = (mt % p.a8) * TM;
    let col0 = (pt * WG + lid) * TN;
    // Invocations past the last column have nothing to store; leaving early
    // lets a CPU rasteriser skip SIMD groups with no live lane.
    if (col0 >= p.a7) {
        return;
    }
    let k_len = p.patch_len;
    let a_row0 = (g * p.cout_g + m0) * k_len;
    let m_last = p.cout_g - 1u - m0;
    var b_idx: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        let col = min(col0 + j, p.a7 - 1u);
        b_idx[j] = p.x_off + g * p.a0 + (col / p.a2) * p.a3 + col % p.a2;
    }
    var bk = 0u;
    var k0 = 0u;
    if (A_VEC4) {
        for (var kq = 0u; kq < k_len / 4u; kq++) {
            var bq: array<vec4<f32>, 8>;
            for (var r = 0u; r < 4u; r++) {
                bq[2u * r] = b_row(b_idx, bk, 0u);
                bq[2u * r + 1u] = b_row(b_idx, bk, 4u);
                bk += p.a1;
            }
            k4_rows(a_row0, m_last, kq, bq);
        }
        k0 = k_len;
    }
    for (var k = k0; k < k_len; k++) {
        k_rows(a_row0, m_last, k, b_row(b_idx, bk, 0u), b_row(b_idx, bk, 4u));
        bk += p.a1;
    }
    {
        store_row(m0 + 0u, g * p.cout_g + m0 + 0u, col0, acc[0], acc[1]);
    }
    if (TM > 1u) {
        store_row(m0 + 1u, g * p.cout_g + m0 + 1u, col0, acc[2], acc[3]);
    }
    if (TM > 2u) {
        store_row(m0 + 2u, g * p.cout_g + m0 + 2u, col0, acc[4], acc[5]);
    }
    if (TM > 3u) {
        store_row(m0 + 3u, g * p.cout_g + m0 + 3u, col0, acc[6], acc[7]);
    }
    if (TM > 4u) {
        store_row(m0 + 4u, g * p.cout_g + m0 + 4u, col0, acc[8], acc[9]);
    }
    if (TM > 5u) {
        store_row(m0 + 5u, g * p.cout_g + m0 + 5u, col0, acc[10], acc[11]);
    }
    if (TM > 6u) {
        store_row(m0 + 6u, g * p.cout_g + m0 + 6u, col0, acc[12], acc[13]);
    }
    if (TM > 7u) {
        store_row(m0 + 7u, g * p.cout_g + m0 + 7u, col0, acc[14], acc[15]);
    }
}
