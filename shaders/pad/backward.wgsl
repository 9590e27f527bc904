// Gradient of padding, gathered: input (iy, ix) sums dy over every output
// that reads it. Per axis those outputs form at most three runs: the direct
// one (i + begin); in reflect mode its mirror on each side; in edge mode, for
// the first and last index, the whole padded margin. One input element per
// invocation, 64 per workgroup; f32 sums in raster order, rounded once to T.
// Includes: precision prelude, grid, pad/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;

// Output runs [start, end) that read index i of an axis of `size` padded by
// `begin` in front to `out`.
fn runs(i: i32, size: i32, begin: i32, out: i32) -> array<vec2<i32>, 3> {
    var r: array<vec2<i32>, 3>;
    let direct = i + begin;
    r[0] = vec2<i32>(direct, direct + 1);
    r[1] = vec2<i32>(0, 0);
    r[2] = vec2<i32>(0, 0);
    if (MODE == 1u) {
        if (i >= 1) {
            let o = begin - i;
            r[1] = vec2<i32>(o, o + 1);
        }
        if (i <= size - 2) {
            let o = begin + 2 * (size - 1) - i;
            r[2] = vec2<i32>(max(o, begin + size), o + 1);
        }
        // The left mirror lies in the front margin [0, begin).
        r[1] = vec2<i32>(max(r[1].x, 0), min(r[1].y, begin));
    } else if (MODE == 2u) {
        if (i == 0) {
            r[1] = vec2<i32>(0, begin);
        }
        if (i == size - 1) {
            r[2] = vec2<i32>(begin + size, out);
        }
    }
    for (var k = 0; k < 3; k++) {
        r[k] = vec2<i32>(max(r[k].x, 0), min(r[k].y, out));
    }
    return r;
}

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
    let iy = i32((e % hw) / p.w);
    let ix = i32(e % p.w);
    let rows = runs(iy, i32(p.h), p.top, i32(p.oh));
    let cols = runs(ix, i32(p.w), p.left, i32(p.ow));
    let base = plane * p.oh * p.ow;
    var sum = 0.0;
    for (var a = 0; a < 3; a++) {
        for (var oy = rows[a].x; oy < rows[a].y; oy++) {
            for (var b = 0; b < 3; b++) {
                for (var ox = cols[b].x; ox < cols[b].y; ox++) {
                    sum += f32(dy[base + u32(oy) * p.ow + u32(ox)]);
                }
            }
        }
    }
    dx[e] = T(sum);
}
