//! Fuzzing weft's loaders and parsers: every function that reads bytes a
//! user hands in (checkpoints, IDX files, images, ONNX models, the tuning
//! cache, shape strings) must return a typed error on bad input — never
//! panic, hang or allocate without bound.
//!
//! - [`targets`]: one function per loader, shared by the coverage-guided
//!   libFuzzer targets under `fuzz/` (`cargo +nightly fuzz run <target>`,
//!   for the long recorded runs) and by [`driver`], a seeded mutation loop
//!   on stable Rust that CI runs briefly (`crates/fuzz/tests/fuzz.rs`).
//! - [`seeds`]: valid inputs each target starts from, beside the committed
//!   corpus in `fuzz/corpus/<target>/` (real files, and every input that
//!   once found a bug).

pub mod driver;
pub mod seeds;
pub mod targets;
