//! Connected-component labelling against a sequential CPU union-find,
//! compared exactly (labels numbered by first pixel in raster order, as
//! scikit-image's): random images at densities from 5% to 95% and sizes from
//! 1×1 to 1000×1000, spirals (one long component), checkerboards (every
//! pixel its own component with 4-connectivity, one component with 8),
//! diagonal lines, all set, none set, one pixel; both connectivities. The
//! statistics (area, bounding box, centroid) are checked on a known image.

mod common;

use rand::Rng;
use weft::Device;
use weft::kernels::label::{self, Connectivity};
use weft::kernels::reference;

fn check(dev: &Device, image: &[bool], h: usize, w: usize, what: &str) {
    let mask: Vec<u32> = image.iter().map(|&b| b as u32).collect();
    let t = dev.tensor_u32(&[h, w], &mask).unwrap();
    for connectivity in [Connectivity::Four, Connectivity::Eight] {
        let got = label::label(&t, connectivity).unwrap();
        let (want, count) = reference::label::label(image, h, w, connectivity);
        assert_eq!(got.count, count, "{what} {connectivity:?}: component count");
        let labels = got.labels.to_u32_vec().unwrap();
        // The async form (for a browser) is the same body.
        let awaited = pollster::block_on(label::label_async(&t, connectivity)).unwrap();
        assert_eq!(awaited.count, count, "{what} {connectivity:?}: async count");
        let same = pollster::block_on(awaited.labels.to_u32_vec_async()).unwrap();
        assert!(
            same == labels,
            "{what} {connectivity:?}: async labels differ"
        );
        if let Some(i) = (0..h * w).find(|&i| labels[i] != want[i]) {
            panic!(
                "{what} {connectivity:?}: pixel ({}, {}) labelled {}, expected {}",
                i / w,
                i % w,
                labels[i],
                want[i]
            );
        }
    }
}

/// A square spiral of side `n`: one component winding to the middle.
fn spiral(n: usize) -> Vec<bool> {
    let mut spiral = vec![false; n * n];
    let (mut top, mut left, mut bottom, mut right) = (0i64, 0i64, n as i64 - 1, n as i64 - 1);
    while top <= bottom && left <= right {
        for x in left..=right {
            spiral[(top as usize) * n + x as usize] = true;
        }
        for y in top..=bottom {
            spiral[(y as usize) * n + right as usize] = true;
        }
        for x in left..=right {
            spiral[(bottom as usize) * n + x as usize] = true;
        }
        for y in (top + 2)..=bottom {
            spiral[(y as usize) * n + left as usize] = true;
        }
        if left + 2 <= right {
            spiral[((top + 2) as usize) * n + (left + 1) as usize] = true;
        }
        top += 2;
        left += 2;
        bottom -= 2;
        right -= 2;
    }
    spiral
}

#[test]
fn labels_match_the_sequential_union_find() {
    let dev = common::device();
    let mut rng = common::rng(0x1abe1);
    let mut cases = 0;
    for i in 0..60 {
        let (h, w) = match i % 6 {
            0 => (1, rng.random_range(1..300)),
            1 => (rng.random_range(1..300), 1),
            2 => (rng.random_range(1..20), rng.random_range(1..20)),
            _ => (rng.random_range(20..200), rng.random_range(20..200)),
        };
        let density = [0.05, 0.3, 0.45, 0.55, 0.6, 0.95][i % 6];
        let image: Vec<bool> = (0..h * w).map(|_| rng.random_bool(density)).collect();
        check(&dev, &image, h, w, &format!("random {h}x{w} at {density}"));
        cases += 1;
    }
    let (h, w) = (1000, 1000);
    let image: Vec<bool> = (0..h * w).map(|_| rng.random_bool(0.55)).collect();
    check(
        &dev,
        &image,
        h,
        w,
        "random 1000x1000 near the percolation threshold",
    );
    cases += 1;

    let n = 97;
    check(&dev, &spiral(n), n, n, "spiral");
    let checker: Vec<bool> = (0..64 * 63).map(|i| (i / 63 + i % 63) % 2 == 0).collect();
    check(&dev, &checker, 64, 63, "checkerboard");
    let diagonal: Vec<bool> = (0..50 * 50)
        .map(|i| i / 50 == i % 50 || i / 50 + i % 50 == 49)
        .collect();
    check(&dev, &diagonal, 50, 50, "two diagonals");
    check(&dev, &vec![true; 77 * 31], 77, 31, "all set");
    check(&dev, &vec![false; 77 * 31], 77, 31, "none set");
    check(&dev, &[true], 1, 1, "one pixel");
    let mut one = vec![false; 40 * 40];
    one[40 * 39 + 39] = true;
    check(&dev, &one, 40, 40, "the last pixel");
    eprintln!("label: {} images, each with both connectivities", cases + 7);
}

/// Images whose buffers exceed one binding (lowered here to 4 KiB: a band
/// of 1,024 pixels) are labelled in bands and merged across the bands'
/// edges: the same labels as the sequential union-find, whose numbering
/// needs every band's components in raster order of their first pixel
/// (a spiral winds through ten bands, a U joins two of a band's
/// components through the next); a row wider than one binding is the
/// typed error.
#[test]
fn images_larger_than_a_binding_label_in_bands() {
    let dev = common::own_device(Some(4096));
    let mut rng = common::rng(0x1abe2);
    for i in 0..12 {
        let (h, w) = (rng.random_range(30..160), rng.random_range(9..120));
        let density = [0.2, 0.45, 0.55, 0.6, 0.8, 0.95][i % 6];
        let image: Vec<bool> = (0..h * w).map(|_| rng.random_bool(density)).collect();
        check(
            &dev,
            &image,
            h,
            w,
            &format!("banded random {h}x{w} at {density}"),
        );
    }
    check(&dev, &spiral(97), 97, 97, "banded spiral");
    // A U: two columns in the first band, joined only at the bottom.
    let (h, w) = (60, 40);
    let mut u = vec![false; h * w];
    for y in 0..h {
        u[y * w + 3] = true;
        u[y * w + 30] = true;
    }
    for x in 3..=30 {
        u[(h - 1) * w + x] = true;
    }
    check(&dev, &u, h, w, "banded U");
    let checker: Vec<bool> = (0..90 * 33).map(|i| (i / 33 + i % 33) % 2 == 0).collect();
    check(&dev, &checker, 90, 33, "banded checkerboard");
    check(&dev, &vec![true; 70 * 50], 70, 50, "banded all set");
    let wide = dev.tensor_u32(&[2, 1500], &[1; 3000]).unwrap();
    let err = label::label(&wide, Connectivity::Four).unwrap_err();
    assert!(err.to_string().contains("binding"), "{err}");
}

#[test]
fn statistics_and_numbering_of_a_known_image() {
    let dev = common::device();
    // . X X . .
    // . X . . X
    // . . . X X
    // X . . . .
    let rows = [".XX..", ".X..X", "...XX", "X...."];
    let mask: Vec<u32> = rows
        .iter()
        .flat_map(|r| r.chars().map(|c| (c == 'X') as u32))
        .collect();
    let t = dev.tensor_u32(&[4, 5], &mask).unwrap();
    let l = label::label(&t, Connectivity::Four).unwrap();
    assert_eq!(l.count, 3);
    let labels = l.labels.to_u32_vec().unwrap();
    assert_eq!(
        labels,
        [0, 1, 1, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 2, 2, 3, 0, 0, 0, 0]
    );
    let stats = label::components(&labels, 5, l.count);
    assert_eq!(stats[0].area, 3);
    assert_eq!(stats[0].bbox, [0, 1, 1, 2]);
    assert_eq!(stats[0].centroid, [1.0 / 3.0, 4.0 / 3.0]);
    assert_eq!(stats[1].area, 3);
    assert_eq!(stats[1].bbox, [1, 3, 2, 4]);
    assert_eq!(stats[2].bbox, [3, 0, 3, 0]);
    // No two groups touch at a corner either: 8-connectivity finds three too.
    let l8 = label::label(&t, Connectivity::Eight).unwrap();
    assert_eq!(l8.count, 3);
    let bad = dev.tensor(&[2, 2], &[0.0; 4]).unwrap();
    assert!(label::label(&bad, Connectivity::Four).is_err());
}
