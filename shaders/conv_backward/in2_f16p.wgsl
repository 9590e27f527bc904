// Loads of the two input tensors of a convolution kernel stored as packed f16
// (two halves per u32, element 0 in the low half): `src_a` at binding 1,
// `src_b` at binding 2, unpacked to f32. Same interface as in2_typed.wgsl.
// Includes: none.

@group(0) @binding(1) var<storage, read> src_a: array<u32>;
@group(0) @binding(2) var<storage, read> src_b: array<u32>;

fn ld_a(i: u32) -> f32 {
    let v = unpack2x16float(src_a[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}

fn ld_b(i: u32) -> f32 {
    let v = unpack2x16float(src_b[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}
