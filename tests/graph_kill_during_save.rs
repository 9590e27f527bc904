//! Kill during save: a process that writes checkpoints in a loop is killed
//! with SIGKILL at random instants, many times; after each kill the
//! checkpoint is either the previous or the next version, loadable and
//! bit-exact, never a torn file, and the killed writes' temporary files are
//! cleared by the next save.
//!
//! The writer is this test binary itself, started again with
//! `WEFT_SAVE_LOOP` set and filtered to [`save_loop`], which does nothing in
//! a normal run.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;
use weft::Device;
use weft::graph::{Model, Optimizer, checkpoint};

const VERSION: &str = "test.version";

/// Version `k` of the model: LeNet-5 initialised from seed `k`, with Adam's
/// state tensors (about 0.7 MB in all).
fn version(dev: &Device, k: u64) -> (Model, Optimizer) {
    common::lenet5_adam(dev, k)
}

fn save_version(dev: &Device, path: &Path, k: u64) {
    let (model, opt) = version(dev, k);
    checkpoint::save(path, &model, Some(&opt), &[(VERSION, k.to_string())]).unwrap();
}

/// The writer (runs only when started by [`killed_saves_leave_the_old_or_the_new_checkpoint`]):
/// saves versions first, first + 1, ... over the same path forever, saying
/// after each which version the file holds.
#[test]
fn save_loop() {
    let Some(path) = std::env::var_os("WEFT_SAVE_LOOP") else {
        return;
    };
    let first: u64 = std::env::var("WEFT_SAVE_FIRST").unwrap().parse().unwrap();
    let dev = common::device();
    for k in first.. {
        save_version(&dev, Path::new(&path), k);
        println!("saved {k}");
    }
}

/// The number of checkpoint's version, after checking that it loads and
/// holds exactly that version's weights and optimizer state.
fn check(dev: &Device, path: &Path) -> u64 {
    let (mut model, mut opt) = version(dev, 0);
    let loaded = checkpoint::load(path, &mut model, Some(&mut opt))
        .unwrap_or_else(|e| panic!("torn or unreadable checkpoint: {e}"));
    let k: u64 = loaded.metadata[VERSION].parse().unwrap();
    let (want, _) = version(dev, k);
    for (got, want) in model.params().iter().zip(want.params()) {
        let (g, w) = (got.to_f32_vec().unwrap(), want.to_f32_vec().unwrap());
        assert!(
            g.iter().zip(&w).all(|(a, b)| a.to_bits() == b.to_bits()),
            "version {k} does not hold its weights"
        );
    }
    k
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp-"))
        .collect()
}

#[test]
fn killed_saves_leave_the_old_or_the_new_checkpoint() {
    let kills: usize = std::env::var("WEFT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dev = common::device();
    let dir = std::env::temp_dir().join(format!("weft-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    save_version(&dev, &path, 1);
    let mut rng = common::rng(41);
    let (mut latest, mut torn_writes) = (1u64, 0usize);
    for trial in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "save_loop", "--nocapture", "--test-threads=1"])
            .env("WEFT_SAVE_LOOP", &path)
            .env("WEFT_SAVE_FIRST", (latest + 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill once it has saved at least once, at a random instant after.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut saved = latest;
        for line in lines.by_ref() {
            if let Some(k) = line.unwrap().strip_prefix("saved ") {
                saved = k.parse().unwrap();
                break;
            }
        }
        assert!(saved > latest, "trial {trial}: the writer never saved");
        std::thread::sleep(Duration::from_micros(rng.random_range(0..60_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        for line in lines.map_while(Result::ok) {
            if let Some(k) = line.strip_prefix("saved ") {
                saved = k.parse().unwrap();
            }
        }
        let k = check(&dev, &path);
        // The file holds the last version reported saved, or the one whose
        // rename had happened when the kill came before the report.
        assert!(
            k == saved || k == saved + 1,
            "trial {trial}: file holds version {k}, last reported save {saved}"
        );
        torn_writes += temporaries(&dir).len();
        latest = k;
    }
    // The next save clears the killed writes' temporary files.
    save_version(&dev, &path, latest + 1);
    assert_eq!(temporaries(&dir), Vec::<PathBuf>::new());
    eprintln!(
        "{kills} kills: every checkpoint whole; {torn_writes} kills landed in a write (temporary file left), versions up to {latest}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
