// The A operand of the weight gradient's GEMM form: a chunk of A
// [imgs, a_c, HW] (dy of conv2d) rearranged into rows [a_c, P4], row r
// holding channel r of every image in turn (column (img*HW + pix)), zero
// padded to P4 = a multiple of 4 columns. Beside im2col's columns of B
// [patch, P4] both operands are contiguous along the reduction, so
// dW = rows · colsᵀ is the vec4 NT GEMM.
// Each invocation writes four consecutive columns of one row (one vec4 store).
// Bytes: a_c*P4 elements written, a_c*P read.
// Includes: precision prelude, grid.

struct Params {
    a_c: u32,
    hw: u32,
    // Columns: imgs * hw.
    cols: u32,
    // P4 / 4.
    quads: u32,
    // The chunk's first element in the binding of A.
    a_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
// f32 at every precision: the GEMM runs on f32 operands.
@group(0) @binding(2) var<storage, read_write> rows: array<vec4<f32>>;

// Element `pix` of channel `row` of image `img` (zero past the last column).
fn at(row: u32, img: u32, pix: u32, col: u32) -> f32 {
    if (col >= p.cols) {
        return 0.0;
    }
    return f32(a[p.a_off + (img * p.a_c + row) * p.hw + pix]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.a_c * p.quads) {
        return;
    }
    let row = e / p.quads;
    let col = (e % p.quads) * 4u;
    // The first column decoded, the next three stepped (no more divisions).
    var img = array<u32, 4>(col / p.hw, 0u, 0u, 0u);
    var pix = array<u32, 4>(col % p.hw, 0u, 0u, 0u);
    for (var j = 1u; j < 4u; j++) {
        let wrap = pix[j - 1u] + 1u == p.hw;
        img[j] = img[j - 1u] + u32(wrap);
        pix[j] = select(pix[j - 1u] + 1u, 0u, wrap);
    }
    rows[e] = vec4<f32>(at(row, img[0], pix[0], col), at(row, img[1], pix[1], col + 1u),
                        at(row, img[2], pix[2], col + 2u), at(row, img[3], pix[3], col + 3u));
}
