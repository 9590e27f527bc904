//! Every fuzz target on its committed corpus and seeds, then on mutated
//! inputs: no panic, no input slower than 5 s, and no single allocation
//! above 1 GiB (the allocator below refuses it, which aborts the test
//! process). `WEFT_FUZZ_EXECS` sets the mutations per target (default
//! 2,000, a CI-sized run; the recorded long runs use libFuzzer, see
//! docs/RELIABILITY.md), `WEFT_FUZZ_SEED` the mutation seed.
//!
//! A failing input is written to `target/fuzz-failures/<target>/`; once
//! fixed, move it into `fuzz/corpus/<target>/` so it is replayed forever.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::time::Duration;

use weft_fuzz::{driver, seeds, targets};

/// The system allocator, refusing any single request above 1 GiB: a
/// header that claims a huge tensor must be refused before allocating.
struct Bounded;

const MAX_ALLOCATION: usize = 1 << 30;

unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fuzz(target: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut inputs: Vec<Vec<u8>> = seeds::corpus(&root, target)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert!(
        !inputs.is_empty(),
        "no corpus for {target} under {}",
        root.display()
    );
    inputs.extend(seeds::generated(target));
    let execs = env_u64("WEFT_FUZZ_EXECS", 2000);
    let seed = env_u64("WEFT_FUZZ_SEED", 0x5eed);
    let run = targets::by_name(target).expect("a target");
    let report = driver::run(&inputs, execs, seed, Duration::from_secs(5), run);
    eprintln!(
        "{target}: {} inputs ({} seeds), slowest {:.1} ms, {} panics, {} hangs",
        report.execs,
        inputs.len(),
        report.slowest.as_secs_f64() * 1e3,
        report.panics.len(),
        report.hangs.len()
    );
    let failures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/fuzz-failures")
        .join(target);
    let found: Vec<(&Vec<u8>, String)> = report
        .panics
        .iter()
        .map(|(input, why)| (input, format!("panic: {why}")))
        .chain(
            report
                .hangs
                .iter()
                .map(|(input, t)| (input, format!("took {t:?}"))),
        )
        .collect();
    for (i, (input, why)) in found.iter().enumerate() {
        std::fs::create_dir_all(&failures).expect("failure folder");
        let path = failures.join(format!("failure-{i}"));
        std::fs::write(&path, input).expect("writing a failing input");
        eprintln!(
            "{target}: {why} ({} bytes, written to {})",
            input.len(),
            path.display()
        );
    }
    assert!(found.is_empty(), "{target}: {} failing inputs", found.len());
}

#[test]
fn checkpoint_loading_never_panics() {
    fuzz("checkpoint");
}

#[test]
fn idx_parsing_never_panics() {
    fuzz("idx");
}

#[test]
fn image_decoding_never_panics() {
    fuzz("image");
}

#[test]
fn onnx_import_never_panics() {
    fuzz("onnx");
}

#[test]
fn every_target_has_a_test() {
    let names: Vec<&str> = targets::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["checkpoint", "idx", "image", "onnx", "tune_cache"]);
}

/// The driver itself catches what the targets are checked for: a panicking
/// input and a slow one are both reported, with the input.
#[test]
fn the_driver_reports_panics_and_hangs() {
    let target = |data: &[u8]| match data.first() {
        Some(b'P') => panic!("boom"),
        Some(b'S') => std::thread::sleep(Duration::from_millis(20)),
        _ => {}
    };
    let seeds = vec![b"P".to_vec(), b"S".to_vec(), b"ok".to_vec()];
    let report = driver::run(&seeds, 50, 1, Duration::from_millis(10), target);
    assert_eq!(report.execs, 53);
    assert!(
        report
            .panics
            .iter()
            .any(|(input, why)| input == b"P" && why == "boom")
    );
    assert!(report.hangs.iter().any(|(input, _)| input == b"S"));
}

#[test]
fn tune_cache_parsing_never_panics() {
    fuzz("tune_cache");
}
