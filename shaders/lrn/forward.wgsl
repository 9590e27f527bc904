// Local response normalisation, PyTorch's nn.LocalResponseNorm and ONNX's LRN:
// y_c = x_c / s_c^beta (s_c in params). One element per invocation, 64 per
// workgroup; the sum of squares in f32, in channel order.
// Bytes: `size` loads + 1 store per element (neighbouring invocations share
// the window's loads through the cache).
// Includes: precision prelude, grid, lrn/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 64u + lid;
    if (i >= p.n) {
        return;
    }
    let c = (i / p.inner) % p.channels;
    let s = scale(i - c * p.inner, c);
    y[i] = T(f32(x[i]) / pow(s, p.beta));
}
