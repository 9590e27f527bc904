// The row hooks (gemm/a_rows.wgsl) with each invocation loading its own rows:
// `a_row` reads row i's vec4 at `at`; the sharing hooks do nothing.

fn a_share(a_base: u32, row0: u32, step: u32, ars4: u32) -> AShare {
    return AShare(0u, 0u, true);
}

fn a_share_load(share: AShare, kq: u32) -> APair {
    return APair(vec4<f32>(0.0), vec4<f32>(0.0));
}

fn a_row(at: u32, pair: APair, i: u32) -> vec4<f32> {
    return vec4<f32>(a[at]);
}
