// Batch-norm statistics pass 1 over T storage (f32 or native f16); the
// algorithm is in batch_norm/stats_core.wgsl.
// Includes: precision prelude (T), grid, batch_norm/params, batch_norm/stats_core.

@group(0) @binding(1) var<storage, read> x: array<T>;

fn load_x(i: u32) -> f32 {
    return f32(x[i]);
}
