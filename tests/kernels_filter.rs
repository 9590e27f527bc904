//! Image filters against f64 references on random images (1 to 3 planes,
//! sizes from 1×1, odd kernels up to 7×7 and even ones, every border mode):
//! correlation within c = 2 ε of Σ|terms| (f32 sums of at most 49 terms:
//! `common::sum_bound`), separable passes against the 2-D product kernel
//! (two roundings more), rank filters exact (a selection), the gradient's
//! magnitude and direction, thresholds and Otsu's level on a bimodal image;
//! and OpenCV's outputs on a real photograph (`tests/data/filters`, written
//! by `tools/filter-reference/generate.py`).

mod common;

use rand::Rng;
use weft::kernels::filter::{self, Border, Derivative, Rank};
use weft::kernels::reference::{RefOut, filter as reference};
use weft::kernels::testing;
use weft::{DType, Device};

const BORDERS: [Border; 3] = [Border::Zero, Border::Replicate, Border::Reflect101];

fn image(
    dev: &Device,
    rng: &mut rand_chacha::ChaCha8Rng,
    planes: usize,
    h: usize,
    w: usize,
) -> (Vec<f32>, weft::Tensor) {
    let x = common::uniform(rng, planes * h * w, -1.0, 1.0);
    let shape: Vec<usize> = if planes == 1 {
        vec![h, w]
    } else {
        vec![planes, h, w]
    };
    let t = dev.tensor(&shape, &x).unwrap();
    (x, t)
}

fn compare(
    got: &weft::Tensor,
    (value, scale): (Vec<f64>, Vec<f64>),
    terms: usize,
    extra: f64,
    what: &str,
) {
    let want = RefOut { value, scale };
    testing::compare(
        &got.to_f32_vec().unwrap(),
        &want,
        DType::F32,
        common::sum_bound(DType::F32, terms) + extra,
    )
    .unwrap_or_else(|e| panic!("{what}:\n{e}"));
}

#[test]
fn correlation_and_separable_filters_match_reference() {
    let dev = common::device();
    let mut rng = common::rng(0xf11);
    let t = dev.tensor(&[4, 4], &[0.0; 16]).unwrap();
    let tiled = filter::CorrelateVariant::Tiled;
    let err = filter::correlate_with(&t, &[0.0; 18 * 18], 18, 18, Border::Zero, tiled)
        .unwrap_err()
        .to_string();
    assert!(err.contains("17x17"), "{err}");
    for i in 0..60 {
        let planes = [1, 1, 3][i % 3];
        // Up to three tiles each way, kernels up to the tiled limit.
        let (h, w) = (rng.random_range(1..45), rng.random_range(1..45));
        let (kh, kw) = if i % 10 == 9 {
            (rng.random_range(9..=17), rng.random_range(9..=17))
        } else {
            (rng.random_range(1..8), rng.random_range(1..8))
        };
        let border = BORDERS[i % 3];
        let (x, t) = image(&dev, &mut rng, planes, h, w);
        let k = common::uniform(&mut rng, kh * kw, -1.0, 1.0);
        let y = filter::correlate(&t, &k, kh, kw, border).unwrap();
        assert_eq!(y.shape(), t.shape());
        let what = format!("correlate case {i}: {planes}x{h}x{w} with {kh}x{kw} {border:?}");
        compare(
            &y,
            reference::correlate(&x, planes, [h, w], &k, [kh, kw], border),
            kh * kw,
            0.0,
            &what,
        );
        // The tiled kernel (the default here) and the naive one sum the same
        // terms in the same order: bit-identical.
        let naive = filter::CorrelateVariant::Naive;
        let n = filter::correlate_with(&t, &k, kh, kw, border, naive).unwrap();
        let bits = |t: &weft::Tensor| -> Vec<u32> {
            t.to_f32_vec()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        assert_eq!(bits(&n), bits(&y), "{what}: tiled against naive");

        // Separable: row then column equals the outer-product kernel (each
        // pass rounds; the bound adds the first pass's error carried through).
        let row = common::uniform(&mut rng, kw, -1.0, 1.0);
        let col = common::uniform(&mut rng, kh, -1.0, 1.0);
        let outer: Vec<f32> = (0..kh * kw).map(|j| col[j / kw] * row[j % kw]).collect();
        let y = filter::separable(&t, &row, &col, border).unwrap();
        let (v, s) = reference::correlate(&x, planes, [h, w], &outer, [kh, kw], border);
        compare(
            &y,
            (v, s),
            kh * kw,
            2.0 * (kh + kw) as f64,
            &format!("separable {what}"),
        );
    }
    // A Gaussian is normalised and symmetric; blurring a constant image
    // with replicated borders keeps it.
    let g = filter::gaussian_kernel(1.5).unwrap();
    assert_eq!(g.len(), 11);
    assert!((g.iter().sum::<f32>() - 1.0).abs() < 1e-6 && g[0] == g[10]);
    let flat = dev.tensor(&[9, 13], &[0.75; 117]).unwrap();
    let blurred = filter::gaussian_blur(&flat, 1.5, Border::Replicate).unwrap();
    assert!(
        blurred
            .to_f32_vec()
            .unwrap()
            .iter()
            .all(|&v| (v - 0.75).abs() < 1e-6)
    );
    let boxed = filter::box_blur(&flat, 2, Border::Reflect101).unwrap();
    assert!(
        boxed
            .to_f32_vec()
            .unwrap()
            .iter()
            .all(|&v| (v - 0.75).abs() < 1e-6)
    );
    assert!(filter::correlate(&flat, &[1.0; 5], 2, 2, Border::Zero).is_err());
    assert!(filter::gaussian_kernel(0.0).is_err());
}

#[test]
fn rank_filters_are_exact() {
    let dev = common::device();
    let mut rng = common::rng(0xf12);
    for i in 0..45 {
        let planes = [1, 2, 1][i % 3];
        let (h, w) = (rng.random_range(1..20), rng.random_range(1..20));
        let radius = rng.random_range(0..=filter::MAX_RANK_RADIUS);
        let border = BORDERS[i % 3];
        let which = [Rank::Min, Rank::Median, Rank::Max][(i / 3) % 3];
        let (x, t) = image(&dev, &mut rng, planes, h, w);
        let y = filter::rank(&t, radius, which, border)
            .unwrap()
            .to_f32_vec()
            .unwrap();
        let want = reference::rank(&x, planes, [h, w], radius, which, border);
        assert_eq!(
            y, want,
            "case {i}: {planes}x{h}x{w} radius {radius} {which:?} {border:?}"
        );
    }
    // 3x3 medians: the selection network (the default) against the sort and
    // the reference, with ties and every border.
    for i in 0..30 {
        let (h, w) = (rng.random_range(1..40), rng.random_range(1..40));
        let border = BORDERS[i % 3];
        let x: Vec<f32> = (0..h * w)
            .map(|_| rng.random_range(0..7) as f32 / 6.0)
            .collect();
        let t = dev.tensor(&[h, w], &x).unwrap();
        let net = filter::rank(&t, 1, Rank::Median, border)
            .unwrap()
            .to_f32_vec()
            .unwrap();
        let sorted = filter::rank_with(&t, 1, Rank::Median, border, false)
            .unwrap()
            .to_f32_vec()
            .unwrap();
        let want = reference::rank(&x, 1, [h, w], 1, Rank::Median, border);
        assert_eq!(net, want, "median network {h}x{w} {border:?}");
        assert_eq!(sorted, want, "median sort {h}x{w} {border:?}");
    }
    let t1 = dev.tensor(&[3, 3], &[0.0; 9]).unwrap();
    assert!(filter::rank_with(&t1, 2, Rank::Median, Border::Zero, true).is_err());

    // Opening removes a bright speck, closing fills a dark hole.
    let mut speck = vec![0.0f32; 11 * 11];
    speck[5 * 11 + 5] = 1.0;
    let t = dev.tensor(&[11, 11], &speck).unwrap();
    let opened = filter::opening(&t, 1, Border::Replicate)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    assert!(opened.iter().all(|&v| v == 0.0));
    let hole: Vec<f32> = speck.iter().map(|v| 1.0 - v).collect();
    let t = dev.tensor(&[11, 11], &hole).unwrap();
    let closed = filter::closing(&t, 1, Border::Replicate)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    assert!(closed.iter().all(|&v| v == 1.0));
    let err = filter::rank(&t, 5, Rank::Median, Border::Zero)
        .unwrap_err()
        .to_string();
    assert!(err.contains("radius"), "{err}");
}

#[test]
fn gradients_laplacian_and_thresholds() {
    let dev = common::device();
    let mut rng = common::rng(0xf13);
    let (h, w) = (17, 23);
    let (x, t) = image(&dev, &mut rng, 1, h, w);
    for kind in [Derivative::Sobel, Derivative::Scharr] {
        let (gx, gy) = filter::derivatives(&t, kind, Border::Reflect101).unwrap();
        let (m, d) = filter::gradient(&gx, &gy).unwrap();
        let (a, b) = if kind == Derivative::Sobel {
            (1.0, 2.0)
        } else {
            (3.0, 10.0)
        };
        let kx = [-a, 0.0, a, -b, 0.0, b, -a, 0.0, a];
        let ky = [-a, -b, -a, 0.0, 0.0, 0.0, a, b, a];
        let (rx, sx) = reference::correlate(&x, 1, [h, w], &kx, [3, 3], Border::Reflect101);
        let (ry, sy) = reference::correlate(&x, 1, [h, w], &ky, [3, 3], Border::Reflect101);
        let mag: Vec<f64> = rx
            .iter()
            .zip(&ry)
            .map(|(a, b)| (a * a + b * b).sqrt())
            .collect();
        let mag_scale: Vec<f64> = sx.iter().zip(&sy).map(|(a, b)| a.max(*b) * 2.0).collect();
        compare(&m, (mag, mag_scale), 9, 4.0, &format!("{kind:?} magnitude"));
        let dirs = d.to_f32_vec().unwrap();
        for (k, (&got, (&gxv, &gyv))) in dirs.iter().zip(rx.iter().zip(&ry)).enumerate() {
            // Directions of gradients well above rounding noise.
            if (gxv * gxv + gyv * gyv).sqrt() > 1e-3 * sx[k].max(sy[k]).max(1e-3) * 100.0 {
                let want = gyv.atan2(gxv);
                let diff = (got as f64 - want).abs();
                let diff = diff.min((2.0 * std::f64::consts::PI - diff).abs());
                assert!(diff < 1e-3, "{kind:?} direction at {k}: {got} vs {want}");
            }
        }
    }
    let lap = filter::laplacian(&t, Border::Zero).unwrap();
    let k = [0.0, 1.0, 0.0, 1.0, -4.0, 1.0, 0.0, 1.0, 0.0];
    compare(
        &lap,
        reference::correlate(&x, 1, [h, w], &k, [3, 3], Border::Zero),
        9,
        0.0,
        "laplacian",
    );

    // A bimodal image: dark around 0.2, bright around 0.8.
    let values: Vec<f32> = (0..2000)
        .map(|i| if i % 3 == 0 { 0.8 } else { 0.2 } + rng.random_range(-0.05..0.05))
        .collect();
    // Every split in the gap between the modes is optimal; Otsu's level
    // (the first, as OpenCV's) must separate them.
    let level = filter::otsu_level(&values);
    let dark = values
        .iter()
        .cloned()
        .filter(|&v| v < 0.5)
        .fold(0.0f32, f32::max);
    let bright = values
        .iter()
        .cloned()
        .filter(|&v| v > 0.5)
        .fold(1.0f32, f32::min);
    assert!(
        dark <= level && level < bright,
        "Otsu's level {level} between {dark} and {bright}"
    );
    let t = dev.tensor(&[40, 50], &values).unwrap();
    let b = filter::threshold(&t, level).unwrap().to_f32_vec().unwrap();
    for (v, bit) in values.iter().zip(&b) {
        assert_eq!(*bit, (*v > level) as u8 as f32);
    }
}

/// OpenCV 5.1 on a 96×128 crop of scikit-image's `coins` photograph (values
/// in [0, 1]): Gaussian blur (σ 2, 13 taps), Sobel magnitude and Laplacian
/// with reflect-101 borders within 1e-6 of OpenCV's f32 results (sums in
/// another order); median 5×5, erosion and dilation 3×3 with replicated
/// borders exactly; Otsu's level equal to OpenCV's (114 of 255).
#[test]
fn filters_match_opencv_on_a_photograph() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/filters");
    let photo = image::open(dir.join("coins.png")).unwrap().to_luma8();
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    assert_eq!((h, w), (96, 128));
    let x: Vec<f32> = photo.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
    let dev = common::device();
    let t = dev.tensor(&[h, w], &x).unwrap();
    let opencv = |name: &str| -> Vec<f32> {
        let bytes = std::fs::read(dir.join(format!("{name}.f32"))).unwrap();
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let close = |name: &str, got: weft::Tensor, bound: f32| {
        let got = got.to_f32_vec().unwrap();
        let want = opencv(name);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{name}: worst |weft - OpenCV| {worst:.2e}");
        assert!(worst <= bound, "{name}: {worst} > {bound}");
    };
    let r101 = Border::Reflect101;
    close(
        "gaussian_sigma2",
        filter::gaussian_blur(&t, 2.0, r101).unwrap(),
        2e-6,
    );
    let (gx, gy) = filter::derivatives(&t, Derivative::Sobel, r101).unwrap();
    close(
        "sobel_magnitude",
        filter::gradient(&gx, &gy).unwrap().0,
        2e-6,
    );
    close("laplacian", filter::laplacian(&t, r101).unwrap(), 1e-6);
    let rep = Border::Replicate;
    close(
        "median5",
        filter::rank(&t, 2, Rank::Median, rep).unwrap(),
        0.0,
    );
    close("erode3", filter::rank(&t, 1, Rank::Min, rep).unwrap(), 0.0);
    close("dilate3", filter::rank(&t, 1, Rank::Max, rep).unwrap(), 0.0);
    let level = filter::otsu_level(&x);
    assert_eq!((level * 255.0 - 0.5).round(), 114.0, "Otsu's level {level}");
}
