// Scratch element type S of a kernel whose scratch output is f32 at every
// precision (the weight gradients' GEMM operands).
alias S = f32;
