// Parameters of the padding kernels (binding 0) and the source-index rule.
//
// Planes of h x w are padded to oh x ow: output (oy, ox) reads input
// (oy - top, ox - left), negative top/left cropping. Outside the input, MODE
// 0 (constant) gives `value`, 1 (reflect) mirrors about the edge pixel
// without repeating it (ONNX's and PyTorch's reflect, pads < size), 2 (edge)
// repeats the edge pixel.
// Includes: grid (and a precision prelude for typed bodies).

struct Params {
    n: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    top: i32,
    left: i32,
    value: f32,
}

override MODE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;

// The input index of padded index `s` on an axis of `size`, or -1 outside
// (constant mode).
fn source(s: i32, size: i32) -> i32 {
    if (s >= 0 && s < size) {
        return s;
    }
    switch MODE {
        case 1u: {
            if (s < 0) {
                return -s;
            }
            return 2 * (size - 1) - s;
        }
        case 2u: {
            return clamp(s, 0, size - 1);
        }
        default: {
            return -1;
        }
    }
}
