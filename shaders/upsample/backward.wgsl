// 2-D upsampling backward, gather form (deterministic, no atomics): one input-
// gradient element per invocation, 64 per workgroup, flat over N*C*IH*IW.
//
// The forward index maps are non-decreasing in the output index, so the outputs
// that read input row iy form one range, found by binary search over the output
// rows: nearest, the rows with src == iy; bilinear, the rows with i0 in
// {iy-1, iy} (i1 is i0 or i0+1). Same for columns. The gradient is
//   sum over oy of w_h(oy, iy) * (sum over ox of w_w(ox, ix) * dy[oy, ox]),
// with w the forward weight of that input (nearest 1; bilinear l0 and/or l1),
// accumulated in f32 in output order.
// Cost: 2*log2(OH) + 2*log2(OW) index evaluations plus one load per
// contributing output (about (OH/IH + 1) * (OW/IW + 1) of them; 4x that for
// bilinear).
// Includes: precision prelude, grid, upsample/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;

fn src_index(dst: u32, in_size: u32, out_size: u32, scale: f32) -> i32 {
    if (MODE == 0u) {
        return i32(nearest_src(dst, scale, in_size, out_size));
    }
    return i32(linear_src(dst, in_size, out_size, scale).i0);
}

// The first output index whose source index is >= target (out_size if none).
fn first_at_least(target_i: i32, in_size: u32, out_size: u32, scale: f32) -> u32 {
    var lo = 0u;
    var hi = out_size;
    loop {
        if (lo >= hi) {
            break;
        }
        let mid = (lo + hi) / 2u;
        if (src_index(mid, in_size, out_size, scale) >= target_i) {
            hi = mid;
        } else {
            lo = mid + 1u;
        }
    }
    return lo;
}

// Forward weight of input index i in output dst.
fn weight(dst: u32, i: u32, in_size: u32, out_size: u32, scale: f32) -> f32 {
    if (MODE == 0u) {
        return select(0.0, 1.0, nearest_src(dst, scale, in_size, out_size) == i);
    }
    let l = linear_src(dst, in_size, out_size, scale);
    return select(0.0, l.l0, l.i0 == i) + select(0.0, l.l1, l.i1 == i);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.n) {
        return;
    }
    let ihw = p.ih * p.iw;
    let plane = e / ihw;
    let iy = (e % ihw) / p.iw;
    let ix = e % p.iw;
    // Bilinear outputs with i0 = i - 1 also read i (as i1).
    let back = i32(MODE);
    let oy0 = first_at_least(i32(iy) - back, p.ih, p.oh, p.scale_h);
    let oy1 = first_at_least(i32(iy) + 1, p.ih, p.oh, p.scale_h);
    let ox0 = first_at_least(i32(ix) - back, p.iw, p.ow, p.scale_w);
    let ox1 = first_at_least(i32(ix) + 1, p.iw, p.ow, p.scale_w);
    let obase = plane * p.oh * p.ow;
    var acc = 0.0;
    for (var oy = oy0; oy < oy1; oy++) {
        let wy = weight(oy, iy, p.ih, p.oh, p.scale_h);
        var row = 0.0;
        for (var ox = ox0; ox < ox1; ox++) {
            row += weight(ox, ix, p.iw, p.ow, p.scale_w) * f32(dy[obase + oy * p.ow + ox]);
        }
        acc += wy * row;
    }
    dx[e] = T(acc);
}
