// Parameters of the image filters (binding 0) and border handling.
//
// Images are planes of h x w f32 values (one per channel). A window of
// kh x kw is anchored at its centre (kh/2, kw/2). Outside the image, BORDER
// 0 reads zero, 1 repeats the edge pixel (replicate), 2 mirrors about the
// edge pixel without repeating it (OpenCV's BORDER_REFLECT_101).
// Includes: grid.

struct Params {
    n: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    border: u32,
    // Rank filters: which sorted value (0 = minimum).
    rank: u32,
    // Thresholds.
    level: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

// The index an axis of `size` reads for position `i` (may be outside), or
// -1 for a zero read.
fn border_index(i: i32, size: i32) -> i32 {
    if (i >= 0 && i < size) {
        return i;
    }
    switch p.border {
        case 1u: {
            return clamp(i, 0, size - 1);
        }
        case 2u: {
            if (size == 1) {
                return 0;
            }
            let period = 2 * (size - 1);
            var m = i % period;
            if (m < 0) {
                m += period;
            }
            if (m >= size) {
                m = period - m;
            }
            return m;
        }
        default: {
            return -1;
        }
    }
}
