// Partial moments over packed f16 storage (reads only; the output is f32
// partials); the algorithm is in reduce/moments_core.wgsl.
// Includes: grid, reduce/plan, reduce/moments_core.

@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> partial: array<vec2<f32>>;

fn load_x(i: u32) -> f32 {
    return unpack2x16float(x[i >> 1u])[i & 1u];
}
