// Global average pooling backward: dx[n, c, h, w] = dy[n, c] / (H*W). One
// element per invocation, 64 per workgroup; one f32 division, rounded once to T.
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
    dx[e] = T(f32(dy[e / hw]) / f32(hw));
}
