// Correct predictions of logits [n, c] against class-index targets: per row the
// argmax (first index of the maximum; a NaN counts as the maximum, as
// torch.argmax), compared with the target (out-of-range targets never match).
// One invocation per row, 256 rows per workgroup; a halving tree sums the
// workgroup's 0/1 flags into partial[workgroup] (u32: exact, deterministic).
// loss/count.wgsl `sum` adds the partials. Work: c loads per row.
// Includes: precision prelude (T), grid, loss/params.

@group(0) @binding(1) var<storage, read> logits: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> partial: array<u32>;

var<workgroup> hits: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let g = flat_workgroup(wid, nwg);
    // Uniform per workgroup: past the last row block (grid fold overshoot).
    if (g * 256u >= p.n) {
        return;
    }
    let r = g * 256u + lid;
    var hit = 0u;
    if (r < p.n) {
        let base = r * p.c;
        var best = f32(logits[base]);
        var arg = 0u;
        for (var a = 1u; a < p.c; a++) {
            let v = f32(logits[base + a]);
            if (!is_nan_f32(best) && (v > best || is_nan_f32(v))) {
                best = v;
                arg = a;
            }
        }
        hit = select(0u, 1u, arg == targets[r]);
    }
    hits[lid] = hit;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            hits[lid] += hits[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partial[g] = hits[0];
    }
}
