// conv2d weight gradient, Winograd F(2x2, 3x3), step 2 (step 1 is the
// forward's input transform, winograd_input.wgsl): the output
// gradient's transform M = A dy A^T of every 2x2 tile dy of A (the gradient
// of the forward's output transform Y = A^T m A), with
//   A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
// Tile t = (img*TH + ty)*TW + tx of the chunk covers A's rows 2*ty .. +1 and
// columns 2*tx .. +1 (zeros past A_H x A_W). M is stored as 16 matrices
// [A_C, P4] (xi = 4*row + column), the A operands of the 16 GEMMs; columns
// P .. P4 are written as zeros. One invocation per (channel, tile): up to 4
// loads, 16 stores.
// Params: c_out = A_C, oh x ow = A's size, y_off = the chunk's first element
// in the A window; a0 = TH, a1 = TW, a2 = P (tiles in the chunk), a3 = P4.
// Includes: precision prelude, grid, conv/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
// f32 at every precision: the weight gradient's GEMMs run on f32 operands.
@group(0) @binding(2) var<storage, read_write> m: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    let p4 = p.a3;
    if (e >= p.c_out * p4) {
        return;
    }
    let t = e % p4;
    let co = e / p4;
    var g = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    if (t < p.a2) {
        let tx = t % p.a1;
        let ty = (t / p.a1) % p.a0;
        let img = t / (p.a1 * p.a0);
        let oy = 2u * ty;
        let ox = 2u * tx;
        let base = p.y_off + ((img * p.c_out + co) * p.oh + oy) * p.ow + ox;
        let right = ox + 1u < p.ow;
        g[0] = f32(dy[base]);
        if (right) {
            g[1] = f32(dy[base + 1u]);
        }
        if (oy + 1u < p.oh) {
            g[2] = f32(dy[base + p.ow]);
            if (right) {
                g[3] = f32(dy[base + p.ow + 1u]);
            }
        }
    }
    // A g: 4 x 2 (rows of the tile mixed).
    let r0 = vec2<f32>(g[0], g[1]);
    let r1 = vec2<f32>(g[2], g[3]);
    let ag = array<vec2<f32>, 4>(r0, r0 + r1, r0 - r1, -r1);
    // (A g) A^T: 4 x 4 (columns mixed).
    let stride = p.c_out * p4;
    for (var r = 0u; r < 4u; r++) {
        let c = ag[r];
        let o = (4u * r) * stride + e;
        m[o] = c.x;
        m[o + stride] = c.x + c.y;
        m[o + 2u * stride] = c.x - c.y;
        m[o + 3u * stride] = -c.y;
    }
}
