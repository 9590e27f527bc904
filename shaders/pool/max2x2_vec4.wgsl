// pool/max2x2 with vec4 loads, for OW % 4 == 0 (then W % 8 == 0 and every row
// starts on a vec4): each invocation computes 4 consecutive outputs of one
// output row from two vec4 loads per input row, and stores them as one vec4
// (indices as one vec4<i32>). Same semantics and entry points as pool/max2x2.
// Bytes: 4 loads and 1 store (+ 1 i32 index) per output, 6 (7) memory
// operations per 4 outputs.
// Includes: precision prelude, grid, pool/params, pool/max2x2_common.

@group(0) @binding(1) var<storage, read> x: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<T>>;
@group(0) @binding(3) var<storage, read_write> indices: array<vec4<i32>>;

const V: u32 = 4u;

struct Quad {
    value: vec4<f32>,
    pos: vec4<u32>,
}

// The 4 windows of block b: pairs (t0.xy, u0.xy), (t0.zw, u0.zw), ...
fn quad(b: Block) -> Quad {
    // b.top counts pairs and is even here: vec4 index b.top / 2.
    let top = b.top >> 1u;
    let bottom = top + (p.ow >> 1u);
    let t0 = vec4<f32>(x[top]);
    let t1 = vec4<f32>(x[top + 1u]);
    let u0 = vec4<f32>(x[bottom]);
    let u1 = vec4<f32>(x[bottom + 1u]);
    let r0 = window_max(t0.xy, u0.xy);
    let r1 = window_max(t0.zw, u0.zw);
    let r2 = window_max(t1.xy, u1.xy);
    let r3 = window_max(t1.zw, u1.zw);
    return Quad(vec4<f32>(r0.value, r1.value, r2.value, r3.value),
                vec4<u32>(r0.pos, r1.pos, r2.pos, r3.pos));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg) * 64u + lid;
    if (g >= p.n) {
        return;
    }
    let b = block(g);
    y[b.out >> 2u] = vec4<T>(quad(b).value);
}

@compute @workgroup_size(64)
fn with_indices(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg) * 64u + lid;
    if (g >= p.n) {
        return;
    }
    let b = block(g);
    let q = quad(b);
    y[b.out >> 2u] = vec4<T>(q.value);
    let ih = vec4<u32>(2u * b.oy) + (q.pos >> vec4<u32>(1u));
    let iw = vec4<u32>(2u * b.ox) + vec4<u32>(0u, 2u, 4u, 6u) + (q.pos & vec4<u32>(1u));
    indices[b.out >> 2u] = vec4<i32>(ih * p.w + iw);
}
