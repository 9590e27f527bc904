//! Helpers shared by weft's integration tests.
#![allow(dead_code)]

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use weft::Device;

/// One device per test binary, chosen like every weft program (`WEFT_BACKEND`,
/// `WEFT_ADAPTER`). With no adapter the tests fail loudly: CI always has lavapipe,
/// and a silent skip would hide every kernel bug.
pub fn device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| Device::from_env().expect("weft tests need a GPU adapter (lavapipe in CI)"))
        .clone()
}

/// A seeded RNG. The seed is printed so that a failure can be replayed with
/// `WEFT_TEST_SEED=<seed>`.
pub fn rng(default_seed: u64) -> ChaCha8Rng {
    let seed = std::env::var("WEFT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seed);
    eprintln!("seed = {seed}");
    ChaCha8Rng::seed_from_u64(seed)
}

/// Uniform values in [lo, hi).
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    use rand::Rng;
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}
