// Parameter block of the loss kernels, and helpers they share.
// Includes: grid.

struct Params {
    // Rows (samples) for the class-index losses, elements for BCE.
    n: u32,
    // Classes (class-index losses), the last dimension (BCE, for pos_weight),
    // or the kind (regression: 0 MSE, 1 L1).
    c: u32,
    label_smoothing: f32,
    // 1: Mean reduction (scale by 1 / count[0] or 1 / n); 0: Sum or None.
    mean: u32,
    // BCE: 1 when a pos_weight is bound.
    has_pos_weight: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn is_nan_f32(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn max_nan(a: f32, b: f32) -> f32 {
    return select(max(a, b), a + b, is_nan_f32(a) || is_nan_f32(b));
}

// Non-finite values cannot be WGSL constant expressions (a shader creation
// error in strict compilers), so their bits are read from private variables
// at run time.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;

fn neg_inf() -> f32 {
    return bitcast<f32>(NEG_INF_BITS);
}
