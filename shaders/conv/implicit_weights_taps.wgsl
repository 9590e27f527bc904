// Weights of the implicit GEMM from the [groups, K, cpad] copy made by
// conv/weights_taps.wgsl (cpad = a3, a multiple of 4): rows m..m+3 (m a
// multiple of 4) of group g at tap `tap` are one aligned vec4.
// Includes (before this file): precision prelude, conv/params.

@group(0) @binding(2) var<storage, read> wt: array<vec4<T>>;

fn tap_weights(g: u32, m: u32, tap: u32) -> vec4<f32> {
    return vec4<f32>(wt[((g * p.patch_len + tap) * p.a3 + m) >> 2u]);
}
