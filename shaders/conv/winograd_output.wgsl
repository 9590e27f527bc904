// conv2d variant 5, Winograd F(2x2, 3x3), step 4: output transform
// Y = A^T m A of every tile's 16 GEMM results m (M stored as 16 matrices
// [C_out, P4]), with A^T = [[1, 1, 1, 0], [0, 1, -1, -1]], then bias and the
// fused activation; writes the tile's 2x2 outputs that fall inside OH x OW.
// One invocation per (output channel, tile): 16 loads, up to 4 stores.
// Params: a0 = TH, a1 = TW, a2 = P (tiles in the chunk), a3 = P4; y_off is
// the chunk's offset in the y window.
// Includes: precision prelude, grid, activation, conv/params, conv/epilogue.

@group(0) @binding(1) var<storage, read> m: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.c_out * p.a2) {
        return;
    }
    let t = e % p.a2;
    let co = e / p.a2;
    let stride = p.c_out * p.a3;
    let base = co * p.a3 + t;
    // A^T m: 2 x 4.
    var am: array<f32, 8>;
    for (var c = 0u; c < 4u; c++) {
        let m0 = f32(m[base + c * stride]);
        let m1 = f32(m[base + (4u + c) * stride]);
        let m2 = f32(m[base + (8u + c) * stride]);
        let m3 = f32(m[base + (12u + c) * stride]);
        am[c] = m0 + m1 + m2;
        am[4u + c] = m1 - m2 - m3;
    }
    let tx = t % p.a1;
    let ty = (t / p.a1) % p.a0;
    let img = t / (p.a1 * p.a0);
    for (var r = 0u; r < 2u; r++) {
        let a0 = am[4u * r];
        let a1 = am[4u * r + 1u];
        let a2 = am[4u * r + 2u];
        let a3 = am[4u * r + 3u];
        let oy = 2u * ty + r;
        let ox = 2u * tx;
        let out = p.y_off + ((img * p.c_out + co) * p.oh + oy) * p.ow + ox;
        if (oy < p.oh) {
            y[out] = T(conv_epilogue(co, a0 + a1 + a2));
            if (ox + 1u < p.ow) {
                y[out + 1u] = T(conv_epilogue(co, a1 - a2 - a3));
            }
        }
    }
}
