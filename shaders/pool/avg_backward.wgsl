// avg_pool2d backward, gather form: one input-gradient element per invocation
// (see pool/avg_grad.wgsl), 64 per workgroup, flat over N*C*H*W. Deterministic.
// Loads in T, f32 accumulation, one rounding on the store.
// Includes: precision prelude, grid, pool/params, pool/avg_grad.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;

fn load_dy(i: u32) -> f32 {
    return f32(dy[i]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.n) {
        return;
    }
    dx[e] = T(avg_grad(e));
}
