// Shared by the 2x2 stride-2 max-pooling kernels (pool/max2x2, pool/max2x2_vec4):
// PyTorch's scan over one window and the mapping of an invocation to its V
// consecutive outputs of one output row. The body declares V (an override
// or a constant).
// Includes: precision prelude, grid, pool/params.

struct Best {
    value: f32,
    // 0, 1: top row left/right; 2, 3: bottom row.
    pos: u32,
}

// PyTorch's scan over the window (top-left, top-right, bottom-left,
// bottom-right): starting from the first element is the same as starting from
// -inf with its index.
fn window_max(top: vec2<f32>, bottom: vec2<f32>) -> Best {
    var b = Best(top.x, 0u);
    if (top.y > b.value || is_nan(top.y)) {
        b = Best(top.y, 1u);
    }
    if (bottom.x > b.value || is_nan(bottom.x)) {
        b = Best(bottom.x, 2u);
    }
    if (bottom.y > b.value || is_nan(bottom.y)) {
        b = Best(bottom.y, 3u);
    }
    return b;
}

struct Block {
    // First pair of the top row in x (vec2 units).
    top: u32,
    // First output in y.
    out: u32,
    oy: u32,
    ox: u32,
}

fn block(g: u32) -> Block {
    let per_row = p.ow / V;
    let row = g / per_row;
    let ox = (g - row * per_row) * V;
    let oy = row % p.oh;
    let plane = row / p.oh;
    // Pairs per input row: w / 2 = ow.
    let top = (plane * p.h + 2u * oy) * p.ow + ox;
    return Block(top, row * p.ow + ox, oy, ox);
}

