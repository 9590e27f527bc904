// Parameters and source-index arithmetic of the upsampling kernels, PyTorch's
// F.interpolate(size=...) semantics, all in f32 as PyTorch computes them.
//
// Nearest (MODE 0): src = min(floor(dst * scale), in - 1) with scale = in / out
// rounded to f32 on the host (a single correctly rounded product: bit-identical
// to PyTorch's index choice), or 1 / scale_factor when a factor gave the size.
// Bilinear (MODE 1): equal sizes copy; otherwise src = scale * dst
// (align_corners, scale = (in-1)/(out-1), 0 when out = 1) or
// max(scale * (dst + 0.5) - 0.5, 0) (scale = in/out); i0 = min(floor(src), in-1),
// i1 = i0 + 1 clamped, l1 = clamp(src - i0, 0, 1), l0 = 1 - l1.
// Both index maps are non-decreasing in dst, which the backward pass's binary
// searches rely on.
// Includes: grid.

struct Params {
    n: u32,
    planes: u32,
    ih: u32,
    iw: u32,
    oh: u32,
    ow: u32,
    align_corners: u32,
    _pad0: u32,
    scale_h: f32,
    scale_w: f32,
    _pad1: u32,
    _pad2: u32,
}

// 0 nearest, 1 bilinear.
override MODE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;

// PyTorch's nearest_idx: equal sizes copy and doubled sizes halve the
// index whatever the scale (which a scale factor may make differ from
// in / out); otherwise the floored f32 product.
fn nearest_src(dst: u32, scale: f32, in_size: u32, out_size: u32) -> u32 {
    if (out_size == in_size) {
        return dst;
    }
    if (out_size == 2u * in_size) {
        return dst >> 1u;
    }
    return min(u32(floor(f32(dst) * scale)), in_size - 1u);
}

struct Linear {
    i0: u32,
    i1: u32,
    l0: f32,
    l1: f32,
}

fn linear_src(dst: u32, in_size: u32, out_size: u32, scale: f32) -> Linear {
    if (in_size == out_size) {
        return Linear(dst, dst, 1.0, 0.0);
    }
    var src = scale * f32(dst);
    if (p.align_corners == 0u) {
        src = max(scale * (f32(dst) + 0.5) - 0.5, 0.0);
    }
    let i0 = min(u32(floor(src)), in_size - 1u);
    let l1 = clamp(src - f32(i0), 0.0, 1.0);
    let i1 = select(i0, i0 + 1u, i0 < in_size - 1u);
    return Linear(i0, i1, 1.0 - l1, l1);
}
