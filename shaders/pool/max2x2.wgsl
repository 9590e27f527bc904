// Max pooling with a 2x2 window, stride 2, no padding or dilation, on planes of
// even width (then OW = W/2 and each output's window is one aligned pair of
// columns in two rows). Each invocation computes V consecutive outputs of one
// output row: it loads 2*V pairs as vec2 (one bounds check and one address per
// pair) and needs one division chain for all V outputs, where the generic
// kernel divides and loops per output. Same semantics as pool/forward.wgsl:
// first maximum wins ties, the last NaN wins, indices are h*W + w in the plane.
// Entry `main` writes values, `with_indices` also PyTorch's indices.
// Requires OW % V == 0; `n` is the number of invocations (outputs / V).
// Bytes: 4 loads and 1 store (+ 1 i32 index) per output.
// Includes: precision prelude, grid, pool/params, pool/max2x2_common.

@group(0) @binding(1) var<storage, read> x: array<vec2<T>>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;

// Outputs per invocation (1 or 2).
override V: u32 = 1u;

fn load_window(b: Block, j: u32) -> Best {
    return window_max(vec2<f32>(x[b.top + j]), vec2<f32>(x[b.top + p.ow + j]));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg) * 64u + lid;
    if (g >= p.n) {
        return;
    }
    let b = block(g);
    for (var j = 0u; j < V; j++) {
        y[b.out + j] = T(load_window(b, j).value);
    }
}

@compute @workgroup_size(64)
fn with_indices(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg) * 64u + lid;
    if (g >= p.n) {
        return;
    }
    let b = block(g);
    for (var j = 0u; j < V; j++) {
        let r = load_window(b, j);
        y[b.out + j] = T(r.value);
        let ih = 2u * b.oy + (r.pos >> 1u);
        let iw = 2u * (b.ox + j) + (r.pos & 1u);
        indices[b.out + j] = i32(ih * p.w + iw);
    }
}
