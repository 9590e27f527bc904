// Median of 3x3 windows by a 19-exchange selection network (Paeth's, as
// Devillard's opt_med9): exact, branch-free, no sorting loop. One output per
// invocation, 256 per workgroup; borders as filter/params.wgsl says.
// Includes: grid, filter/params.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

var<private> v: array<f32, 9>;

fn sort2(a: u32, b: u32) {
    let lo = min(v[a], v[b]);
    let hi = max(v[a], v[b]);
    v[a] = lo;
    v[b] = hi;
}

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
    for (var k = 0; k < 9; k++) {
        let sy = border_index(y + k / 3 - 1, i32(p.h));
        let sx = border_index(x + k % 3 - 1, i32(p.w));
        var value = 0.0;
        if (sy >= 0 && sx >= 0) {
            value = src[plane * hw + u32(sy) * p.w + u32(sx)];
        }
        v[k] = value;
    }
    sort2(1u, 2u); sort2(4u, 5u); sort2(7u, 8u);
    sort2(0u, 1u); sort2(3u, 4u); sort2(6u, 7u);
    sort2(1u, 2u); sort2(4u, 5u); sort2(7u, 8u);
    sort2(0u, 3u); sort2(5u, 8u); sort2(4u, 7u);
    sort2(3u, 6u); sort2(1u, 4u); sort2(2u, 5u);
    sort2(4u, 7u); sort2(4u, 2u); sort2(6u, 4u);
    sort2(4u, 2u);
    dst[o] = v[4];
}
