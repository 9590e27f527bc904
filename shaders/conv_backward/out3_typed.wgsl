// Stores of a result stored as T (f32 or native f16) at binding 3, two
// consecutive flat elements at a time, so that kernel bodies written against
// store_pair serve typed and packed-f16 storage alike (see out3_f16p.wgsl).
// Includes (before this file): precision prelude.

@group(0) @binding(3) var<storage, read_write> dst: array<T>;

// Writes elements e (even) and e + 1 (when e + 1 < count).
fn store_pair(e: u32, count: u32, v0: f32, v1: f32) {
    dst[e] = T(v0);
    if (e + 1u < count) {
        dst[e + 1u] = T(v1);
    }
}
