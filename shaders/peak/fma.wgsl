// FMA throughput probe: the device's fp32 arithmetic ceiling.
//
// Each invocation runs 8 independent vec4 FMA chains for ITERS iterations, so the
// loop is bound by FMA issue rate rather than latency, and writes one vec4 so the
// compiler cannot drop the work. FLOPs = invocations * ITERS * 8 chains * 4 lanes * 2.
// m and c keep every chain bounded (|x| stays near c / (1 - m)).

struct Params {
    n: u32,
    m: f32,
    c: f32,
}

override ITERS: u32 = 512u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    let m = vec4<f32>(p.m);
    let c = vec4<f32>(p.c);
    let s = f32(lid) * 1e-3;
    var a0 = vec4<f32>(s, s + 0.1, s + 0.2, s + 0.3);
    var a1 = a0 + 1.0;
    var a2 = a0 + 2.0;
    var a3 = a0 + 3.0;
    var a4 = a0 + 4.0;
    var a5 = a0 + 5.0;
    var a6 = a0 + 6.0;
    var a7 = a0 + 7.0;
    for (var k = 0u; k < ITERS; k++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    out[i] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}
