// Weights of the implicit GEMM from the [groups, K, cpad] f32 copy made by
// conv/weights_taps.wgsl into a 16 KiB uniform block (cpad = a3, a multiple
// of 4): rows m..m+3 of group g at tap `tap` are one vec4. CPU rasterisers
// serve a uniform load with one gather per component, where a storage load is
// a bounds-checked loop over the SIMD lanes.
// Includes (before this file): precision prelude, conv/params.

@group(0) @binding(2) var<uniform> wt: array<vec4<f32>, 1024>;

fn tap_weights(g: u32, m: u32, tap: u32) -> vec4<f32> {
    return wt[((g * p.patch_len + tap) * p.a3 + m) >> 2u];
}
