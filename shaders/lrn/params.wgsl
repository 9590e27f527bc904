// Parameters of the local response normalisation kernels. The input is viewed
// as [outer, channels, inner] (NCHW: outer = N, inner = H*W). Channel c's
// window is [c - before, c - before + size - 1] clipped to the channels
// (PyTorch: before = size / 2; ONNX: before = (size - 1) / 2), and
// s_c = k + alpha / size * sum over the window of x^2.
// Includes: grid.

struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    size: u32,
    before: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    alpha_over_size: f32,
    beta: f32,
    k: f32,
    _pad3: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

// s_c for channel c of the plane starting at plane0: the sum of squares over
// the window [c - before, c - before + size) clipped to the channels, in f32
// in channel order. Reads the including shader's input `x`.
fn scale(plane0: u32, c: u32) -> f32 {
    let lo = u32(max(i32(c) - i32(p.before), 0));
    let hi = u32(clamp(i32(c) - i32(p.before) + i32(p.size), i32(lo), i32(p.channels)));
    var sum = 0.0;
    for (var j = lo; j < hi; j++) {
        let v = f32(x[plane0 + j * p.inner]);
        sum += v * v;
    }
    return p.k + p.alpha_over_size * sum;
}
