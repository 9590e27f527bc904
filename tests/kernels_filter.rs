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
    let tiled = Some(filter::TILED);
    let err = filter::correlate_by(&t, &[0.0; 18 * 18], 18, 18, Border::Zero, tiled)
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
        let naive = Some(filter::NAIVE);
        let n = filter::correlate_by(&t, &k, kh, kw, border, naive).unwrap();
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
        let radius = rng.random_range(0..=filter::MAX_SORT_RADIUS + 3);
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
    // 3x3 and 5x5 medians: the selection networks (the defaults) against
    // the sort and the reference, with ties and every border.
    for i in 0..60 {
        let radius = 1 + i % 2;
        let (h, w) = (rng.random_range(1..40), rng.random_range(1..40));
        let border = BORDERS[i % 3];
        let x: Vec<f32> = (0..h * w)
            .map(|_| rng.random_range(0..7) as f32 / 6.0)
            .collect();
        let t = dev.tensor(&[h, w], &x).unwrap();
        let network = [filter::MEDIAN3_NETWORK, filter::MEDIAN5_NETWORK][radius - 1];
        let run = |v| {
            filter::rank_by(&t, radius, Rank::Median, border, v)
                .unwrap()
                .to_f32_vec()
                .unwrap()
        };
        let want = reference::rank(&x, 1, [h, w], radius, Rank::Median, border);
        let what = format!("{h}x{w} radius {radius} {border:?}");
        assert_eq!(run(None), want, "median default {what}");
        assert_eq!(run(Some(network)), want, "median network {what}");
        assert_eq!(run(Some(filter::SORT)), want, "median sort {what}");
    }
    // The search row at every rank kind and radius up to 12 against the
    // reference, with ties, both zeros, negative values and a constant
    // window; equal to the sort where both run.
    for i in 0..48 {
        let radius = i % 13;
        let (h, w) = (rng.random_range(1..24), rng.random_range(1..24));
        let border = BORDERS[i % 3];
        let which = [Rank::Min, Rank::Median, Rank::Max][(i / 3) % 3];
        let x: Vec<f32> = (0..h * w)
            .map(|_| match rng.random_range(0..6) {
                0 => -0.0,
                1 => 0.0,
                2 => rng.random_range(-3..4) as f32 / 3.0,
                _ => rng.random_range(-1e3f32..1e3),
            })
            .collect();
        let t = dev.tensor(&[h, w], &x).unwrap();
        let run = |v| {
            filter::rank_by(&t, radius, which, border, v)
                .unwrap()
                .to_f32_vec()
                .unwrap()
        };
        let got = run(Some(filter::SELECT));
        let want = reference::rank(&x, 1, [h, w], radius, which, border);
        let what = format!("{h}x{w} radius {radius} {which:?} {border:?}");
        // Bit patterns: −0 and +0 are told apart, as total_cmp orders them.
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "select {what}");
        assert_eq!(run(None), want, "default {what}");
        if radius <= filter::MAX_SORT_RADIUS {
            assert_eq!(run(Some(filter::SORT)), got, "sort {what}");
        }
    }
    // The largest radius on an image smaller than its window.
    let x = common::uniform(&mut rng, 2 * 9 * 7, -1.0, 1.0);
    let t = dev.tensor(&[2, 9, 7], &x).unwrap();
    let r = filter::MAX_RANK_RADIUS;
    for border in BORDERS {
        let got = filter::rank(&t, r, Rank::Median, border).unwrap();
        let want = reference::rank(&x, 2, [9, 7], r, Rank::Median, border);
        assert_eq!(got.to_f32_vec().unwrap(), want, "radius {r} {border:?}");
    }
    let err = filter::rank_by(&t, 5, Rank::Median, Border::Zero, Some(filter::SORT))
        .unwrap_err()
        .to_string();
    assert!(err.contains("registers"), "{err}");

    let t1 = dev.tensor(&[3, 3], &[0.0; 9]).unwrap();
    let err = filter::rank_by(
        &t1,
        2,
        Rank::Min,
        Border::Zero,
        Some(filter::MEDIAN5_NETWORK),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("5x5 medians only"), "{err}");

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
    let err = filter::rank(&t, filter::MAX_RANK_RADIUS + 1, Rank::Median, Border::Zero)
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

/// The exchanges `sort2(a, b)` of a median-network shader, in order.
fn exchanges(wgsl: &str) -> Vec<(usize, usize)> {
    wgsl.split("sort2(")
        .skip(1) // the text before the first call
        .map(|call| {
            let args: Vec<usize> = call
                .split(')')
                .next()
                .unwrap()
                .split(',')
                .map(|a| a.trim().trim_end_matches('u').parse().unwrap())
                .collect();
            (args[0], args[1])
        })
        .collect()
}

/// The shipped median networks select the median of every input: by the 0-1
/// principle (a comparator network selects the k-th smallest value of every
/// input iff it does so for every input of zeros and ones), checked over all
/// 2^9 and 2^25 zero-one inputs, 64 at a time as bits of a word.
#[test]
fn median_networks_select_the_median_of_every_input() {
    for (wgsl, n, count) in [
        (include_str!("../shaders/filter/median3.wgsl"), 9, 19),
        (include_str!("../shaders/filter/median5.wgsl"), 25, 113),
    ] {
        let net = exchanges(wgsl);
        assert_eq!(net.len(), count, "{n}-input network");
        assert!(net.iter().all(|&(a, b)| a < n && b < n && a != b));
        let median = n / 2;
        // Wire i of input j (j = 64·word + bit) is bit i of j: the six low
        // wires vary within a word, the rest across words.
        let low: Vec<u64> = (0..6)
            .map(|i| {
                (0..64u64)
                    .filter(|b| b >> i & 1 == 1)
                    .fold(0, |m, b| m | 1 << b)
            })
            .collect();
        for word in 0..(1u64 << n) / 64 {
            let mut v = [0u64; 25];
            for (i, wire) in v.iter_mut().enumerate().take(n) {
                *wire = if i < 6 {
                    low[i]
                } else if word >> (i - 6) & 1 == 1 {
                    u64::MAX
                } else {
                    0
                };
            }
            for &(a, b) in &net {
                let (lo, hi) = (v[a] & v[b], v[a] | v[b]);
                v[a] = lo;
                v[b] = hi;
            }
            // The median of n bits is 1 iff more than n/2 of them are 1.
            let mut want = 0u64;
            for bit in 0..64u64 {
                let j = word * 64 + bit;
                if j.count_ones() as usize > median {
                    want |= 1 << bit;
                }
            }
            assert_eq!(
                v[median], want,
                "{n}-input network, inputs {word}·64 and on"
            );
        }
    }
}

/// Images larger than one storage binding run in bands of rows (a device
/// whose bindings hold 4 KiB: 1,024 values, so a 3×97×61 image is split into
/// bands of a few rows each) and give the whole image's values exactly:
/// correlation naive and tiled, the separable blur, every rank filter, the
/// gradient and the threshold, at every border.
#[test]
fn images_larger_than_a_binding_run_in_bands() {
    let dev = common::own_device(Some(4096));
    let whole = common::device();
    let mut rng = common::rng(0xf14);
    let (planes, h, w) = (3, 97, 61);
    let x = common::uniform(&mut rng, planes * h * w, -1.0, 1.0);
    let small = dev.tensor(&[planes, h, w], &x).unwrap();
    let big = whole.tensor(&[planes, h, w], &x).unwrap();
    let same = |what: &str, a: weft::Tensor, b: weft::Tensor| {
        assert_eq!(a.shape(), b.shape(), "{what}");
        assert_eq!(a.to_f32_vec().unwrap(), b.to_f32_vec().unwrap(), "{what}");
    };
    for border in BORDERS {
        for (k, variant) in [(3, filter::TILED), (7, filter::TILED), (5, filter::NAIVE)] {
            let kernel = common::uniform(&mut rng, k * k, -1.0, 1.0);
            same(
                &format!("correlate {k}x{k} {} {border:?}", variant.name),
                filter::correlate_by(&small, &kernel, k, k, border, Some(variant)).unwrap(),
                filter::correlate_by(&big, &kernel, k, k, border, Some(variant)).unwrap(),
            );
        }
        same(
            &format!("gaussian {border:?}"),
            filter::gaussian_blur(&small, 1.5, border).unwrap(),
            filter::gaussian_blur(&big, 1.5, border).unwrap(),
        );
        for (radius, which) in [(1, Rank::Median), (2, Rank::Median), (4, Rank::Max)] {
            same(
                &format!("rank r{radius} {which:?} {border:?}"),
                filter::rank(&small, radius, which, border).unwrap(),
                filter::rank(&big, radius, which, border).unwrap(),
            );
        }
    }
    let (gx, gy) = filter::derivatives(&small, Derivative::Scharr, Border::Reflect101).unwrap();
    let (bx, by) = filter::derivatives(&big, Derivative::Scharr, Border::Reflect101).unwrap();
    let (m, d) = filter::gradient(&gx, &gy).unwrap();
    let (bm, bd) = filter::gradient(&bx, &by).unwrap();
    same("gradient magnitude", m, bm);
    same("gradient direction", d, bd);
    same(
        "threshold",
        filter::threshold(&small, 0.25).unwrap(),
        filter::threshold(&big, 0.25).unwrap(),
    );
    // A row too wide for a binding with its halo is refused with the sizes.
    let wide = dev.tensor(&[2, 1500], &vec![0.0; 3000]).unwrap();
    let err = filter::rank(&wide, 1, Rank::Median, Border::Zero)
        .unwrap_err()
        .to_string();
    assert!(err.contains("4096"), "{err}");
}
