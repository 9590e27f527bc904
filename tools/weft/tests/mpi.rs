//! `mpirun -n 2 weft train --distributed mpi`: two processes train
//! data-parallel through MPI to the single-process weights (within the
//! summation-order bound of `tests/graph_data_parallel.rs`), with gradients
//! exchanged in buckets during backward bit-identical to one exchange after
//! it, and a rank
//! killed mid-run stops the job with an error naming it, leaving the last
//! checkpoint loadable. Needs the `mpi` feature and Open MPI's `mpirun`:
//! `cargo test --release -p weft-cli --features mpi --test mpi`.

#![cfg(feature = "mpi")]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::SHORT_TRAIN as TRAIN;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("weft-mpi-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `mpirun -n ranks weft args...` (allowed as root, as CI runs).
fn mpirun(ranks: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["-n", &ranks.to_string(), "--oversubscribe"])
        .arg(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    c
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A checkpoint's f32 tensors by name, and its metadata.
type Weights = (Vec<(String, Vec<f32>)>, HashMap<String, String>);

/// The f32 tensors of a checkpoint by name (weights, buffers, optimizer
/// state; not the i64 counters), and its metadata.
fn weights(path: &Path) -> Weights {
    let (tensors, meta) = common::tensors_of(path);
    let f32s = tensors
        .into_iter()
        .filter(|(n, _)| n != "optimizer.step" && !n.ends_with("num_batches_tracked"))
        .map(|(n, b)| (n, common::f32s(&b)))
        .collect();
    (f32s, meta)
}

#[test]
fn two_processes_reach_the_single_process_weights() {
    let d = dir();
    let (one, two) = (d.join("one.safetensors"), d.join("two.safetensors"));
    let o = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(TRAIN)
        .args(["--out", one.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&o);
    // 1 KiB buckets: LeNet-5's gradients leave in several buckets, each
    // exchanged by the helper thread while backward goes on.
    let after = d.join("after.safetensors");
    for (out, bucket_mib) in [(&two, "0.001"), (&after, "0")] {
        let o = mpirun(2, &TRAIN)
            .args([
                "--distributed",
                "mpi",
                "--bucket-mib",
                bucket_mib,
                "--json",
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        ok(&o);
        let stdout = String::from_utf8_lossy(&o.stdout);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(v["devices"], 2, "{v}");
        // Every bucket but the last (it carries the loss) left during the
        // pass: the library gave the thread support the helper needs.
        let (buckets, during) = (
            v["buckets_per_step"].as_u64(),
            v["buckets_during_backward"].as_u64(),
        );
        match bucket_mib {
            "0" => assert_eq!((buckets, during), (Some(1), Some(0)), "{v}"),
            _ => assert!(
                buckets >= Some(4) && during == buckets.map(|b| b - 1),
                "{v}"
            ),
        }
    }
    let (a, _) = weights(&one);
    let (b, meta) = weights(&two);
    // Two ranks' f64 sum is the same whichever bucket carries an element.
    assert!(
        weights(&after)
            .0
            .iter()
            .zip(&b)
            .all(|((_, x), (_, y))| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())),
        "bucketed and after-the-pass exchanges differ"
    );
    assert_eq!(meta["weft.epochs"], "1");
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f32;
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        for (p, q) in x.iter().zip(y) {
            let err = (p - q).abs() / (1.0 + q.abs());
            worst = worst.max(err);
            assert!(err <= 1e-5, "{name}: {p} vs {q}");
        }
    }
    eprintln!("mpirun -n 2 vs one process: max relative difference {worst:e}");
}

#[test]
fn a_killed_rank_stops_the_job_and_the_checkpoint_stays() {
    let out = dir().join("killed.safetensors");
    let job = mpirun(
        2,
        &[
            "train",
            "--no-download",
            "--epochs",
            "1000",
            "--limit",
            "512",
            "--batch",
            "32",
            "--distributed",
            "mpi",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let t0 = Instant::now();
    while !out.exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The ranks are the two weft processes with this output path (mpirun's
    // own command line holds it too, after its options); kill the later one.
    let found = Command::new("pgrep")
        .args([
            "-f",
            &format!(
                "^{} train .*--out {}",
                env!("CARGO_BIN_EXE_weft"),
                out.display()
            ),
        ])
        .output()
        .unwrap();
    let mut pids: Vec<u32> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    pids.sort();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let killed_at = Instant::now();
    Command::new("kill")
        .args(["-9", &pids[1].to_string()])
        .status()
        .unwrap();
    let o = job.wait_with_output().unwrap();
    let took = killed_at.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        took < Duration::from_secs(60),
        "the job took {took:?} to stop"
    );
    assert!(
        err.contains("rank") && err.contains("exited on signal 9"),
        "{err}"
    );
    let (tensors, meta) = weights(&out);
    assert!(!tensors.is_empty());
    assert!(meta["weft.epochs"].parse::<usize>().unwrap() >= 1);
    eprintln!("the job stopped {took:?} after a rank was killed");
}
