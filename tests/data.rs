//! MNIST loading (embedded subset, directories, the full set when present),
//! errors that name the bad file, and batches built on the GPU.

mod common;

use std::path::PathBuf;

use rand::Rng;
use weft::DType;
use weft::data::{Augment, Loader, MNIST_MEAN, MNIST_STD, Mnist, Source};
use weft::kernels::augment::{self, Affine, ImageSet, SampleSpec};
use weft::kernels::reference::RefOut;
use weft::kernels::testing;

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weft-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(data);
    v
}

/// Writes a tiny MNIST-shaped data set (raw or gzipped files) into `dir`.
fn write_set(dir: &std::path::Path, n_train: u32, n_test: u32, gzipped: bool) {
    let files = [
        (
            "train-images-idx3-ubyte",
            idx(0x803, &[n_train, 4, 4], &vec![7; 16 * n_train as usize]),
        ),
        (
            "train-labels-idx1-ubyte",
            idx(0x801, &[n_train], &vec![3; n_train as usize]),
        ),
        (
            "t10k-images-idx3-ubyte",
            idx(0x803, &[n_test, 4, 4], &vec![9; 16 * n_test as usize]),
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx(0x801, &[n_test], &vec![1; n_test as usize]),
        ),
    ];
    for (name, bytes) in files {
        if gzipped {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn embedded_subset_is_real_mnist() {
    let m = Mnist::embedded().unwrap();
    assert_eq!(m.source, Source::Embedded);
    assert_eq!((m.train.count, m.test.count), (6000, 1000));
    assert_eq!((m.train.rows, m.train.cols), (28, 28));
    // The first training digit of MNIST is a 5, the first test digit a 7.
    assert_eq!((m.train.labels[0], m.test.labels[0]), (5, 7));
    let mean =
        m.train.images.iter().map(|&p| p as f64).sum::<f64>() / m.train.images.len() as f64 / 255.0;
    assert!((mean - MNIST_MEAN as f64).abs() < 0.01, "mean {mean}");
}

#[test]
fn full_mnist_loads_when_available() {
    let Some(dir) = std::env::var_os("WEFT_MNIST_FULL") else {
        eprintln!("WEFT_MNIST_FULL not set; the full-set check runs in CI");
        return;
    };
    let m = Mnist::load_dir(std::path::Path::new(&dir)).unwrap();
    assert_eq!((m.train.count, m.test.count), (60000, 10000));
    let sub = Mnist::embedded().unwrap();
    assert_eq!(&m.train.images[..6000 * 784], &sub.train.images[..]);
    assert_eq!(&m.test.labels[..1000], &sub.test.labels[..]);
}

#[test]
fn raw_and_gzipped_directories_load() {
    for gzipped in [false, true] {
        let d = scratch_dir(if gzipped { "gz" } else { "raw" });
        write_set(&d, 5, 3, gzipped);
        let m = Mnist::load_dir(&d).unwrap();
        assert_eq!((m.train.count, m.test.count, m.train.rows), (5, 3, 4));
        assert_eq!(m.test.labels, [1, 1, 1]);
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn bad_files_are_named() {
    // Missing file.
    let d = scratch_dir("missing");
    let e = Mnist::load_dir(&d).unwrap_err().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("not found"),
        "{e}"
    );
    // Wrong magic.
    write_set(&d, 5, 3, false);
    std::fs::write(
        d.join("t10k-labels-idx1-ubyte"),
        idx(0x803, &[3], &[1, 1, 1]),
    )
    .unwrap();
    let e = Mnist::load_dir(&d).unwrap_err().to_string();
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("magic"),
        "{e}"
    );
    // Count mismatch between images and labels.
    write_set(&d, 5, 3, false);
    std::fs::write(d.join("train-labels-idx1-ubyte"), idx(0x801, &[4], &[1; 4])).unwrap();
    let e = Mnist::load_dir(&d).unwrap_err().to_string();
    assert!(
        e.contains("train-labels-idx1-ubyte") && e.contains("4 labels for 5 images"),
        "{e}"
    );
    // Truncated image data.
    write_set(&d, 5, 3, false);
    let mut bytes = std::fs::read(d.join("train-images-idx3-ubyte")).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(d.join("train-images-idx3-ubyte"), bytes).unwrap();
    let e = Mnist::load_dir(&d).unwrap_err().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );
    // Corrupt gzip.
    write_set(&d, 5, 3, false);
    std::fs::remove_file(d.join("t10k-images-idx3-ubyte")).unwrap();
    std::fs::write(
        d.join("t10k-images-idx3-ubyte.gz"),
        [0x1f, 0x8b, 8, 0, 1, 2, 3],
    )
    .unwrap();
    let e = Mnist::load_dir(&d).unwrap_err().to_string();
    assert!(
        e.contains("t10k-images-idx3-ubyte.gz") && e.contains("gzip"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn gpu_batches_match_the_reference() {
    let dev = common::device();
    let mut rng = common::rng(31);
    let m = Mnist::embedded().unwrap();
    let set = ImageSet::upload(&dev, &m.train.images[..200 * 784], 200, 28, 28).unwrap();
    for case in 0..100 {
        let n = rng.random_range(1..9);
        let specs: Vec<SampleSpec> = (0..n)
            .map(|_| SampleSpec {
                index: rng.random_range(0..200),
                mix_with: rng.random_range(0..200),
                lambda: if case % 3 == 0 {
                    rng.random_range(0.0..1.0)
                } else {
                    1.0
                },
                transform: if case < 10 {
                    Affine::IDENTITY
                } else {
                    Affine::augmentation(
                        rng.random_range(-0.3..0.3),
                        rng.random_range(0.8..1.2),
                        rng.random_range(-0.2..0.2),
                        rng.random_bool(0.5),
                        rng.random_range(-3.0..3.0),
                        rng.random_range(-3.0..3.0),
                    )
                },
            })
            .collect();
        let out = augment::gather(&set, &specs, &[MNIST_MEAN], &[MNIST_STD], DType::F32).unwrap();
        assert_eq!(out.shape(), [n, 1, 28, 28]);
        let got = out.to_f32_vec().unwrap();
        let mut want = RefOut::default();
        for s in &specs {
            for v in augment::reference(
                &m.train.images,
                1,
                28,
                28,
                s,
                &[MNIST_MEAN as f64],
                &[MNIST_STD as f64],
            ) {
                // Bilinear blends of bytes: a few f32 roundings of values up to 255/std.
                want.push(v, 4.0 * (255.0 / MNIST_STD as f64) / 255.0 + v.abs());
            }
        }
        testing::compare(&got, &want, DType::F32, 16.0)
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        if case < 10 {
            // The identity is an exact gather: pixel/255 normalised.
            for (k, s) in specs.iter().enumerate() {
                let img = m.train.image(s.index as usize);
                let lambda_one = s.lambda == 1.0;
                for (j, &p) in img.iter().enumerate().filter(|_| lambda_one) {
                    let want = (p as f32 / 255.0 - MNIST_MEAN) * (1.0 / MNIST_STD);
                    assert_eq!(got[k * 784 + j], want, "case {case} pixel {j}");
                }
            }
        }
    }
}

/// Colour batches: random 3-channel images of odd sizes, per-channel
/// normalisation, every transform and mixup, against the f64 reference
/// (same bound as the greyscale case); wrong channel counts are typed errors.
#[test]
fn colour_batches_match_the_reference() {
    let dev = common::device();
    let mut rng = common::rng(32);
    let (count, c, rows, cols) = (12, 3, 9, 13);
    let bytes: Vec<u8> = (0..count * c * rows * cols).map(|_| rng.random()).collect();
    let set = ImageSet::upload_planar(&dev, &bytes, count, c, rows, cols).unwrap();
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    for case in 0..30 {
        let n = rng.random_range(1..5);
        let specs: Vec<SampleSpec> = (0..n)
            .map(|_| SampleSpec {
                index: rng.random_range(0..count as u32),
                mix_with: rng.random_range(0..count as u32),
                lambda: if case % 2 == 0 {
                    rng.random_range(0.0..1.0)
                } else {
                    1.0
                },
                transform: Affine::augmentation(
                    rng.random_range(-0.3..0.3),
                    rng.random_range(0.8..1.2),
                    rng.random_range(-0.2..0.2),
                    rng.random_bool(0.5),
                    rng.random_range(-2.0..2.0),
                    rng.random_range(-2.0..2.0),
                ),
            })
            .collect();
        let out = augment::gather(&set, &specs, &mean, &std, DType::F32).unwrap();
        assert_eq!(out.shape(), [n, c, rows, cols]);
        let got = out.to_f32_vec().unwrap();
        let mut want = RefOut::default();
        let m64 = mean.map(f64::from);
        let s64 = std.map(f64::from);
        for s in &specs {
            for (k, v) in augment::reference(&bytes, c, rows, cols, s, &m64, &s64)
                .into_iter()
                .enumerate()
            {
                let ch = k / (rows * cols);
                want.push(v, 4.0 * (255.0 / s64[ch]) / 255.0 + v.abs());
            }
        }
        testing::compare(&got, &want, DType::F32, 16.0)
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
    }
    let spec = SampleSpec {
        index: 0,
        mix_with: 0,
        lambda: 1.0,
        transform: Affine::IDENTITY,
    };
    let err = augment::gather(&set, &[spec], &[0.5, 0.5], &[1.0], DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one per channel (3), got 2"), "{err}");
    assert!(augment::gather(&set, &[spec], &[0.5], &[0.0], DType::F32).is_err());
    let err = ImageSet::upload_planar(&dev, &[0; 5 * 4], 1, 5, 2, 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("channels"), "{err}");
}

#[test]
fn loader_shuffles_reproducibly_and_covers_the_split() {
    let dev = common::device();
    let m = Mnist::embedded().unwrap();
    let mut a = Loader::new(&dev, &m.test, 64, true, 5, DType::F32).unwrap();
    let mut b = Loader::new(&dev, &m.test, 64, true, 5, DType::F32).unwrap();
    let oa = a.epoch_order();
    assert_eq!(oa, b.epoch_order());
    assert_ne!(oa, a.epoch_order(), "each epoch reshuffles");
    let mut sorted = oa.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
    assert_eq!(a.batches(), 15);
    let chunk = &a.chunks(&oa)[0];
    let batch = a.batch(chunk).unwrap();
    assert_eq!(batch.images.shape(), [64, 1, 28, 28]);
    let t = batch.targets.to_i32_vec().unwrap();
    assert_eq!(
        t,
        chunk
            .iter()
            .map(|&i| m.test.labels[i as usize] as i32)
            .collect::<Vec<_>>()
    );
    // Augmented batches stay finite and keep their labels.
    a.augment = Augment {
        shift: 2.0,
        rotate: 10.0,
        zoom: 0.1,
        shear: 5.0,
        hflip: false,
        mixup: 0.0,
    };
    let batch = a.batch(chunk).unwrap();
    assert!(
        batch
            .images
            .to_f32_vec()
            .unwrap()
            .iter()
            .all(|v| v.is_finite())
    );
    let e = Loader::new(&dev, &m.test, 0, true, 5, DType::F32)
        .err()
        .unwrap();
    assert!(e.to_string().contains("batch"), "{e}");
}
