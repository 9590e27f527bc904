// z = x OP y with y broadcast to x's shape by NumPy's rules, any pattern
// (binary.wgsl covers equal shapes, per-channel and trailing ones without
// this arithmetic): element i of x takes its coordinates in x's dims, and y
// reads them with stride 0 along the dims where it has size 1. Rank ≤ 8.
// One element per invocation, 256 per workgroup; one f32 operation, so
// results match a CPU f32 bit for bit.
// Includes: grid, precision prelude (T), elementwise/binary_ops.

struct Params {
    n: u32,
    rank: u32,
    // Flat index of element 0 of this launch, when x and z are bound through a window.
    base: u32,
    _pad: u32,
    // x's dims and y's strides (0 where y broadcasts), outermost first.
    dims: array<vec4<u32>, 2>,
    y_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> y: array<T>;
@group(0) @binding(3) var<storage, read_write> z: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    var rest = p.base + i;
    var j = 0u;
    for (var k = i32(p.rank) - 1; k >= 0; k--) {
        let d = p.dims[k / 4][k % 4];
        j += (rest % d) * p.y_strides[k / 4][k % 4];
        rest /= d;
    }
    z[i] = T(apply(f32(x[i]), f32(y[j])));
}
