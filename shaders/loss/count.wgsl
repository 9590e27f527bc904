// Small integer reductions for the losses, in one 256-invocation workgroup:
// - `count_valid`: dst[0] = #{ i < n : src[i] < c }, the number of class-index
//   targets in range (i32 targets are read as u32, so negatives such as
//   ignore_index -100 are out of range). The Mean denominator of
//   cross-entropy and NLL.
// - `sum`: dst[0] = Σ_{i < n} src[i] (the per-workgroup counts of
//   loss/count_correct.wgsl).
// Each invocation accumulates a strided share, then a halving tree. Integer
// arithmetic: exact and deterministic. Work: n loads.
// Includes: grid, loss/params.

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

var<workgroup> cnt: array<u32, 256>;

fn tree_store(v: u32, lid: u32) {
    cnt[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            cnt[lid] += cnt[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        dst[0] = cnt[0];
    }
}

@compute @workgroup_size(256)
fn count_valid(@builtin(local_invocation_index) lid: u32) {
    var v = 0u;
    for (var i = lid; i < p.n; i += 256u) {
        v += select(0u, 1u, src[i] < p.c);
    }
    tree_store(v, lid);
}

@compute @workgroup_size(256)
fn sum(@builtin(local_invocation_index) lid: u32) {
    var v = 0u;
    for (var i = lid; i < p.n; i += 256u) {
        v += src[i];
    }
    tree_store(v, lid);
}
