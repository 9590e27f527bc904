//! Channel concatenation and split: f32, f16 (packed halves, including inputs
//! whose regions start and end mid-word) and i32, ranks 2 to 5, 1 to 5 inputs
//! (some with zero channels), over at least 100 random problems each, against
//! the references. Outputs are poisoned with NaN (or an i32 pattern) first and
//! every element is compared bit for bit: both ops are copies (c = 0).

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, Feature};
use weft::kernels::concat;
use weft::kernels::{elementwise, reference, testing};
use weft::{DType, Device, Error, Tensor};

/// Shapes of the inputs of a random concatenation; the first cases are the
/// awkward ones.
fn random_shapes(rng: &mut ChaCha8Rng, i: usize) -> Vec<Vec<usize>> {
    match i {
        0 => return vec![vec![1, 1]],
        1 => return vec![vec![1, 1, 1, 1], vec![1, 1, 1, 1], vec![1, 1, 1, 1]],
        2 => return vec![vec![2, 3, 7, 7], vec![2, 5, 7, 7]],
        3 => return vec![vec![1, 3, 13, 33], vec![1, 0, 13, 33], vec![1, 1, 13, 33]],
        4 => return vec![vec![3, 7, 1, 1], vec![3, 9, 1, 1]],
        5 => return vec![vec![2, 1, 3], vec![2, 2, 3], vec![2, 1, 3], vec![2, 3, 3]],
        _ => {}
    }
    let rank = rng.random_range(2..6);
    let inputs = rng.random_range(1..6);
    let batch = rng.random_range(1..4);
    let rest: Vec<usize> = (2..rank)
        .map(|_| {
            if rng.random_bool(0.2) {
                [1, 7, 13][rng.random_range(0..3)]
            } else {
                rng.random_range(1..6)
            }
        })
        .collect();
    (0..inputs)
        .map(|_| {
            let c = if rng.random_bool(0.1) {
                0
            } else {
                rng.random_range(1..8)
            };
            [vec![batch, c], rest.clone()].concat()
        })
        .collect()
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

fn upload(dev: &Device, shape: &[usize], dtype: DType, data: &[f32]) -> Tensor {
    match dtype {
        DType::I32 => {
            let ints: Vec<i32> = data.iter().map(|v| v.to_bits() as i32).collect();
            dev.tensor_i32(shape, &ints).unwrap()
        }
        _ => dev.upload_f32(shape, dtype, data).unwrap(),
    }
}

/// Reads a tensor back as f32 bit patterns comparable with the inputs.
fn read_bits(t: &Tensor) -> Vec<u32> {
    match t.dtype() {
        DType::I32 => t.to_i32_vec().unwrap().iter().map(|&v| v as u32).collect(),
        _ => t
            .to_f32_vec()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect(),
    }
}

fn poisoned(dev: &Device, shape: &[usize], dtype: DType) -> Tensor {
    match dtype {
        DType::I32 => {
            let t = dev.empty(shape, dtype).unwrap();
            elementwise::fill_words(&t, 0x7fc0_dead).unwrap();
            t
        }
        _ => testing::poisoned(dev, shape, dtype).unwrap(),
    }
}

const DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::I32];

#[test]
fn concat_matches_reference_bitwise() {
    let dev = common::device();
    let mut rng = common::rng(0xc0c0);
    for dtype in DTYPES {
        for i in 0..110 {
            let shapes = random_shapes(&mut rng, i);
            let datas: Vec<Vec<f32>> = shapes
                .iter()
                .map(|s| {
                    let f = if dtype.is_float() { dtype } else { DType::F32 };
                    testing::round_to(f, &common::uniform(&mut rng, numel(s), -3.0, 3.0))
                })
                .collect();
            let ts: Vec<Tensor> = shapes
                .iter()
                .zip(&datas)
                .map(|(s, d)| upload(&dev, s, dtype, d))
                .collect();
            let refs: Vec<&Tensor> = ts.iter().collect();
            let mut out_shape = shapes[0].clone();
            out_shape[1] = shapes.iter().map(|s| s[1]).sum();
            let out = poisoned(&dev, &out_shape, dtype);
            concat::concat_channels_into(&refs, &out).unwrap();
            let pieces: Vec<(&[f32], &[usize])> = datas
                .iter()
                .zip(&shapes)
                .map(|(d, s)| (&d[..], &s[..]))
                .collect();
            let want: Vec<u32> = reference::concat::concat_channels_data(&pieces)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(read_bits(&out), want, "{dtype} case {i} {shapes:?}");
            if dtype.is_float() {
                let want = reference::concat::concat_channels(&pieces);
                testing::compare(&out.to_f32_vec().unwrap(), &want, dtype, 0.0).unwrap();
            }
            // The allocating form agrees, and split inverts it.
            let again = concat::concat_channels(&refs).unwrap();
            assert_eq!(read_bits(&again), want, "{dtype} case {i}");
            let sizes: Vec<usize> = shapes.iter().map(|s| s[1]).collect();
            let back = concat::split_channels(&again, &sizes).unwrap();
            for (k, (piece, d)) in back.iter().zip(&datas).enumerate() {
                assert_eq!(piece.shape(), &shapes[k][..]);
                let bits: Vec<u32> = d.iter().map(|v| v.to_bits()).collect();
                assert_eq!(read_bits(piece), bits, "{dtype} case {i} piece {k}");
            }
        }
        eprintln!("concat/split {dtype}: 110 shapes");
    }
}

#[test]
fn split_matches_reference_bitwise() {
    let dev = common::device();
    let mut rng = common::rng(0xc0c1);
    for dtype in DTYPES {
        for i in 0..110 {
            let shapes = random_shapes(&mut rng, i);
            let mut shape = shapes[0].clone();
            shape[1] = shapes.iter().map(|s| s[1]).sum();
            let sizes: Vec<usize> = shapes.iter().map(|s| s[1]).collect();
            let f = if dtype.is_float() { dtype } else { DType::F32 };
            let x = testing::round_to(f, &common::uniform(&mut rng, numel(&shape), -3.0, 3.0));
            let xt = upload(&dev, &shape, dtype, &x);
            let outs: Vec<Tensor> = shapes.iter().map(|s| poisoned(&dev, s, dtype)).collect();
            let refs: Vec<&Tensor> = outs.iter().collect();
            concat::split_channels_into(&xt, &refs).unwrap();
            let want = reference::concat::split_channels_data(&x, &shape, &sizes);
            for (k, (o, w)) in outs.iter().zip(&want).enumerate() {
                let bits: Vec<u32> = w.iter().map(|v| v.to_bits()).collect();
                assert_eq!(
                    read_bits(o),
                    bits,
                    "{dtype} case {i} {shape:?} {sizes:?} piece {k}"
                );
            }
            if dtype.is_float() {
                for (o, w) in outs
                    .iter()
                    .zip(reference::concat::split_channels(&x, &shape, &sizes))
                {
                    testing::compare(&o.to_f32_vec().unwrap(), &w, dtype, 0.0).unwrap();
                }
            }
        }
        eprintln!("split {dtype}: 110 shapes");
    }
}

#[test]
fn split_reference_is_the_gradient_of_concat() {
    // L(xs) = Σ dy · concat(xs) is linear: central differences in f64 give
    // exactly split(dy).
    let mut rng = common::rng(0xc0c2);
    for i in 0..20 {
        let shapes = random_shapes(&mut rng, i);
        let xs: Vec<Vec<f64>> = shapes
            .iter()
            .map(|s| (0..numel(s)).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let mut out_shape = shapes[0].clone();
        out_shape[1] = shapes.iter().map(|s| s[1]).sum();
        let dy: Vec<f64> = (0..numel(&out_shape))
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let sizes: Vec<usize> = shapes.iter().map(|s| s[1]).collect();
        let grads = reference::concat::split_channels_data(&dy, &out_shape, &sizes);
        let loss = |xs: &[Vec<f64>]| -> f64 {
            let pieces: Vec<(&[f64], &[usize])> = xs
                .iter()
                .zip(&shapes)
                .map(|(d, s)| (&d[..], &s[..]))
                .collect();
            reference::concat::concat_channels_data(&pieces)
                .iter()
                .zip(&dy)
                .map(|(a, b)| a * b)
                .sum()
        };
        let h = 1e-3;
        let mut xp = xs.clone();
        for k in 0..xs.len() {
            for j in 0..xs[k].len() {
                xp[k][j] = xs[k][j] + h;
                let up = loss(&xp);
                xp[k][j] = xs[k][j] - h;
                let down = loss(&xp);
                xp[k][j] = xs[k][j];
                let fd = (up - down) / (2.0 * h);
                assert!(
                    (fd - grads[k][j]).abs() < 1e-9,
                    "case {i} input {k} element {j}: {fd} vs {}",
                    grads[k][j]
                );
            }
        }
    }
}

#[test]
fn large_grid_folds() {
    // The first input is 4,198,400 elements: 65,600 workgroups of 64.
    let dev = common::device();
    let mut rng = common::rng(0xc0c3);
    let a_shape = [1, 4, 1024, 1025];
    let b_shape = [1, 1, 1024, 1025];
    let a = common::uniform(&mut rng, numel(&a_shape), -1.0, 1.0);
    let b = common::uniform(&mut rng, numel(&b_shape), -1.0, 1.0);
    let at = dev.tensor(&a_shape, &a).unwrap();
    let bt = dev.tensor(&b_shape, &b).unwrap();
    let out = testing::poisoned(&dev, &[1, 5, 1024, 1025], DType::F32).unwrap();
    concat::concat_channels_into(&[&at, &bt], &out).unwrap();
    let got = out.to_f32_vec().unwrap();
    assert!(got[..a.len()] == a[..] && got[a.len()..] == b[..]);
}

#[test]
fn f16_copies_need_no_shader_f16() {
    let dev = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let a = dev
        .upload_f32(&[1, 1, 3], DType::F16, &[1.0, 2.0, 3.0])
        .unwrap();
    let b = dev
        .upload_f32(&[1, 2, 3], DType::F16, &[4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        .unwrap();
    let c = concat::concat_channels(&[&a, &b]).unwrap();
    assert_eq!(
        c.to_f32_vec().unwrap(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    );
    let parts = concat::split_channels(&c, &[2, 1]).unwrap();
    assert_eq!(
        parts[0].to_f32_vec().unwrap(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    assert_eq!(parts[1].to_f32_vec().unwrap(), [7.0, 8.0, 9.0]);
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let a = dev.tensor(&[2, 3, 4], &[0.5; 24]).unwrap();
    let b = dev.tensor(&[2, 1, 5], &[0.5; 10]).unwrap();
    let e = concat::concat_channels(&[&a, &b]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().contains("input 1"), "{e}");
    let c = dev.tensor(&[3, 1, 4], &[0.5; 12]).unwrap();
    assert!(matches!(
        concat::concat_channels(&[&a, &c]).unwrap_err(),
        Error::Shape { .. }
    ));
    let d = dev.upload_f32(&[2, 1, 4], DType::F16, &[0.5; 8]).unwrap();
    let e = concat::concat_channels(&[&a, &d]).unwrap_err();
    assert!(e.to_string().contains("dtype"), "{e}");
    let flat = dev.tensor(&[4], &[0.5; 4]).unwrap();
    let e = concat::concat_channels(&[&flat]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = concat::concat_channels(&[]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let e = concat::split_channels(&a, &[1, 1]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().contains("sum to 2"), "{e}");
    let out = dev.empty(&[2, 5, 4], DType::F32).unwrap();
    let e = concat::concat_channels_into(&[&a, &a], &out).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = concat::concat_channels_into(&[&a], &a).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    dev.check().unwrap();
}
