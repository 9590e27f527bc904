// Connected components, pass 1: for every set pixel, the union of its tree
// with those of its set neighbours before it in raster order (left and up;
// with 8-connectivity also up-left and up-right). One pixel per invocation,
// 256 per workgroup. Roots only ever decrease, so the loops end.
// Includes: grid, label/params.

@group(0) @binding(1) var<storage, read> image: array<u32>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;

fn find(x: u32) -> u32 {
    var r = x;
    loop {
        let up = atomicLoad(&parent[r]);
        if (up == r) {
            break;
        }
        r = up;
    }
    return r;
}

fn unite(a0: u32, b0: u32) {
    var a = a0;
    var b = b0;
    loop {
        a = find(a);
        b = find(b);
        if (a == b) {
            return;
        }
        if (b < a) {
            let old = atomicMin(&parent[a], b);
            if (old == a) {
                return;
            }
            a = old;
        } else {
            let old = atomicMin(&parent[b], a);
            if (old == b) {
                return;
            }
            b = old;
        }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.n || image[i] == 0u) {
        return;
    }
    let x = i % p.w;
    let y = i / p.w;
    if (x > 0u && image[i - 1u] != 0u) {
        unite(i, i - 1u);
    }
    if (y > 0u) {
        let up = i - p.w;
        if (image[up] != 0u) {
            unite(i, up);
        }
        if (p.connectivity == 8u) {
            if (x > 0u && image[up - 1u] != 0u) {
                unite(i, up - 1u);
            }
            if (x + 1u < p.w && image[up + 1u] != 0u) {
                unite(i, up + 1u);
            }
        }
    }
}
