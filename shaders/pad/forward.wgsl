// Padding (and cropping) of NCHW planes: one output element per invocation,
// 64 per workgroup, a copy (bit exact) or the constant.
// Includes: precision prelude, grid, pad/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    let ohw = p.oh * p.ow;
    let plane = o / ohw;
    let oy = i32((o % ohw) / p.ow);
    let ox = i32(o % p.ow);
    let sy = source(oy - p.top, i32(p.h));
    let sx = source(ox - p.left, i32(p.w));
    if (sy < 0 || sx < 0) {
        y[o] = T(p.value);
    } else {
        y[o] = x[plane * p.h * p.w + u32(sy) * p.w + u32(sx)];
    }
}
