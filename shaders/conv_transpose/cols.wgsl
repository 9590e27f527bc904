// Transposed convolution, GEMM + col2im variant, step 1: the column GEMM.
//
// For each image of the chunk (n0 .. n0 + nc) and each group g:
//   cols[img, g, r, q] = sum over ic < cin_g of w[g*cin_g + ic, r] * x[n0 + img, g*cin_g + ic, q]
// with r = (oc_local, ky, kx) over R = cout_g*kh*kw rows and q = (iy, ix) over
// P = h_in*w_in columns: every input pixel's contribution to every tap, before
// the col2im gather (col2im.wgsl) sums the taps landing on each output pixel.
// Columns are f32 whatever the storage precision, so f16 runs keep f32 partial
// sums until the final store.
//
// Mapping: one workgroup of 8x8 invocations per 32x32 tile of (r, q) of one
// (img, g); each invocation holds a 4x4 register block whose rows and columns
// are interleaved by 8, so neighbouring invocations load neighbouring w and x
// elements (both operands are contiguous along r and q). Out-of-range rows and
// columns read clamped elements and are masked at the store.
// FLOPs: 2 * nc * c_in * P * R. Loads per FMA: (4 + 4) / 16.
// Includes: precision prelude (typed form only), grid, conv_transpose/params,
// conv_backward/in2_typed or in2_f16p (src_a = x, src_b = w).

@group(0) @binding(3) var<storage, read_write> cols: array<f32>;

const TM: u32 = 4u;
const TN: u32 = 4u;
const WG: u32 = 8u;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let flat = flat_workgroup(wid, nwg);
    let tiles = p.tiles_r * p.tiles_p;
    let z = flat / tiles;
    if (z >= p.nc * p.groups) {
        return;
    }
    let img = z / p.groups;
    let g = z % p.groups;
    let tr = (flat % tiles) / p.tiles_p;
    let tq = flat % p.tiles_p;
    let rows = p.cout_g * p.kh * p.kw;
    let cols_n = p.h_in * p.w_in;
    let r0 = tr * WG * TM + lid.y;
    let q0 = tq * WG * TN + lid.x;

    var a_idx: array<u32, TM>;
    var b_idx: array<u32, TN>;
    let w_base = g * p.cin_g * rows;
    let x_base = ((p.n0 + img) * p.c_in + g * p.cin_g) * cols_n;
    for (var i = 0u; i < TM; i++) {
        a_idx[i] = w_base + min(r0 + i * WG, rows - 1u);
    }
    for (var j = 0u; j < TN; j++) {
        b_idx[j] = x_base + min(q0 + j * WG, cols_n - 1u);
    }
    var acc: array<f32, 16>;
    var av: array<f32, TM>;
    var bv: array<f32, TN>;
    for (var ic = 0u; ic < p.cin_g; ic++) {
        for (var i = 0u; i < TM; i++) {
            av[i] = ld_b(a_idx[i] + ic * rows);
        }
        for (var j = 0u; j < TN; j++) {
            bv[j] = ld_a(b_idx[j] + ic * cols_n);
        }
        for (var i = 0u; i < TM; i++) {
            for (var j = 0u; j < TN; j++) {
                acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
            }
        }
    }
    let out_base = z * rows * cols_n;
    for (var i = 0u; i < TM; i++) {
        let r = r0 + i * WG;
        for (var j = 0u; j < TN; j++) {
            let q = q0 + j * WG;
            if (r < rows && q < cols_n) {
                cols[out_base + r * cols_n + q] = acc[i * TN + j];
            }
        }
    }
}
