// conv2d epilogue for kernels whose storage type is T: bias of output channel
// `co` (when has_bias != 0, a uniform condition) and the fused activation.
// Expects a `bias: array<T>` binding.
// Includes (before this file): precision prelude, activation, conv/params.

fn conv_epilogue(co: u32, acc: f32) -> f32 {
    var v = acc;
    if (p.has_bias != 0u) {
        v += f32(bias[co]);
    }
    return activate(v);
}
