// Rank filters over a kh x kw window (kh * kw <= 81): the value of rank
// p.rank among the window's values sorted ascending — 0 the minimum
// (erosion), kh*kw - 1 the maximum (dilation), kh*kw / 2 the median. The
// window is gathered into registers and insertion-sorted. One output per
// invocation, 64 per workgroup.
// Includes: grid, filter/params.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    let hw = p.h * p.w;
    let plane = o / hw;
    let y = i32((o % hw) / p.w);
    let x = i32(o % p.w);
    let ay = i32(p.kh / 2u);
    let ax = i32(p.kw / 2u);
    var v: array<f32, 81>;
    var count = 0u;
    for (var dy = 0; dy < i32(p.kh); dy++) {
        for (var dx = 0; dx < i32(p.kw); dx++) {
            let sy = border_index(y + dy - ay, i32(p.h));
            let sx = border_index(x + dx - ax, i32(p.w));
            var value = 0.0;
            if (sy >= 0 && sx >= 0) {
                value = src[plane * hw + u32(sy) * p.w + u32(sx)];
            }
            // Insertion into the sorted prefix.
            var j = count;
            while (j > 0u && v[j - 1u] > value) {
                v[j] = v[j - 1u];
                j--;
            }
            v[j] = value;
            count++;
        }
    }
    dst[o] = v[p.rank];
}
