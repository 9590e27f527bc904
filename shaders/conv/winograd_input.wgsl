// conv2d variant 5, Winograd F(2x2, 3x3), step 2: input transform
// V = B^T d B of every 4x4 input tile d (stride 2, so tiles overlap by 2), with
//   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
// Tile t = (img*TH + ty)*TW + tx of the chunk covers input rows
// 2*ty - pad_t .. +3 and columns 2*tx - pad_l .. +3 (zeros outside the image).
// V is stored as 16 matrices [C_in, P4] (xi = 4*row + column), the B operands
// of the 16 GEMMs; columns P .. P4 are written as zeros. One invocation per
// (channel, tile): up to 16 loads, 16 stores, 32 additions.
// With TILE_MAJOR = 1 the 16 matrices are [P4, C_in] instead (the Winograd
// weight gradient's B operands, row-major for the vector GEMM), lanes running
// over channels so that the stores stay contiguous.
// Params: a0 = TH, a1 = TW, a2 = P (tiles in the chunk), a3 = P4.
// Includes: precision prelude, grid, conv/params, a scratch type (S: T, or
// f32 for the weight gradient's GEMMs).

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> v: array<S>;

override TILE_MAJOR: u32 = 0u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let p4 = p.a3;
    if (e >= p.c_in * p4) {
        return;
    }
    // e is the element's index within its matrix in either layout.
    var t = e % p4;
    var ci = e / p4;
    if (TILE_MAJOR == 1u) {
        t = e / p.c_in;
        ci = e % p.c_in;
    }
    var d: array<f32, 16>;
    if (t < p.a2) {
        let tx = t % p.a1;
        let ty = (t / p.a1) % p.a0;
        let img = t / (p.a1 * p.a0);
        let base = p.x_off + (img * p.c_in + ci) * p.h * p.w;
        let iy0 = i32(2u * ty) - i32(p.pad_t);
        let ix0 = i32(2u * tx) - i32(p.pad_l);
        for (var r = 0u; r < 4u; r++) {
            let iy = iy0 + i32(r);
            for (var c = 0u; c < 4u; c++) {
                let ix = ix0 + i32(c);
                if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
                    d[4u * r + c] = f32(x[base + u32(iy) * p.w + u32(ix)]);
                }
            }
        }
    }
    // B^T d: rows.
    var bd: array<f32, 16>;
    for (var c = 0u; c < 4u; c++) {
        let d0 = d[c];
        let d1 = d[4u + c];
        let d2 = d[8u + c];
        let d3 = d[12u + c];
        bd[c] = d0 - d2;
        bd[4u + c] = d1 + d2;
        bd[8u + c] = d2 - d1;
        bd[12u + c] = d1 - d3;
    }
    // (B^T d) B: columns.
    let stride = p.c_in * p4;
    for (var r = 0u; r < 4u; r++) {
        let d0 = bd[4u * r];
        let d1 = bd[4u * r + 1u];
        let d2 = bd[4u * r + 2u];
        let d3 = bd[4u * r + 3u];
        let o = (4u * r) * stride + e;
        v[o] = S(d0 - d2);
        v[o + stride] = S(d1 + d2);
        v[o + 2u * stride] = S(d2 - d1);
        v[o + 3u * stride] = S(d1 - d3);
    }
}
