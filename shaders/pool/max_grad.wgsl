// Gradient of max pooling at one input element from the forward pass's indices,
// gather form: deterministic and correct when windows overlap, without knowing
// the window geometry. Shared by the typed and packed bodies, which provide
// `fn load_dy(i: u32) -> f32`.
//
// dx[plane, pos] = sum of dy[plane, o] over the outputs o whose index is pos
// (PyTorch's scatter `dx[idx[o]] += dy[o]`, summed here in output order).
// pool/max_index_ranges.wgsl has reduced the indices of all planes to, per input
// row ih, the range [oy_lo, oy_hi] of output rows whose index rows cover ih, and
// likewise per input column; every output pointing to (ih, iw) lies in that box,
// which for real pooling is at most ceil(ext/stride) rows by as many columns.
// Ranges layout (i32): [row lo OH][row hi OH][col lo OW][col hi OW]
//                      [oy_lo H][oy_hi H][ox_lo W][ox_hi W]; empty: lo > hi.
// Includes: grid, pool/params.

@group(0) @binding(2) var<storage, read> indices: array<i32>;
@group(0) @binding(3) var<storage, read> ranges: array<i32>;

fn max_grad(e: u32) -> f32 {
    let hw = p.h * p.w;
    let pos = e % hw;
    return max_grad_at(e / hw, pos / p.w, pos % p.w);
}

// The gradient at input (ih, iw) of `plane`.
fn max_grad_at(plane: u32, ih: u32, iw: u32) -> f32 {
    let pos = ih * p.w + iw;
    let hb = 2u * (p.oh + p.ow);
    let wb = hb + 2u * p.h;
    let oy0 = ranges[hb + ih];
    let oy1 = ranges[hb + p.h + ih];
    let ox0 = ranges[wb + iw];
    let ox1 = ranges[wb + p.w + iw];
    let obase = plane * p.oh * p.ow;
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        for (var ox = ox0; ox <= ox1; ox++) {
            let o = obase + u32(oy) * p.ow + u32(ox);
            if (indices[o] == i32(pos)) {
                acc += load_dy(o);
            }
        }
    }
    return acc;
}
