// GEMM epilogue: bias (per row or per column, see BIAS) and fused activation,
// for variants whose storage type is T. Expects a `bias: array<T>` binding.
// Includes (before this file): precision prelude, activation, gemm/params.

fn bias_at(b: u32, row: u32, col: u32) -> f32 {
    switch BIAS {
        case 1u: { return f32(bias[b * p.bias_bs + row]); }
        case 2u: { return f32(bias[b * p.bias_bs + col]); }
        default: { return 0.0; }
    }
}

fn epilogue(b: u32, row: u32, col: u32, acc: f32) -> f32 {
    return activate(acc + bias_at(b, row, col));
}
