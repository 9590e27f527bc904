// The row hooks (gemm/a_rows.wgsl) with A's rows shared across a subgroup.
// In both vector GEMMs the invocations of a workgroup row (same local y)
// need the same TM rows of A; where those
// invocations form subgroups of 8 (as on CPU rasterisers with 256-bit
// vectors), lane l loads rows l and l + 8 (`a_share_load`) and every lane
// takes row i from lane i mod 8 with subgroupBroadcast (`a_row`): 2 loads
// per invocation and step instead of TM. On a CPU rasteriser a load whose
// address differs per lane is a gather of 8 scalars, while a broadcast from
// a constant lane is a register shuffle.
//
// The launcher only picks this where the adapter's subgroups are 8 lanes
// (workgroup rows a multiple of 8 wide). `a_share` also checks, once per invocation, that
// its subgroup is 8 lanes of one workgroup row; where an adapter forms
// subgroups otherwise the rows read NaN, so the results are loudly wrong
// (every check and test catches NaN) rather than quietly mixed up.

fn a_share(a_base: u32, row0: u32, step: u32, ars4: u32) -> AShare {
    let lane = subgroupExclusiveAdd(1u);
    let ok = subgroupAdd(1u) == 8u && subgroupAll(row0 == subgroupBroadcast(row0, 0u));
    let lo = a_base + min(row0 + lane * step, p.m - 1u) * ars4;
    let hi = a_base + min(row0 + (lane + 8u) * step, p.m - 1u) * ars4;
    return AShare(lo, hi, ok);
}

fn a_share_load(share: AShare, kq: u32) -> APair {
    let nan = vec4<f32>(bitcast<f32>(0x7fc00000u));
    let lo = vec4<f32>(a[share.lo_at + kq]);
    var hi = lo;
    if (TM > 8u) {
        hi = vec4<f32>(a[share.hi_at + kq]);
    }
    return APair(select(nan, lo, share.ok), select(nan, hi, share.ok));
}

// `i` is a constant at every call, so the switch folds away once inlined.
fn a_row(at: u32, pair: APair, i: u32) -> vec4<f32> {
    switch i {
        case 0u: { return subgroupBroadcast(pair.lo, 0u); }
        case 1u: { return subgroupBroadcast(pair.lo, 1u); }
        case 2u: { return subgroupBroadcast(pair.lo, 2u); }
        case 3u: { return subgroupBroadcast(pair.lo, 3u); }
        case 4u: { return subgroupBroadcast(pair.lo, 4u); }
        case 5u: { return subgroupBroadcast(pair.lo, 5u); }
        case 6u: { return subgroupBroadcast(pair.lo, 6u); }
        case 7u: { return subgroupBroadcast(pair.lo, 7u); }
        case 8u: { return subgroupBroadcast(pair.hi, 0u); }
        case 9u: { return subgroupBroadcast(pair.hi, 1u); }
        case 10u: { return subgroupBroadcast(pair.hi, 2u); }
        case 11u: { return subgroupBroadcast(pair.hi, 3u); }
        case 12u: { return subgroupBroadcast(pair.hi, 4u); }
        case 13u: { return subgroupBroadcast(pair.hi, 5u); }
        case 14u: { return subgroupBroadcast(pair.hi, 6u); }
        case 15u: { return subgroupBroadcast(pair.hi, 7u); }
        default: { return vec4<f32>(0.0); }
    }
}
