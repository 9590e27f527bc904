// Batch-norm backward pass 1 over T storage (f32 or native f16); the algorithm
// is in batch_norm/backward_reduce_core.wgsl.
// Includes: precision prelude (T), grid, batch_norm/params,
// batch_norm/backward_reduce_core.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;

fn load_dy(i: u32) -> f32 {
    return f32(dy[i]);
}

fn load_x(i: u32) -> f32 {
    return f32(x[i]);
}
