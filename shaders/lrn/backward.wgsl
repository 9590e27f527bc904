// Gradient of local response normalisation:
//   dx_c = dy_c / s_c^beta
//          - 2 beta alpha / size * x_c * sum over c' whose window holds c of
//            dy_c' x_c' / s_c'^(beta + 1),
// with each s_c' recomputed from x (size^2 loads per element instead of a
// saved scale tensor the size of x). One element per invocation; f32 sums in
// channel order.
// Includes: precision prelude, grid, lrn/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 64u + lid;
    if (i >= p.n) {
        return;
    }
    let c = (i / p.inner) % p.channels;
    let plane0 = i - c * p.inner;
    // Channels c' with c in [c' - before, c' - before + size - 1].
    let lo = u32(max(i32(c) + i32(p.before) - i32(p.size) + 1, 0));
    let hi = min(c + p.before + 1u, p.channels);
    var cross = 0.0;
    for (var j = lo; j < hi; j++) {
        let k = plane0 + j * p.inner;
        let s = scale(plane0, j);
        cross += f32(dy[k]) * f32(x[k]) / pow(s, p.beta + 1.0);
    }
    let own = f32(dy[i]) / pow(scale(plane0, c), p.beta);
    dx[i] = T(own - 2.0 * p.beta * p.alpha_over_size * f32(x[i]) * cross);
}
