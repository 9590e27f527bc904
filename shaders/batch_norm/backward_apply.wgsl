// Batch-norm backward, pass 3: dx = k.x * (dy - k.y - (x - k.w) * k.z) with the
// per-channel coefficients k of batch_norm/backward_finalize.wgsl; T storage
// (f32 or native f16), one element per invocation, f32 arithmetic.
// Bytes: two loads and one store of T per element.
// Includes: precision prelude (T), grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read> coef: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.count) {
        return;
    }
    let k = coef[channel_of(i)];
    dx[i] = T(k.x * ((f32(dy[i]) - k.y) - (f32(x[i]) - k.w) * k.z));
}
