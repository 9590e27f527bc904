//! The `weft` command line end to end: train on the embedded MNIST subset, then
//! evaluate, classify digits written out as PNG (including inverted ones and a
//! larger dark-on-light scan), report memory, describe the device, and fail
//! with clear messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .expect("weft runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "weft failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{stdout}"))
}

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("weft-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// A LeNet-5 trained for two epochs on the embedded subset (once per test binary).
fn checkpoint() -> &'static (PathBuf, Value) {
    static CKPT: OnceLock<(PathBuf, Value)> = OnceLock::new();
    CKPT.get_or_init(|| {
        let out = dir().join("lenet5.safetensors");
        let o = weft(&[
            "train",
            "--json",
            "--no-download",
            "--epochs",
            "2",
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        let v = json(&o);
        (out, v)
    })
}

#[test]
fn train_reports_and_writes_checkpoint_and_curves() {
    let (path, v) = checkpoint();
    assert!(path.exists());
    assert!(path.with_file_name("lenet5.curves.svg").exists());
    let svg = std::fs::read_to_string(path.with_file_name("lenet5.curves.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("test accuracy"));
    for key in [
        "test_accuracy",
        "final_loss",
        "epochs",
        "train_images_per_s",
        "inference_images_per_s",
        "planned_peak_bytes",
        "measured_peak_bytes",
        "seconds",
    ] {
        assert!(!v[key].is_null(), "missing {key} in {v}");
    }
    assert_eq!(v["epochs"], 2);
    assert!(v["test_accuracy"].as_f64().unwrap() > 0.85, "{v}");
    assert_eq!(v["planned_peak_bytes"], v["measured_peak_bytes"], "{v}");
}

#[test]
fn eval_matches_training_and_prints_a_confusion_matrix() {
    let (path, trained) = checkpoint();
    let v = json(&weft(&[
        "eval",
        "--json",
        "--no-download",
        "--checkpoint",
        path.to_str().unwrap(),
    ]));
    assert_eq!(v["test_accuracy"], trained["test_accuracy"], "{v}");
    let confusion = v["confusion"].as_array().unwrap();
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 1000);
    let text = weft(&[
        "eval",
        "--no-download",
        "--checkpoint",
        path.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("confusion matrix"));
}

#[test]
fn classify_reads_pngs_including_inverted_and_scanned_digits() {
    let (path, _) = checkpoint();
    let mnist = weft::data::Mnist::embedded().unwrap();
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for i in 0..12 {
        let img = mnist.test.image(i);
        let label = mnist.test.labels[i];
        // As MNIST stores it: white ink on black, 28x28.
        let p = dir().join(format!("digit{i}.png"));
        image::GrayImage::from_raw(28, 28, img.to_vec())
            .unwrap()
            .save(&p)
            .unwrap();
        files.push(p);
        labels.push(label);
        // Inverted: dark ink on light paper.
        let p = dir().join(format!("digit{i}-inverted.png"));
        let inv: Vec<u8> = img.iter().map(|&v| 255 - v).collect();
        image::GrayImage::from_raw(28, 28, inv)
            .unwrap()
            .save(&p)
            .unwrap();
        files.push(p);
        labels.push(label);
        // A larger off-centre scan in colour: dark ink on white, 3x size, margins.
        let p = dir().join(format!("digit{i}-scan.png"));
        let mut scan = image::RgbImage::from_pixel(120, 100, image::Rgb([250, 248, 240]));
        for y in 0..84 {
            for x in 0..84 {
                let v = 255 - img[(y / 3) * 28 + x / 3];
                scan.put_pixel(
                    x as u32 + 25,
                    y as u32 + 6,
                    image::Rgb([v, v, v.saturating_add(5)]),
                );
            }
        }
        scan.save(&p).unwrap();
        files.push(p);
        labels.push(label);
    }
    let mut args = vec!["classify", "--json", "--checkpoint", path.to_str().unwrap()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let v = json(&weft(&args));
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), files.len());
    let mut right = [0usize; 3];
    for (k, (r, &label)) in results.iter().zip(&labels).enumerate() {
        let top = r["top3"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        let p: f64 = top.iter().map(|t| t["probability"].as_f64().unwrap()).sum();
        assert!(p > 0.0 && p <= 1.0 + 1e-9);
        right[k % 3] += (top[0]["digit"].as_u64().unwrap() == label as u64) as usize;
    }
    // The model is ~90% accurate: most of each kind must be right, and the
    // inverted copies exactly as often as the originals.
    assert!(right[0] >= 10, "{right:?}");
    assert_eq!(
        right[1], right[0],
        "inverted digits classify like the originals: {right:?}"
    );
    assert!(right[2] >= 9, "{right:?}");
    let text = weft(&[
        "classify",
        "--checkpoint",
        path.to_str().unwrap(),
        files[1].to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&text.stdout).contains('%'));
}

#[test]
fn memory_plans_match_measurements() {
    let v = json(&weft(&[
        "memory", "--json", "--model", "lenet5", "--batch", "32", "--train",
    ]));
    assert_eq!(v["planned_peak_bytes"], v["measured_peak_bytes"], "{v}");
    assert!(v["keep_everything_peak_bytes"].as_u64() > v["planned_peak_bytes"].as_u64());
}

#[test]
fn info_describes_the_device() {
    let v = json(&weft(&["info", "--json", "--no-figures"]));
    for key in [
        "adapter",
        "backend",
        "device_type",
        "driver",
        "features",
        "limits",
        "adapters",
    ] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert!(
        v["limits"]["max_storage_buffer_binding_size"]
            .as_u64()
            .unwrap()
            > 0
    );
    let v = json(&weft(&["info", "--json"]));
    assert!(v["figures"]["fp32_fma_gflop_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn errors_are_clear_and_fail_the_process() {
    let empty = dir().join("empty-data");
    std::fs::create_dir_all(&empty).unwrap();
    let o = weft(&["train", "--data", empty.to_str().unwrap(), "--epochs", "1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("not found"),
        "{err}"
    );
    let o = weft(&[
        "eval",
        "--checkpoint",
        dir().join("nope.safetensors").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.safetensors"));
    let o = weft(&["memory", "--model", "vgg99"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'vgg99'") && err.contains("lenet5, resnet18, unet"),
        "{err}"
    );
    let o = weft(&["info", "--adapter", "no-such-gpu"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no GPU adapter found"));
}

/// `weft bench --list` prints every op table; `--save-tuning` records the
/// winner in the tuning file (`WEFT_TUNE_CACHE`), replacing a corrupt one
/// with a warning, and `WEFT_TUNE=on` times and records at first use.
#[test]
fn bench_lists_the_tables_and_saves_tuning() {
    let v = json(&weft(&["bench", "--list", "--json"]));
    let ops: Vec<&str> = v["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    for op in [
        "gemm",
        "conv2d",
        "conv2d_backward_weight",
        "pool2d",
        "batch_norm",
    ] {
        assert!(ops.contains(&op), "{ops:?}");
    }
    let gemm = &v["ops"][0]["variants"];
    assert!(gemm.as_array().unwrap().len() >= 8);
    assert!(gemm[0]["requires"].as_str().is_some());

    let cache = dir().join("tune.json");
    std::fs::write(&cache, "{ not json").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args([
            "bench",
            "--op",
            "gemm",
            "--shape",
            "32,32,32",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--save-tuning",
            "--json",
        ])
        .env("WEFT_TUNE_CACHE", &cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("ignoring the tuning cache"), "{stderr}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let adapter = saved.as_object().unwrap().values().next().unwrap();
    assert!(
        adapter
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("gemm | ")),
        "{saved}"
    );

    // First-use timing: a memory report of LeNet-5 records its convolutions.
    let fresh = dir().join("tune-first-use.json");
    let o = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["memory", "--batch", "4", "--json"])
        .env("WEFT_TUNE_CACHE", &fresh)
        .env("WEFT_TUNE", "on")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&fresh).unwrap();
    assert!(text.contains("conv2d | "), "{text}");
}

/// A reader that stops early (`weft bench --list | head -1`) ends weft by the
/// pipe's signal, as any command-line tool, not by a panic.
#[cfg(unix)]
#[test]
fn a_closed_pipe_is_no_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["bench", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weft runs");
    // Close the pipe's reading end at once: weft's first line meets a closed
    // pipe (the listing would fit the pipe's buffer, so reading part of it
    // first would let weft finish before the close).
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        status.success() || status.signal() == Some(SIGPIPE),
        "{status:?}: {stderr}"
    );
}

/// The signal number of SIGPIPE on Linux and macOS.
#[cfg(unix)]
const SIGPIPE: i32 = 13;
