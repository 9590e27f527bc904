// Precision prelude: tensors stored as native f16 (needs the shader-f16 feature).
// Bodies still accumulate in f32, so long sums neither overflow 65504 nor lose
// the low bits of small terms.
enable f16;
alias T = f16;
alias T4 = vec4<f16>;
