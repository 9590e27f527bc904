// Parameters shared by every conv2d kernel (mirrors `ConvParams` in
// crates/kernels/src/conv.rs). One launch covers `n` images of a batch chunk;
// x and y are bound as windows that start `x_off` / `y_off` elements before the
// chunk's first image (binding offsets must be aligned, image starts need not).
//
// Layouts (PyTorch): x [n, c_in, h, w], w [c_out, c_in/groups, kh, kw] (OIHW),
// y [n, c_out, oh, ow]; bias [c_out] when has_bias != 0.
// Input row of output row oy and kernel row ky: oy*stride_h - pad_t + ky*dil_h
// (likewise for columns); positions outside [0, h) x [0, w) read as zero.
// Includes (before this file): grid.

struct Params {
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    kh: u32,
    kw: u32,
    groups: u32,
    oh: u32,
    ow: u32,
    stride_h: u32,
    stride_w: u32,
    pad_t: u32,
    pad_l: u32,
    dil_h: u32,
    dil_w: u32,
    cin_g: u32,
    cout_g: u32,
    patch_len: u32,
    has_bias: u32,
    x_off: u32,
    y_off: u32,
    tiles_m: u32,
    tiles_p: u32,
    // Variant-specific (see each kernel's header).
    a0: u32,
    a1: u32,
    a2: u32,
    a3: u32,
    a4: u32,
    a5: u32,
    a6: u32,
    a7: u32,
    a8: u32,
    a9: u32,
    a10: u32,
    a11: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
