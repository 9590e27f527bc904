// Loads of the two input tensors of a convolution kernel stored as T (f32 or
// native f16): `src_a` at binding 1, `src_b` at binding 2, widened to f32.
// Kernel bodies written against ld_a / ld_b serve typed and packed-f16 storage
// alike (see in2_f16p.wgsl).
// Includes (before this file): precision prelude.

@group(0) @binding(1) var<storage, read> src_a: array<T>;
@group(0) @binding(2) var<storage, read> src_b: array<T>;

fn ld_a(i: u32) -> f32 {
    return f32(src_a[i]);
}

fn ld_b(i: u32) -> f32 {
    return f32(src_b[i]);
}
