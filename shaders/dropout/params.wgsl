// Parameters of the dropout kernels and the keep decision shared by them.
// Element i keeps iff word i % 4 of philox4x32_10((i / 4, 0, 0, 0), seed) is at
// least `threshold` = round(p * 2^32): probability 1 - p to within 2^-32.
// `scale` is 1 / (1 - p) rounded to f32 on the host (PyTorch's 1 / (1 - p)).
// Includes: dropout/philox.

struct Params {
    n: u32,
    threshold: u32,
    scale: f32,
    seed_lo: u32,
    seed_hi: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// Keep decisions of elements 4g .. 4g+3.
fn keep4(g: u32) -> vec4<bool> {
    let r = philox4x32_10(vec4<u32>(g, 0u, 0u, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
    return r >= vec4<u32>(p.threshold);
}

// The multiplier of a kept (scale) or dropped (0) element.
fn factor(keep: bool) -> f32 {
    return select(0.0, p.scale, keep);
}
