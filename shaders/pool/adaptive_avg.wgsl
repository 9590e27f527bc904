// Adaptive average pooling (PyTorch's adaptive_avg_pool2d): output (oy, ox) of
// an oh x ow plane averages input rows [floor(oy*h/oh), ceil((oy+1)*h/oh)) and
// columns [floor(ox*w/ow), ceil((ox+1)*w/ow)). One output per invocation, 64
// per workgroup; sums in f32 in raster order, one division, rounded once to T.
// Includes: precision prelude, grid, pool/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    let ohw = p.oh * p.ow;
    let plane = o / ohw;
    let oy = (o % ohw) / p.ow;
    let ox = o % p.ow;
    let y0 = oy * p.h / p.oh;
    let y1 = ((oy + 1u) * p.h + p.oh - 1u) / p.oh;
    let x0 = ox * p.w / p.ow;
    let x1 = ((ox + 1u) * p.w + p.ow - 1u) / p.ow;
    let base = plane * p.h * p.w;
    var sum = 0.0;
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            sum += f32(x[base + iy * p.w + ix]);
        }
    }
    y[o] = T(sum / f32((y1 - y0) * (x1 - x0)));
}
