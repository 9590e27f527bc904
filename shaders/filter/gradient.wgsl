// Gradient magnitude sqrt(gx² + gy²) and direction atan2(gy, gx) (radians,
// in (-pi, pi]) from the two derivative images. One pixel per invocation.
// Includes: grid, filter/params.

@group(0) @binding(1) var<storage, read> gx: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> magnitude: array<f32>;
@group(0) @binding(4) var<storage, read_write> direction: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    let a = gx[i];
    let b = gy[i];
    magnitude[i] = sqrt(a * a + b * b);
    direction[i] = atan2(b, a);
}
