// The arithmetic of the binary kernels: OP selects it when the pipeline is
// created (0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min), one f32 operation, so
// results match a CPU f32 bit for bit.

override OP: u32 = 0u;

// NaN test on the bits: compilers may fold `x != x` to false.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn apply(a: f32, b: f32) -> f32 {
    switch OP {
        case 1u: { return a - b; }
        case 2u: { return a * b; }
        case 3u: { return a / b; }
        // NaN in either operand propagates, as in PyTorch's maximum/minimum.
        case 4u: { return select(select(max(a, b), b, is_nan(b)), a, is_nan(a)); }
        case 5u: { return select(select(min(a, b), b, is_nan(b)), a, is_nan(a)); }
        default: { return a + b; }
    }
}
