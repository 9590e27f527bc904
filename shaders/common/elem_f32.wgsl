// Precision prelude: tensors stored as f32. Kernel bodies are written against
// T / T4 and convert to f32 for arithmetic, so one body serves f32 and native f16.
alias T = f32;
alias T4 = vec4<f32>;
