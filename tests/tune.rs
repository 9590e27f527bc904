//! The tuner: first-use timing with `WEFT_TUNE=on`, persisted choices that the
//! automatic variant selection follows, `WEFT_TUNE=off`, and corrupt caches.
//! One test function: the tuner is configured through the environment, which
//! this test binary owns.

mod common;

use weft::DType;
use weft::kernels::gemm::{self, GemmDims, GemmSpec, GemmVariant};
use weft::kernels::{Precision, testing, tune};

#[test]
fn tuning_persists_and_guides_the_automatic_choice() {
    let dir = std::env::temp_dir().join(format!("weft-tune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tune.json");
    // SAFETY: this test binary has one test and sets the variables before any
    // other thread reads them.
    unsafe {
        std::env::set_var("WEFT_TUNE_CACHE", &path);
        std::env::set_var("WEFT_TUNE", "on");
    }
    let dev = common::device();
    let mut rng = common::rng(51);
    let (m, n, k) = (64, 64, 64);
    let a = dev
        .tensor(&[m, k], &common::uniform(&mut rng, m * k, -1.0, 1.0))
        .unwrap();
    let b = dev
        .tensor(&[k, n], &common::uniform(&mut rng, k * n, -1.0, 1.0))
        .unwrap();
    let dims = GemmDims::infer(&[m, k], &[k, n], false, false).unwrap();
    let key = tune::op_key("gemm", &dims.shape_class(), Precision::F32);

    // First use times the candidates, keeps the fastest, and still computes the result.
    let out = testing::poisoned(&dev, &[m, n], DType::F32).unwrap();
    gemm::gemm_into(&a, &b, None, &GemmSpec::default(), &out).unwrap();
    let plain = gemm::gemm(
        &a,
        &b,
        None,
        &GemmSpec {
            variant: Some(GemmVariant::Naive),
            ..Default::default()
        },
    )
    .unwrap();
    let (x, y) = (out.to_f32_vec().unwrap(), plain.to_f32_vec().unwrap());
    assert!(
        x.iter()
            .zip(&y)
            .all(|(p, q)| (p - q).abs() <= 1e-4 * q.abs().max(1.0))
    );
    let text = std::fs::read_to_string(&path).expect("the cache was written");
    assert!(text.contains(&key), "{text}");
    let chosen = tune::cached(&dev, "gemm", &dims.shape_class(), Precision::F32).unwrap();
    assert!(GemmVariant::from_name(&chosen).is_some(), "{chosen}");
    assert_eq!(
        GemmVariant::auto(&dev, &dims, Precision::F32).name(),
        chosen
    );

    // A recorded choice guides `auto`; an impossible one falls back to the default.
    tune::record(&dev, "gemm", &dims.shape_class(), Precision::F32, "tiled");
    assert_eq!(
        GemmVariant::auto(&dev, &dims, Precision::F32),
        GemmVariant::Tiled
    );
    tune::record(
        &dev,
        "gemm",
        &dims.shape_class(),
        Precision::F32,
        "no_such_variant",
    );
    let fallback = GemmVariant::auto(&dev, &dims, Precision::F32);
    assert_ne!(fallback.name(), "no_such_variant");

    // WEFT_TUNE=off ignores the cache.
    tune::record(&dev, "gemm", &dims.shape_class(), Precision::F32, "tiled");
    unsafe { std::env::set_var("WEFT_TUNE", "off") };
    assert_ne!(
        GemmVariant::auto(&dev, &dims, Precision::F32),
        GemmVariant::Tiled
    );
    assert!(tune::cached(&dev, "gemm", &dims.shape_class(), Precision::F32).is_none());
    unsafe { std::env::set_var("WEFT_TUNE", "cache") };
    assert_eq!(
        GemmVariant::auto(&dev, &dims, Precision::F32),
        GemmVariant::Tiled
    );

    // A corrupt cache file is ignored with a warning, never fatal (checked in a
    // fresh process, which reads the file anew).
    std::fs::write(&path, "{ this is not json").unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "corrupt_cache_child", "--nocapture"])
        .env("WEFT_TUNE_CACHE", &path)
        .env("WEFT_TUNE_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "{stderr}");
    assert!(stderr.contains("ignoring the tuning cache"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs only as the child of the test above: a corrupt cache must not stop work.
#[test]
fn corrupt_cache_child() {
    if std::env::var_os("WEFT_TUNE_CHILD").is_none() {
        return;
    }
    let dev = common::device();
    let a = dev.tensor(&[4, 4], &[0.5; 16]).unwrap();
    let c = gemm::gemm(&a, &a, None, &GemmSpec::default()).unwrap();
    assert_eq!(c.to_f32_vec().unwrap(), vec![1.0; 16]);
}
