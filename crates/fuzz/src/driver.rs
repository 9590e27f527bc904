//! A seeded mutation loop for stable Rust: start from the seeds, apply a
//! few random edits (bit flips, boundary integers, insertions, deletions,
//! duplicated and spliced runs) and run the target on each result, catching
//! panics and timing every run. Not coverage-guided (libFuzzer is, under
//! `fuzz/`), but it runs anywhere `cargo test` does, so CI replays the
//! corpus and tries some thousands of mutations per target on every change.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub execs: u64,
    /// The slowest single input's time.
    pub slowest: Duration,
    /// Inputs that panicked, with the panic's message.
    pub panics: Vec<(Vec<u8>, String)>,
    /// Inputs slower than the run's limit.
    pub hangs: Vec<(Vec<u8>, Duration)>,
}

/// Integers at the edges of the ranges parsers compute with.
const BOUNDARIES: [u64; 10] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// One random edit of `data`, using `other` (another seed) for splices.
fn mutate_once(rng: &mut ChaCha8Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    match rng.random_range(0..8) {
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] = [0u8, 0xff, 0x7f, 0x80, b'0', b'9', b'"', b'{'][rng.random_range(0..8)];
        }
        2 if len >= 8 => {
            // A boundary integer over 1, 2, 4 or 8 bytes, either endianness.
            let width = [1usize, 2, 4, 8][rng.random_range(0..4)];
            let i = rng.random_range(0..=len - width);
            let v = BOUNDARIES[rng.random_range(0..BOUNDARIES.len())];
            let bytes = if rng.random() {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            data[i..i + width].copy_from_slice(&bytes[..width]);
        }
        3 => {
            let i = rng.random_range(0..=len);
            let n = rng.random_range(1..=16);
            let fill: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            data.splice(i..i, fill);
        }
        4 if len > 0 => {
            let i = rng.random_range(0..len);
            let n = rng.random_range(1..=(len - i).min(64));
            data.drain(i..i + n);
        }
        5 if len > 0 => {
            // Duplicate a run (repeated chunks, longer lists).
            let i = rng.random_range(0..len);
            let n = rng.random_range(1..=(len - i).min(64));
            let run = data[i..i + n].to_vec();
            let at = rng.random_range(0..=len);
            data.splice(at..at, run);
        }
        6 if !other.is_empty() => {
            // Splice: this input's head, another seed's tail.
            let cut = rng.random_range(0..=len);
            let from = rng.random_range(0..other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        7 if len > 0 => data.truncate(rng.random_range(0..len)),
        _ => data.push(rng.random()),
    }
}

/// Runs `target` on every seed as it is, then on `execs` mutated inputs
/// (1 to 4 edits of a random seed), from `seed`. An input slower than
/// `limit` counts as a hang.
pub fn run(
    seeds: &[Vec<u8>],
    execs: u64,
    seed: u64,
    limit: Duration,
    target: impl Fn(&[u8]),
) -> Report {
    let mut report = Report::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let once = |input: Vec<u8>, report: &mut Report| {
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        let took = start.elapsed();
        report.execs += 1;
        report.slowest = report.slowest.max(took);
        if let Err(payload) = outcome {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            report.panics.push((input, message));
        } else if took > limit {
            report.hangs.push((input, took));
        }
    };
    for s in seeds {
        once(s.clone(), &mut report);
    }
    if seeds.is_empty() {
        return report;
    }
    for _ in 0..execs {
        let mut input = seeds[rng.random_range(0..seeds.len())].clone();
        let other = &seeds[rng.random_range(0..seeds.len())];
        for _ in 0..rng.random_range(1..=4) {
            mutate_once(&mut rng, &mut input, other);
        }
        once(input, &mut report);
    }
    report
}
