// 2-D upsampling (nearest or bilinear by MODE; any output size, so downsampling
// too) of NCHW planes. One output element per invocation, 64 per workgroup, flat
// over N*C*OH*OW; loads in T, f32 arithmetic, one rounding on the store.
// Bytes: 1 (nearest) or 4 (bilinear) loads + 1 store per output.
// Includes: precision prelude, grid, upsample/params, upsample/forward.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

fn load(i: u32) -> f32 {
    return f32(x[i]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    y[o] = T(upsample_value(o));
}
