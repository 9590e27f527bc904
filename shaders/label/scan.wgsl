// Exclusive prefix sums of u32 values in three entry points:
//   block_scan: each workgroup scans its 256 values in shared memory
//     (Hillis-Steele), writing exclusive sums and its block total;
//   totals_scan: one workgroup scans the block totals in chunks of 256,
//     carrying the running sum (p.n = number of blocks), and writes the grand
//     total after them;
//   add_offsets: adds each block's offset to its exclusive sums.
// Includes: grid, label/params.

@group(0) @binding(1) var<storage, read_write> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> blocks: array<u32>;

var<workgroup> shared_sums: array<u32, 256>;

// Inclusive scan of shared_sums across the workgroup.
fn scan_shared(lid: u32) {
    for (var d = 1u; d < 256u; d = d * 2u) {
        workgroupBarrier();
        var add = 0u;
        if (lid >= d) {
            add = shared_sums[lid - d];
        }
        workgroupBarrier();
        shared_sums[lid] += add;
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn block_scan(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let block = flat_workgroup(wid, nwg);
    // Workgroups past the data (a folded grid) have nothing to do.
    if (block * 256u >= p.n) {
        return;
    }
    let i = block * 256u + lid;
    var v = 0u;
    if (i < p.n) {
        v = values[i];
    }
    shared_sums[lid] = v;
    scan_shared(lid);
    if (i < p.n) {
        values[i] = shared_sums[lid] - v;
    }
    if (lid == 255u) {
        blocks[block] = shared_sums[255];
    }
}

@compute @workgroup_size(256)
fn totals_scan(@builtin(local_invocation_index) lid: u32) {
    var carry = 0u;
    for (var base = 0u; base < p.n; base += 256u) {
        let i = base + lid;
        var v = 0u;
        if (i < p.n) {
            v = blocks[i];
        }
        shared_sums[lid] = v;
        scan_shared(lid);
        if (i < p.n) {
            blocks[i] = carry + shared_sums[lid] - v;
        }
        carry += shared_sums[255];
        workgroupBarrier();
    }
    if (lid == 0u) {
        blocks[p.n] = carry;
    }
}

@compute @workgroup_size(256)
fn add_offsets(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let block = flat_workgroup(wid, nwg);
    let i = block * 256u + lid;
    if (i < p.n) {
        values[i] += blocks[block];
    }
}
