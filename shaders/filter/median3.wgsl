// Median of 3x3 windows by a 19-exchange selection network (Paeth's, as
// Devillard's opt_med9): exact, branch-free, no sorting loop. One output per
// invocation, 256 per workgroup; borders as filter/params.wgsl says.
// Includes: grid, filter/params, filter/network.

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let o = flat_workgroup(wid, nwg) * 256u + lid;
    if (o >= p.n) {
        return;
    }
    load_window(o, 3);
    sort2(1u, 2u); sort2(4u, 5u); sort2(7u, 8u);
    sort2(0u, 1u); sort2(3u, 4u); sort2(6u, 7u);
    sort2(1u, 2u); sort2(4u, 5u); sort2(7u, 8u);
    sort2(0u, 3u); sort2(5u, 8u); sort2(4u, 7u);
    sort2(3u, 6u); sort2(1u, 4u); sort2(2u, 5u);
    sort2(4u, 7u); sort2(4u, 2u); sort2(6u, 4u);
    sort2(4u, 2u);
    dst[o] = v[4];
}
