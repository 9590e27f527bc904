// 2-D correlation of image planes with a kh x kw kernel (OpenCV's filter2D:
// no kernel flip), the border as params.wgsl says. One output per
// invocation, 256 per workgroup; f32 sums in raster order of the window.
// Includes: grid, filter/params.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 256u + lid;
    if (o >= p.n) {
        return;
    }
    let hw = p.h * p.w;
    let plane = o / hw;
    let y = i32((o % hw) / p.w);
    let x = i32(o % p.w);
    let ay = i32(p.kh / 2u);
    let ax = i32(p.kw / 2u);
    var sum = 0.0;
    for (var dy = 0; dy < i32(p.kh); dy++) {
        let sy = border_index(y + dy - ay, i32(p.h));
        if (sy < 0) {
            continue;
        }
        for (var dx = 0; dx < i32(p.kw); dx++) {
            let sx = border_index(x + dx - ax, i32(p.w));
            if (sx < 0) {
                continue;
            }
            sum += weights[u32(dy) * p.kw + u32(dx)] * src[plane * hw + u32(sy) * p.w + u32(sx)];
        }
    }
    dst[o] = sum;
}
