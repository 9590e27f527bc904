// Reduction over packed f16 storage (two halves per u32, element 0 in the low
// half), results in f32. Only reads are packed; the f32 output needs no word
// ownership. The algorithm and entry points are in reduce/reduce_core.wgsl.
// Includes: grid, reduce/plan, reduce/reduce_core.

@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn load_x(i: u32) -> f32 {
    return unpack2x16float(x[i >> 1u])[i & 1u];
}
