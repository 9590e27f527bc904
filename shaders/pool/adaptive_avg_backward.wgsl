// Gradient of adaptive average pooling, gathered: input (iy, ix) receives
// dy[oy, ox] / area(oy, ox) from every output whose window holds it, i.e. oy
// in [floor(iy*oh/h), ceil((iy+1)*oh/h)) and likewise for ox (windows overlap
// when the sizes do not divide). One input element per invocation, 64 per
// workgroup; f32 sums in raster order of the outputs, rounded once to T.
// Includes: precision prelude, grid, pool/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.n) {
        return;
    }
    let hw = p.h * p.w;
    let plane = e / hw;
    let iy = (e % hw) / p.w;
    let ix = e % p.w;
    let oy0 = iy * p.oh / p.h;
    let oy1 = ((iy + 1u) * p.oh + p.h - 1u) / p.h;
    let ox0 = ix * p.ow / p.w;
    let ox1 = ((ix + 1u) * p.ow + p.w - 1u) / p.w;
    let base = plane * p.oh * p.ow;
    var sum = 0.0;
    for (var oy = oy0; oy < oy1; oy++) {
        let rows = ((oy + 1u) * p.h + p.oh - 1u) / p.oh - oy * p.h / p.oh;
        for (var ox = ox0; ox < ox1; ox++) {
            let cols = ((ox + 1u) * p.w + p.ow - 1u) / p.ow - ox * p.w / p.ow;
            sum += f32(dy[base + oy * p.ow + ox]) / f32(rows * cols);
        }
    }
    dx[e] = T(sum);
}
