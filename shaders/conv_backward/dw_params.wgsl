// Parameters of the conv weight-gradient kernels dw.wgsl and dw_window.wgsl
// (mirrors `DwParams` in crates/kernels/src/conv_backward.rs): A and B's
// shapes, the kernel geometry, rows (ag) and columns (ncols) per group, dW's
// element count, and the launch plan (tiles, splits, rows per split).
// Includes: none.

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
