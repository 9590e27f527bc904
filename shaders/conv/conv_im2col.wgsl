// im2col for conv2d variant 2: unrolls the receptive fields of a batch chunk
// into columns, cols[g][k][col] with k = (ci*KH + ky)*KW + kx over the group's
// input channels and col = (img*OH + oy)*OW + ox over the chunk's outputs, so
// that conv2d becomes one GEMM per group (conv_gemm.wgsl). Rows are padded to
// P4 = a multiple of 4 columns (the padding is written as zeros).
// Each invocation writes four consecutive columns of one row (one vec4 store)
// with four input loads (zero for padding taps, which are not loaded).
// Bytes: C_in*KH*KW*P4 elements written, as many read.
// Params: a0 = P (columns), a1 = P4 / 4; x_off is the chunk's offset in the x
// window. Preconditions: P4 % 4 == 0.
// Includes: precision prelude, grid, conv/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> cols: array<T4>;

fn tap(row: u32, col: u32) -> f32 {
    if (col >= p.a0) {
        return 0.0;
    }
    let kx = row % p.kw;
    var t = row / p.kw;
    let ky = t % p.kh;
    t = t / p.kh;
    let ci = t % p.cin_g;
    let g = t / p.cin_g;
    let ox = col % p.ow;
    var u = col / p.ow;
    let oy = u % p.oh;
    let img = u / p.oh;
    let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_t);
    let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_l);
    if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) {
        return 0.0;
    }
    let chan = g * p.cin_g + ci;
    return f32(x[p.x_off + ((img * p.c_in + chan) * p.h + u32(iy)) * p.w + u32(ix)]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let rows = p.groups * p.patch_len;
    if (e >= rows * p.a1) {
        return;
    }
    let q = e % p.a1;
    let row = e / p.a1;
    let col = q * 4u;
    cols[e] = T4(vec4<f32>(tap(row, col), tap(row, col + 1u), tap(row, col + 2u), tap(row, col + 3u)));
}
