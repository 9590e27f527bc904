// im2col for conv2d variant 2: unrolls the receptive fields of a batch chunk
// into columns, cols[g][k][col] with k = (ci*KH + ky)*KW + kx over the group's
// input channels and col = (img*OH + oy)*OW + ox over the chunk's outputs, so
// that conv2d becomes one GEMM per group (conv_gemm.wgsl). Rows are padded to
// P4 = a multiple of 4 columns (the padding is written as zeros).
// Each invocation writes one output row's run of OW columns of one row of
// cols: the row (channel, tap) and the output row are decoded once, then the
// run walks the input row at the stride (integer division is slow on CPU
// backends; a run costs a load, a bounds test and a store per column). The
// invocation of the chunk's last output row also zeroes the padding columns.
// Bytes: C_in*KH*KW*P4 elements written, as many read.
// Rows from groups*patch_len up to a2 are zeros: with one group, a patch
// whose length is not a multiple of 4 (a 7x7 stem on 3 channels: 147) is
// padded so that the GEMM's vec4 kernels take it.
// Params: a0 = P (columns), a1 = P4 / 4, a2 = rows written (groups*patch_len
// or more); x_off is the chunk's offset in the x window.
// Preconditions: P4 % 4 == 0.
// Includes: precision prelude, grid, conv/params, a scratch type (S: T, or
// f32 for the weight gradient's GEMM).

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> cols: array<S>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    // Output rows of the chunk: img * OH + oy.
    let runs = p.n * p.oh;
    let rows = p.a2;
    if (e >= rows * runs) {
        return;
    }
    let row = e / runs;
    let run = e % runs;
    if (row >= p.groups * p.patch_len) {
        let out = row * p.a1 * 4u + run * p.ow;
        for (var ox = 0u; ox < p.ow; ox++) {
            cols[out + ox] = S(0.0);
        }
        if (run == runs - 1u) {
            for (var c = p.a0; c < p.a1 * 4u; c++) {
                cols[row * p.a1 * 4u + c] = S(0.0);
            }
        }
        return;
    }
    // The row: channel g*cin_g + ci (= t), kernel tap (ky, kx).
    let kx = row % p.kw;
    let t = row / p.kw;
    let ky = t % p.kh;
    let chan = t / p.kh;
    let img = run / p.oh;
    let oy = run % p.oh;
    let out = row * p.a1 * 4u + run * p.ow;
    let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_t);
    if (iy < 0 || iy >= i32(p.h)) {
        for (var ox = 0u; ox < p.ow; ox++) {
            cols[out + ox] = S(0.0);
        }
    } else {
        let src = p.x_off + ((img * p.c_in + chan) * p.h + u32(iy)) * p.w;
        var ix = i32(kx * p.dil_w) - i32(p.pad_l);
        for (var ox = 0u; ox < p.ow; ox++) {
            var v = S(0.0);
            if (ix >= 0 && ix < i32(p.w)) {
                v = S(x[src + u32(ix)]);
            }
            cols[out + ox] = v;
            ix += i32(p.stride_w);
        }
    }
    if (run == runs - 1u) {
        for (var c = p.a0; c < p.a1 * 4u; c++) {
            cols[row * p.a1 * 4u + c] = S(0.0);
        }
    }
}
