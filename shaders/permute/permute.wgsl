// Axis permutation (torch.permute made contiguous, ONNX Transpose): output
// element i, at coordinates c over the output dims, copies the input element
// at sum_a c[a] * src_stride[a], where src_stride[a] is the input stride of
// the axis that becomes output axis a. Rank <= 8, dims and strides packed in
// two vec4s each (uniform arrays need 16-byte elements). One element per
// invocation; a copy, so bit exact.
// Includes: precision prelude, grid.

struct Params {
    n: u32,
    rank: u32,
    _pad0: u32,
    _pad1: u32,
    dims: array<vec4<u32>, 2>,
    src_stride: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
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
    var rest = i;
    var src = 0u;
    for (var a = i32(p.rank) - 1; a >= 0; a--) {
        let d = p.dims[a / 4][a % 4];
        src += (rest % d) * p.src_stride[a / 4][a % 4];
        rest /= d;
    }
    y[i] = x[src];
}
