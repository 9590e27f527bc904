// Grid helpers shared by every weft kernel.
//
// weft folds a launch of W workgroups into (x, y, z) so that no dimension exceeds
// the device's max_compute_workgroups_per_dimension. Kernels recover the flat
// workgroup index here and must ignore indices past their work: the fold can
// overshoot by less than one row of workgroups.

fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}
