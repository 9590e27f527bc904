// Max-pooling backward, gather form (see pool/max_grad.wgsl): one invocation
// per run of RUN input-gradient elements along a row, 64 per workgroup; p.n
// counts the runs (N*C*H rows of ceil(W / RUN)). A CPU backend pays per
// invocation about what a few elements' gathers cost (one element per
// invocation ran at a fifth of this). Runs after the three passes of
// pool/max_index_ranges.wgsl. Deterministic; loads in T, f32 accumulation,
// one rounding on the store.
// Includes: precision prelude, grid, pool/params, pool/max_grad.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(4) var<storage, read_write> dx: array<T>;

fn load_dy(i: u32) -> f32 {
    return f32(dy[i]);
}

// Elements per invocation (pool/backward.rs's MAX_RUN).
const RUN: u32 = 8u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.n) {
        return;
    }
    let segs = (p.w + RUN - 1u) / RUN;
    let row = e / segs;
    let plane = row / p.h;
    let ih = row % p.h;
    let iw0 = (e % segs) * RUN;
    for (var j = 0u; j < RUN; j++) {
        let iw = iw0 + j;
        if (iw >= p.w) {
            break;
        }
        dx[row * p.w + iw] = T(max_grad_at(plane, ih, iw));
    }
}
