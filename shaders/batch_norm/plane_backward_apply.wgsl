// Batch-norm backward, "planes" variant, pass 3: dx = k.x * (dy − k.y −
// (x − k.w) * k.z) with the channel's coefficients k, one invocation per run
// of p.chunk elements of one (image, channel) plane (the channel found once
// per run); VEC4 (HW % 4 == 0): vec4 loads and stores. f32 arithmetic.
// Bytes: two loads and one store of T per element.
// Includes: precision prelude (T, T4), grid, batch_norm/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> dy4: array<T4>;
@group(0) @binding(3) var<storage, read> x: array<T>;
@group(0) @binding(4) var<storage, read> x4: array<T4>;
@group(0) @binding(5) var<storage, read> coef: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dx: array<T>;
@group(0) @binding(7) var<storage, read_write> dx4: array<T4>;

override VEC4: bool = false;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let inv = flat_workgroup(wid, nwg) * 64u + lid;
    if (inv >= p.count) {
        return;
    }
    let plane = inv / p.chunks;
    let start = (inv % p.chunks) * p.chunk;
    let len = min(p.chunk, p.hw - start);
    let base = plane * p.hw + start;
    let k = coef[plane % p.c];
    if (VEC4) {
        let b4 = base / 4u;
        for (var q = 0u; q < len / 4u; q++) {
            let v = k.x * ((vec4<f32>(dy4[b4 + q]) - k.y) - (vec4<f32>(x4[b4 + q]) - k.w) * k.z);
            dx4[b4 + q] = T4(v);
        }
    } else {
        for (var i = 0u; i < len; i++) {
            dx[base + i] = T(k.x * ((f32(dy[base + i]) - k.y) - (f32(x[base + i]) - k.w) * k.z));
        }
    }
}
