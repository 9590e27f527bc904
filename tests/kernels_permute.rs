//! Axis permutation at f32, native f16 and i32 over random shapes of rank 1
//! to 8 and random permutations (identity and reversal included): a copy, so
//! every element must equal the host permutation bit for bit. Outputs are
//! poisoned with NaN before every run.

mod common;

use rand::Rng;
use rand::seq::SliceRandom;
use weft::kernels::{permute, testing};
use weft::{DType, Error};

fn host_permute(x: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
    let out = permute::permuted_shape(shape, perm);
    let strides: Vec<usize> = (0..shape.len())
        .map(|a| shape[a + 1..].iter().product())
        .collect();
    (0..x.len())
        .map(|i| {
            let (mut rest, mut src) = (i, 0);
            for a in (0..out.len()).rev() {
                src += (rest % out[a]) * strides[perm[a]];
                rest /= out[a];
            }
            x[src]
        })
        .collect()
}

#[test]
fn permute_matches_host_bit_for_bit() {
    let dev = common::device();
    let mut rng = common::rng(71);
    let mut dtypes = vec![DType::F32, DType::I32];
    if dev.has(weft::device::Feature::ShaderF16) {
        dtypes.push(DType::F16);
    }
    let mut cases = 0;
    for &dtype in &dtypes {
        for i in 0..60 {
            let rank = 1 + i % permute::MAX_RANK;
            let shape: Vec<usize> = (0..rank)
                .map(|_| rng.random_range(1..if rank > 5 { 4 } else { 9 }))
                .collect();
            let mut perm: Vec<usize> = (0..rank).collect();
            match i % 3 {
                0 => perm.shuffle(&mut rng),
                1 => perm.reverse(),
                _ => {}
            }
            let n: usize = shape.iter().product();
            let what = format!("{dtype} {shape:?} perm {perm:?}");
            let out_shape = permute::permuted_shape(&shape, &perm);
            let got = if dtype == DType::I32 {
                let x: Vec<i32> = (0..n).map(|_| rng.random()).collect();
                let xt = dev.tensor_i32(&shape, &x).unwrap();
                let y = permute::permute(&xt, &perm).unwrap();
                assert_eq!(y.shape(), &out_shape[..], "{what}");
                let xf: Vec<f32> = x.iter().map(|&v| f32::from_bits(v as u32)).collect();
                let want = host_permute(&xf, &shape, &perm);
                let got: Vec<i32> = y.to_i32_vec().unwrap();
                let want: Vec<i32> = want.iter().map(|v| v.to_bits() as i32).collect();
                assert_eq!(got, want, "{what}");
                cases += 1;
                continue;
            } else {
                let x = common::values(&mut rng, n, dtype);
                let xt = dev.upload_f32(&shape, dtype, &x).unwrap();
                let y = testing::poisoned(&dev, &out_shape, dtype).unwrap();
                permute::permute_into(&xt, &perm, &y).unwrap();
                let want = host_permute(&x, &shape, &perm);
                (y.to_f32_vec().unwrap(), want)
            };
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.0), bits(&got.1), "{what}");
            cases += 1;
        }
    }
    assert!(cases >= 120);
}

#[test]
fn permute_rejects_what_is_not_a_permutation() {
    let dev = common::device();
    let x = dev.upload_f32(&[2, 3, 4], DType::F32, &[1.0; 24]).unwrap();
    for perm in [&[0, 1][..], &[0, 1, 1], &[0, 1, 3], &[2, 1, 0, 3]] {
        let e = permute::permute(&x, perm).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{perm:?}: {e}");
        assert!(e.to_string().contains("perm"), "{e}");
    }
    let y = dev.empty(&[2, 3, 4], DType::F32).unwrap();
    let e = permute::permute_into(&x, &[2, 1, 0], &y).unwrap_err();
    assert!(e.to_string().contains("[4, 3, 2]"), "{e}");
}
