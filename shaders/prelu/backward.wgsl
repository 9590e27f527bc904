// PReLU backward, pass 1 of 2: dx = x > 0 ? dy : w[c] * dy for every element, and
// per-chunk partial sums of the weight gradient sum(x > 0 ? 0 : x * dy).
// Workgroup (c, k) of 256 invocations covers chunk k of channel c: invocation l
// takes elements k*2048 + t*256 + l (t = 0..7) of the channel's outer*inner
// elements, summing its terms in f32 in that order; a fixed tree in workgroup
// memory then adds the 256 partials into partials[c * chunks + k]. No atomics:
// deterministic. Pass 2 (prelu/weight_grad.wgsl) adds the chunks.
// Bytes: 3 loads + 1 store per element, 1 f32 store per chunk.
// Includes: precision prelude, grid, prelu/params.

@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> weight: array<T>;
@group(0) @binding(3) var<storage, read> dy: array<T>;
@group(0) @binding(4) var<storage, read_write> dx: array<T>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

const ITEMS: u32 = 8u;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // Uniform per workgroup: the barriers below stay in uniform control flow.
    let wg = flat_workgroup(wid, nwg);
    if (wg >= p.channels * p.chunks) {
        return;
    }
    let c = wg / p.chunks;
    let k = wg % p.chunks;
    let a = f32(weight[c]);
    var acc = 0.0;
    for (var t = 0u; t < ITEMS; t++) {
        let j = k * p.chunk_len + t * 256u + lid;
        if (j < p.per_channel) {
            let o = j / p.inner;
            let i = (o * p.channels + c) * p.inner + j % p.inner;
            let v = f32(x[i]);
            let g = f32(dy[i]);
            let pos = v > 0.0;
            dx[i] = T(select(a * g, g, pos));
            acc += select(v * g, 0.0, pos);
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[wg] = partial[0];
    }
}
