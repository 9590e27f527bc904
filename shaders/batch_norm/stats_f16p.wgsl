// Batch-norm statistics pass 1 over packed f16 storage (reads only; the output
// is f32 partials); the algorithm is in batch_norm/stats_core.wgsl.
// Includes: grid, batch_norm/params, batch_norm/stats_core.

@group(0) @binding(1) var<storage, read> x: array<u32>;

fn load_x(i: u32) -> f32 {
    return unpack2x16float(x[i >> 1u])[i & 1u];
}
