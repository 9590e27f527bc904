// PReLU forward, PyTorch semantics: y = x > 0 ? x : w[c] * x (NaN takes the
// second branch and stays NaN). One element per invocation, 64 per workgroup;
// one f32 multiply, rounded once to T.
// Bytes: 2 loads (the weight is cached) + 1 store per element.
// Includes: precision prelude, grid, prelu/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> weight: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 64u + lid;
    if (i >= p.n) {
        return;
    }
    let v = f32(x[i]);
    let a = f32(weight[(i / p.inner) % p.channels]);
    y[i] = T(select(a * v, v, v > 0.0));
}
