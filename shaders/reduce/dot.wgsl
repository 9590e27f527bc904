// Partial centred dot products over T storage (f32 or native f16); the
// algorithm is in reduce/dot_core.wgsl.
// Includes: precision prelude (T), grid, reduce/plan, reduce/dot_core.

@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> center: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<vec2<f32>>;

fn load_a(i: u32) -> f32 {
    return f32(a[i]);
}

fn load_b(i: u32) -> f32 {
    return f32(b[i]);
}
