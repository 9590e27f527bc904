// Stores of a result stored as packed f16 at binding 3: the pair of elements
// e, e + 1 (e even) is one u32 word, written whole by the one invocation that
// owns it. Same interface as out3_typed.wgsl.
// Includes: none.

@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

// Writes the word holding elements e (even) and e + 1; past `count` the high
// half is zero (the padding half of an odd-length tensor).
fn store_pair(e: u32, count: u32, v0: f32, v1: f32) {
    dst[e >> 1u] = pack2x16float(vec2<f32>(v0, select(0.0, v1, e + 1u < count)));
}
