// 2-D pooling forward (max, avg, sum, min by KIND; see pool/forward.wgsl), and
// max pooling with PyTorch's indices (entry `with_indices`). One output element
// per invocation, 64 per workgroup, flat over N*C*OH*OW; loads straight from
// storage (windows are small and neighbouring invocations share cache lines).
// Loads in T, arithmetic in f32, one rounding to T on the store.
// Bytes: kh*kw loads + 1 store per output (+ 1 i32 index store).
// Includes: precision prelude, grid, pool/params, pool/forward.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;

fn load(i: u32) -> f32 {
    return f32(x[i]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    y[o] = T(pool_output(o));
}

@compute @workgroup_size(64)
fn with_indices(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 64u + lid;
    if (o >= p.n) {
        return;
    }
    let r = pool_max(o, 1.0);
    y[o] = T(r.value);
    indices[o] = r.index;
}
