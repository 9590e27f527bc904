// Partial moments over T storage (f32 or native f16); the algorithm is in
// reduce/moments_core.wgsl.
// Includes: precision prelude (T), grid, reduce/plan, reduce/moments_core.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> partial: array<vec2<f32>>;

fn load_x(i: u32) -> f32 {
    return f32(x[i]);
}
