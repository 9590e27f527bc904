// Max-pooling backward when windows cannot overlap (stride >= kernel on both
// axes, no dilation): each input element lies in at most one window, at
// oy = (ih + ph) / sh when (ih + ph) % sh < kh (likewise for columns), so its
// gradient is that window's dy where the window's index names it, else 0. One
// pass, no temporaries, one dx element per invocation (64 per workgroup), flat
// over N*C*H*W; every element written. Deterministic; loads in T, one rounding
// (none: a copy or 0) on the store.
// Bytes: per dx element one index and one dy load (shared by the window's
// elements through the cache) and one store.
// Includes: precision prelude, grid, pool/params.

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_workgroup(wid, nwg) * 64u + lid;
    if (e >= p.n) {
        return;
    }
    let hw = p.h * p.w;
    let plane = e / hw;
    let r = e - plane * hw;
    let ih = r / p.w;
    let iw = r - ih * p.w;
    let ty = ih + p.ph;
    let tx = iw + p.pw;
    let oy = ty / p.sh;
    let ox = tx / p.sw;
    let inside = ty - oy * p.sh < p.kh && tx - ox * p.sw < p.kw && oy < p.oh && ox < p.ow;
    let o = (plane * p.oh + min(oy, p.oh - 1u)) * p.ow + min(ox, p.ow - 1u);
    let hit = inside && indices[o] == i32(r);
    dx[e] = select(T(0.0), dy[o], hit);
}
