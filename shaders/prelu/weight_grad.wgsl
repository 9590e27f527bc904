// PReLU backward, pass 2 of 2: dweight[c] = sum over k of partials[c*chunks + k].
// One workgroup of 256 invocations per channel: invocation l adds chunks l,
// l+256, ... in order, then a fixed tree combines the 256 sums (deterministic);
// one rounding to T at the end.
// Includes: precision prelude, grid, prelu/params.

@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> dweight: array<T>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let c = flat_workgroup(wid, nwg);
    if (c >= p.channels) {
        return;
    }
    var acc = 0.0;
    for (var k = lid; k < p.chunks; k += 256u) {
        acc += partials[c * p.chunks + k];
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
        dweight[c] = T(partial[0]);
    }
}
