// Parameters of every pooling kernel (binding 0) and small helpers.
//
// Shapes: the input plane is h x w, the output plane oh x ow, planes = N * C.
// `n` is the number of work items of the launch: outputs for forward kernels,
// input-gradient elements for backward kernels (words for packed-f16 bodies are
// derived from it). Window geometry follows PyTorch: kernel kh x kw, stride,
// padding (implicit), dilation (max/min only); `divisor` is avg_pool2d's
// divisor_override (0 when absent) and `include_pad` its count_include_pad.
// Includes: grid (and a precision prelude for typed bodies).

struct Params {
    n: u32,
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    divisor: u32,
    include_pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// NaN test on the bits: compilers may fold `x != x` to false.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// -inf cannot be a WGSL constant (infinite literals are rejected), so it is read
// from a private variable at run time.
var<private> NEG_INF_BITS: u32 = 0xff800000u;

fn neg_inf() -> f32 {
    return bitcast<f32>(NEG_INF_BITS);
}
