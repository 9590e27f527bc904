// Max-pooling backward for 2x2 windows, stride 2, no padding or dilation, on
// planes of even height and width (every input element lies in exactly one
// window). Each invocation owns one window: it loads the window's dy and index
// once and writes the window's four dx elements as two aligned vec2 stores
// (dy where the index names the element, else 0), where the general disjoint
// kernel loads both per element and divides four times per element. Same
// results as pool/max_backward_disjoint.wgsl: a copy or 0, deterministic.
// `n` is the number of windows (planes * OH * OW).
// Bytes: per window 2 loads (dy, index) and 2 vec2 stores.
// Includes: precision prelude, grid, pool/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec2<T>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg) * 64u + lid;
    if (g >= p.n) {
        return;
    }
    // Output row (plane * OH + oy) and column.
    let row = g / p.ow;
    let ox = g - row * p.ow;
    let oy = row - (row / p.oh) * p.oh;
    // The window's top-left element as PyTorch's in-plane index, and its pair
    // in dx: with H = 2*OH the window's top row is row 2*row of the stacked
    // planes, which holds OW pairs (W = 2*OW).
    let base = 2u * oy * p.w + 2u * ox;
    let top = row * p.w + ox;
    let i = indices[g];
    let d = dy[g];
    let z = T(0.0);
    dx[top] = vec2<T>(select(z, d, i == i32(base)), select(z, d, i == i32(base + 1u)));
    dx[top + p.ow] = vec2<T>(select(z, d, i == i32(base + p.w)),
                             select(z, d, i == i32(base + p.w + 1u)));
}
