// Parameters of the connected-component kernels (binding 0).
//
// A binary h x w image (nonzero = set) is labelled through a forest of parent
// indices: every union links the larger of two roots to the smaller (an
// atomicMin on the larger root's slot, retried until it sticks, after Playne
// and Hawick), so each component's root is its first pixel in raster order.
// `n` is the number of work items of the launch.
// Includes: grid.

struct Params {
    n: u32,
    h: u32,
    w: u32,
    // 4 or 8.
    connectivity: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
