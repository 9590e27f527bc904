// Weights of the implicit GEMM read straight from the OIHW tensor: rows m..m+3
// (of group g) at tap `tap`, clamped to the group's last row (rows past it are
// computed and never stored); only the rows a block of TM has are loaded.
// Includes (before this file): precision prelude, conv/params.

@group(0) @binding(2) var<storage, read> wt: array<T>;

fn tap_weights(g: u32, m: u32, tap: u32) -> vec4<f32> {
    let last = g * p.cout_g + p.cout_g - 1u;
    let co = g * p.cout_g + m;
    var v = vec4<f32>(f32(wt[min(co, last) * p.patch_len + tap]));
    if (TM > 1u) {
        v.y = f32(wt[min(co + 1u, last) * p.patch_len + tap]);
    }
    if (TM > 2u) {
        v.z = f32(wt[min(co + 2u, last) * p.patch_len + tap]);
        v.w = f32(wt[min(co + 3u, last) * p.patch_len + tap]);
    }
    return v;
}
