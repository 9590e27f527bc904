// Gathers within planes: out[p, o] = src[p, idx[p, o]] for every plane p (an
// (n, c) pair of NCHW) and position o; idx holds flat positions h*W + w within a
// source plane of `src_plane` elements (PyTorch's pooling indices). Indices
// outside the plane read 0. The gradient of max-unpooling with respect to the
// values it places. One output element per invocation.
// Includes: precision prelude, grid.

struct Params {
    planes: u32,
    out_plane: u32,
    src_plane: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.planes * p.out_plane) {
        return;
    }
    let plane = i / p.out_plane;
    let k = idx[i];
    var v = T(0.0);
    if (k >= 0 && u32(k) < p.src_plane) {
        v = src[plane * p.src_plane + u32(k)];
    }
    out[i] = v;
}
