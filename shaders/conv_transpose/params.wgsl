// Parameters shared by weft's direct convolution kernels: the transposed
// convolution (gather.wgsl, cols.wgsl, col2im.wgsl, used for conv_transpose2d
// and for conv2d's data gradient) and the direct convolution
// (conv_backward/conv_direct.wgsl, conv_transpose2d's data gradient).
//
// Source `src_a` is [n, c_in, h_in, w_in]; the result is [n, c_out, h_out, w_out];
// channels split into `groups` groups of cin_g inputs and cout_g outputs.
// Transposed: input row iy feeds output row oy = iy*sh - pt + ky*dh, weights
// [c_in, cout_g, kh, kw]. Direct: output row oy reads input row
// iy = oy*sh - pt + ky*dh, weights [c_out, cin_g, kh, kw]. Likewise for columns.
// Includes (before this file): grid.

struct Params {
    n: u32,
    c_in: u32,
    h_in: u32,
    w_in: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    groups: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pt: u32,
    pl: u32,
    cin_g: u32,
    cout_g: u32,
    // Output-channel blocks of TC channels per group (register-blocked kernels).
    oc_blocks: u32,
    // Segments of TP pixels per output row (register-blocked kernels).
    segs: u32,
    // First image and image count of this launch (GEMM + col2im chunks).
    n0: u32,
    nc: u32,
    // Row and column tiles of the column GEMM; for the register-blocked
    // gathers, rows per stride class and workgroups per output plane.
    tiles_r: u32,
    tiles_p: u32,
    // Layout of the columns col2im reads: image img, row r (output channel and
    // tap), pixel q at img*col_is + r*col_rs + q. Per image: col_is = the
    // image's rows times H_in*W_in, col_rs = H_in*W_in; merged over a chunk
    // (one group): col_is = H_in*W_in, col_rs = the chunk's padded width.
    col_is: u32,
    col_rs: u32,
    // Where the chunk's first image starts in a windowed binding of x.
    x_off: u32,
    _pad0: u32,
}

// 1: add bias[c_out] before the activation.
override BIAS: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
