// 2-D correlation (as filter/correlate) by 16x16 output tiles: the tile's
// input window with its halo, (16 + kh - 1) x (16 + kw - 1) values (border
// applied), is loaded once into workgroup memory, then every invocation sums
// its own window from there. Kernels up to 17x17 (a 32x32 input tile).
// Workgroup index: plane, then tile rows, then tile columns.
// Includes: grid, filter/params.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

const T: u32 = 16u;
const MAX_IN: u32 = 32u;

var<workgroup> tile: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg);
    let tiles_x = (p.w + T - 1u) / T;
    let tiles_y = (p.h + T - 1u) / T;
    let planes = p.n / (p.h * p.w);
    // Workgroups past the data (a folded grid) have nothing to do.
    if (g >= planes * tiles_y * tiles_x) {
        return;
    }
    let plane = g / (tiles_y * tiles_x);
    let ty = (g / tiles_x) % tiles_y;
    let tx = g % tiles_x;
    let in_h = T + p.kh - 1u;
    let in_w = T + p.kw - 1u;
    let y0 = i32(ty * T) - i32(p.kh / 2u);
    let x0 = i32(tx * T) - i32(p.kw / 2u);
    let base = plane * p.h * p.w;
    for (var k = lid; k < in_h * in_w; k += T * T) {
        let sy = border_index(y0 + i32(k / in_w), i32(p.h));
        let sx = border_index(x0 + i32(k % in_w), i32(p.w));
        var v = 0.0;
        if (sy >= 0 && sx >= 0) {
            v = src[base + u32(sy) * p.w + u32(sx)];
        }
        tile[(k / in_w) * MAX_IN + k % in_w] = v;
    }
    workgroupBarrier();
    let oy = ty * T + lid3.y;
    let ox = tx * T + lid3.x;
    if (oy >= p.h || ox >= p.w) {
        return;
    }
    var sum = 0.0;
    for (var dy = 0u; dy < p.kh; dy++) {
        for (var dx = 0u; dx < p.kw; dx++) {
            sum += weights[dy * p.kw + dx] * tile[(lid3.y + dy) * MAX_IN + lid3.x + dx];
        }
    }
    dst[base + oy * p.w + ox] = sum;
}
