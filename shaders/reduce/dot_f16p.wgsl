// Partial centred dot products over packed f16 storage (reads only; the output
// is f32 partials); the algorithm is in reduce/dot_core.wgsl.
// Includes: grid, reduce/plan, reduce/dot_core.

@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> center: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<vec2<f32>>;

fn load_a(i: u32) -> f32 {
    return unpack2x16float(a[i >> 1u])[i & 1u];
}

fn load_b(i: u32) -> f32 {
    return unpack2x16float(b[i >> 1u])[i & 1u];
}
