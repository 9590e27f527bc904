// z = x OP y, with y broadcast: element i of x pairs with y[(i / inner) % ny].
// Same shapes: inner = 1, ny = n. Per-channel (NCHW, y of C values): inner = H*W,
// ny = C. Trailing broadcast: inner = 1, ny = numel(y). One element per
// invocation; arithmetic is one f32 operation, so results match a CPU f32 bit for bit.
// Includes: grid, precision prelude (T), elementwise/binary_ops.

struct Params {
    n: u32,
    inner: u32,
    ny: u32,
    // Flat index of element 0 of this launch, when x and z are bound through a window.
    base: u32,
}

// 1: x and y have the same shape (and windows), y[i] pairs with x[i]: no
// integer division per element, which costs a CPU rasteriser more than the
// load (a residual add ran at a fifth of the copy bandwidth with it).
override SAME: u32 = 0u;

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
    var j = i;
    if (SAME == 0u) {
        j = ((p.base + i) / p.inner) % p.ny;
    }
    z[i] = T(apply(f32(x[i]), f32(y[j])));
}
