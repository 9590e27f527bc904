// Dropout on packed f16 storage: dropout.wgsl with each invocation owning the two
// words (four elements) one Philox call covers; a word past the storage is not
// written and the odd tail's padding half is written as 0.
// Includes: grid, dropout/philox, dropout/params.

@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg) * 64u + lid;
    if (4u * g >= p.n) {
        return;
    }
    let keep = keep4(g);
    let a = unpack2x16float(x[2u * g]) * vec2<f32>(factor(keep.x), factor(keep.y));
    let lo = select(0.0, a.y, 4u * g + 1u < p.n);
    y[2u * g] = pack2x16float(vec2<f32>(a.x, lo));
    if (4u * g + 2u < p.n) {
        let b = unpack2x16float(x[2u * g + 1u]) * vec2<f32>(factor(keep.z), factor(keep.w));
        let hi = select(0.0, b.y, 4u * g + 3u < p.n);
        y[2u * g + 1u] = pack2x16float(vec2<f32>(b.x, hi));
    }
}
