// Reduction over storage of type T (f32 or native f16), results in f32.
// The algorithm and entry points are in reduce/reduce_core.wgsl.
// Includes: precision prelude (T), grid, reduce/plan, reduce/reduce_core.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn load_x(i: u32) -> f32 {
    return f32(x[i]);
}
