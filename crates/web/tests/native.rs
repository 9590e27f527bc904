//! The browser crate's code run natively (the page runs the same functions
//! on WebGPU): the kernel self-test passes, the shipped checkpoint
//! classifies the embedded test images, training lowers the loss, and a
//! drawing becomes an MNIST-style digit.

use weft::data::Mnist;
use weft::{Device, DeviceOptions};
use weft_web::classifier::digit_from_rgba;
use weft_web::training::normalised;
use weft_web::{Classifier, Training};

fn device() -> Device {
    pollster::block_on(Device::new_async(DeviceOptions::from_env().unwrap())).unwrap()
}

fn checkpoint() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/lenet5.safetensors"
    ))
    .unwrap()
}

#[test]
fn selftest_passes_on_fresh_inputs() {
    let dev = device();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let checks = pollster::block_on(weft_web::selftest::run(&dev, seed, 3)).unwrap();
    assert_eq!(checks.len(), 12);
    for c in &checks {
        assert!(
            c.passed(),
            "seed {seed}: {} {}: {:?}",
            c.op,
            c.case,
            c.failure
        );
        assert!(c.elements > 0);
    }
}

#[test]
fn shipped_checkpoint_classifies_the_test_images() {
    let dev = device();
    let mut c = Classifier::from_bytes(&dev, &checkpoint()).unwrap();
    assert_eq!(c.name, "lenet5");
    assert_eq!(c.sample_shape, [1, 28, 28]);
    let mnist = Mnist::embedded().unwrap();
    let n = 300.min(mnist.test.count);
    let logits = pollster::block_on(c.logits(&normalised(&mnist.test, 0..n))).unwrap();
    let right = logits
        .chunks(10)
        .zip(&mnist.test.labels)
        .filter(|(row, l)| weft::graph::trainer::argmax(row) == **l as usize)
        .count();
    // The checkpoint reached 98.7% on the full test set.
    assert!(right * 100 >= n * 95, "{right} of {n} right");
    let p = pollster::block_on(c.probabilities(&normalised(&mnist.test, 0..1))).unwrap();
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    // Not whole samples: a typed error.
    assert!(pollster::block_on(c.logits(&[0.0; 100])).is_err());
}

#[test]
fn garbage_is_refused_with_a_typed_error() {
    let dev = device();
    for bytes in [&b"not a model"[..], &[], &checkpoint()[..100]] {
        assert!(Classifier::from_bytes(&dev, bytes).is_err());
    }
}

#[test]
fn training_steps_lower_the_loss() {
    let dev = device();
    let mut t = Training::lenet5(&dev, 64, 1e-3, 7).unwrap();
    let losses: Vec<f64> = (0..30)
        .map(|_| pollster::block_on(t.step()).unwrap().loss)
        .collect();
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..5]), mean(&losses[25..]));
    assert!(last < 0.7 * first, "loss {first} -> {last}");
}

#[test]
fn a_drawing_becomes_a_centred_digit() {
    // A vertical white bar on black, off to the left of a 100×80 canvas.
    let (w, h) = (100usize, 80usize);
    let mut rgba = vec![0u8; w * h * 4];
    for y in 10..70 {
        for x in 15..25 {
            let i = (y * w + x) * 4;
            rgba[i..i + 4].copy_from_slice(&[255, 255, 255, 255]);
        }
    }
    let digit = digit_from_rgba(&rgba, w, h);
    assert_eq!(digit.len(), 784);
    let mass: f32 = digit.iter().sum();
    let cx = digit
        .iter()
        .enumerate()
        .map(|(i, v)| (i % 28) as f32 * v)
        .sum::<f32>()
        / mass;
    let cy = digit
        .iter()
        .enumerate()
        .map(|(i, v)| (i / 28) as f32 * v)
        .sum::<f32>()
        / mass;
    assert!(
        (cx - 13.5).abs() < 1.0 && (cy - 13.5).abs() < 1.0,
        "{cx} {cy}"
    );
    // Scaled to 20 rows tall.
    let rows = (0..28)
        .filter(|r| digit[r * 28..(r + 1) * 28].iter().any(|&v| v > 0.5))
        .count();
    assert!((19..=21).contains(&rows), "{rows}");
    // The same bar drawn dark on white gives the same digit.
    let inverted: Vec<u8> = rgba
        .chunks(4)
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 255])
        .collect();
    assert_eq!(digit_from_rgba(&inverted, w, h), digit);
}

#[test]
fn encoded_images_are_classified() {
    let dev = device();
    let mut c = Classifier::from_bytes(&dev, &checkpoint()).unwrap();
    let mnist = Mnist::embedded().unwrap();
    let n = 40;
    let mut right = 0;
    for i in 0..n {
        let img = image::GrayImage::from_raw(28, 28, mnist.test.image(i).to_vec()).unwrap();
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let p = pollster::block_on(c.classify_image(&png, false)).unwrap();
        assert_eq!(p.len(), 10);
        if weft::graph::trainer::argmax(&p) == mnist.test.labels[i] as usize {
            right += 1;
        }
    }
    // Refitting the digit to a 20×20 box moves a few pixels; the network
    // still reads nearly all of them.
    assert!(right * 10 >= n * 9, "{right} of {n}");
    let err = pollster::block_on(c.classify_image(b"not an image", false)).unwrap_err();
    assert!(err.to_string().contains("image"), "{err}");
}

#[test]
fn trained_weights_round_trip_as_a_checkpoint() {
    let dev = device();
    let mut t = Training::lenet5(&dev, 32, 1e-3, 3).unwrap();
    for _ in 0..5 {
        pollster::block_on(t.step()).unwrap();
    }
    let bytes = pollster::block_on(t.checkpoint()).unwrap();
    let mnist = Mnist::embedded().unwrap();
    let x = normalised(&mnist.test, 0..16);
    let mut c = Classifier::from_bytes(&dev, &bytes).unwrap();
    let reloaded = pollster::block_on(c.logits(&x)).unwrap();
    let mut trained = t.into_classifier();
    let want = pollster::block_on(trained.logits(&x)).unwrap();
    assert_eq!(reloaded, want);
}
