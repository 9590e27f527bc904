// Scratch element type S of a kernel whose scratch output follows its
// tensors' precision (T: f32 or f16).
alias S = T;
