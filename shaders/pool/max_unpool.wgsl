// max_unpool2d: y[plane, indices[o]] = x[plane, o] over a y zero-filled by the
// launcher (PyTorch's MaxUnpool2d). One input element per invocation, 64 per
// workgroup. Here (h, w) is the pooled input plane and (oh, ow) the unpooled
// output plane. Indices outside [0, oh*ow) are skipped. Duplicate indices (from
// overlapping windows) carry the same input element, so the racing stores write
// the same value; for other duplicates which store lands is unspecified (as in
// PyTorch on the GPU). T stores are whole elements (native f16 stores are 16-bit).
// Bytes: 2 loads + 1 store per input element.
// Includes: precision prelude, grid, pool/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    let plane = o / (p.h * p.w);
    let v = indices[o];
    let ohw = p.oh * p.ow;
    if (v >= 0 && u32(v) < ohw) {
        y[plane * ohw + u32(v)] = x[o];
    }
}
