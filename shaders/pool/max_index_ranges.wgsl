// Index ranges for the gather-form max-pooling backward (pool/max_grad.wgsl),
// three small passes over an i32 `ranges` buffer (layout in max_grad.wgsl):
//
// `init`   (2*(oh+ow) invocations): row/col lo = i32 max, hi = -1.
// `reduce` (oh*ow * ceil(planes/32) invocations): invocation (s, k) reads the
//          index at output position s of planes 32k..32k+31, and folds the min
//          and max input row and column of the in-range ones into the ranges of
//          output row s/ow and column s%ow with atomicMin/atomicMax (min and max
//          are order-independent, so the result is deterministic). Indices
//          outside [0, h*w) match no input element and are skipped.
// `invert` (h + w invocations): for input row ih, the first and last output rows
//          whose [lo, hi] contains ih (likewise for columns); O(oh) or O(ow) each.
//
// Bytes: one i32 load per output element, plus O((h+w)*(oh+ow)) small work.
// Includes: grid, pool/params.

@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> ranges: array<atomic<i32>>;

// Planes folded by one `reduce` invocation.
const CHUNK: u32 = 32u;
const LO_NONE: i32 = 0x7fffffff;
const HI_NONE: i32 = -1;

@compute @workgroup_size(64)
fn init(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 64u + lid;
    if (i >= 2u * (p.oh + p.ow)) {
        return;
    }
    let is_lo = i < p.oh || (i >= 2u * p.oh && i < 2u * p.oh + p.ow);
    atomicStore(&ranges[i], select(HI_NONE, LO_NONE, is_lo));
}

@compute @workgroup_size(64)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = flat_workgroup(wid, nwg) * 64u + lid;
    if (t >= p.n) {
        return;
    }
    let ohw = p.oh * p.ow;
    let s = t % ohw;
    let first = (t / ohw) * CHUNK;
    let last = min(first + CHUNK, p.planes);
    let hw = i32(p.h * p.w);
    var rmin = LO_NONE;
    var rmax = HI_NONE;
    var cmin = LO_NONE;
    var cmax = HI_NONE;
    for (var plane = first; plane < last; plane++) {
        let v = indices[plane * ohw + s];
        if (v >= 0 && v < hw) {
            let r = v / i32(p.w);
            let c = v % i32(p.w);
            rmin = min(rmin, r);
            rmax = max(rmax, r);
            cmin = min(cmin, c);
            cmax = max(cmax, c);
        }
    }
    if (rmax >= 0) {
        let oy = s / p.ow;
        let ox = s % p.ow;
        atomicMin(&ranges[oy], rmin);
        atomicMax(&ranges[p.oh + oy], rmax);
        atomicMin(&ranges[2u * p.oh + ox], cmin);
        atomicMax(&ranges[2u * p.oh + p.ow + ox], cmax);
    }
}

@compute @workgroup_size(64)
fn invert(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = flat_workgroup(wid, nwg) * 64u + lid;
    if (t >= p.h + p.w) {
        return;
    }
    // Rows: input row t against output rows; columns: input column t - h.
    let rows = t < p.h;
    let target_i = i32(select(t - p.h, t, rows));
    let count = select(p.ow, p.oh, rows);
    let lo_at = select(2u * p.oh, 0u, rows);
    let hi_at = lo_at + count;
    var lo = LO_NONE;
    var hi = HI_NONE;
    for (var o = 0u; o < count; o++) {
        if (atomicLoad(&ranges[lo_at + o]) <= target_i && target_i <= atomicLoad(&ranges[hi_at + o])) {
            lo = min(lo, i32(o));
            hi = max(hi, i32(o));
        }
    }
    let base = 2u * (p.oh + p.ow);
    let out_lo = select(base + 2u * p.h + u32(target_i), base + u32(target_i), rows);
    let out_hi = out_lo + select(p.w, p.h, rows);
    atomicStore(&ranges[out_lo], lo);
    atomicStore(&ranges[out_hi], hi);
}
