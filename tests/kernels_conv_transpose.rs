//! conv_transpose2d: every row of its table at every precision it has against
//! the f64 reference over 110 random problems each that it accepts (N = 1, 1×1 images and kernels,
//! kernel equal to the input, stride larger than the kernel, odd sizes 7 / 13 /
//! 33, channel counts not multiples of 4, groups and depthwise, dilation,
//! padding, output_padding, bias, fused activations), outputs poisoned with NaN
//! before every run; image chunking of `gemm_col2im` under a small binding
//! limit, with its scratch measured against the row's scratch; a launch past
//! 65,535 workgroups; hand-computed PyTorch examples; typed errors.
//!
//! Bound: |gpu − ref| ≤ c·ε·scale with scale = Σ|x·w| + |bias| (times the
//! activation's slope bound, see `reference::conv_transpose`). f32:
//! c = 2·√K + 4 with K = C_in/groups·KH·KW + 1 the number of summed terms (f32
//! accumulation, errors growing like √K). f16: c = 2 (inputs are the f16 values
//! the kernels read and every sum is accumulated in f32, so what remains is
//! rounding the result to f16, at most ½ ulp, plus the f32 sums).

mod common;

use common::sweep::Counts;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::Feature;
use weft::kernels::conv::params::{ConvTranspose2dGeometry, ConvTranspose2dParams, GatherGeometry};
use weft::kernels::conv::transpose::{
    self as conv_transpose, ConvTranspose2dProblem, ConvTranspose2dSpec, ConvTransposeVariant,
};
use weft::kernels::reference::RefOut;
use weft::kernels::{Activation, Precision, reference, testing};
use weft::{DType, Device, Error};

#[derive(Debug, Clone)]
struct Case {
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    params: ConvTranspose2dParams,
    bias: bool,
    activation: Activation,
}

impl Case {
    fn geo(&self) -> ConvTranspose2dGeometry {
        ConvTranspose2dGeometry::new("test", &self.x_shape, &self.w_shape, &self.params)
            .expect("cases are valid")
    }
}

fn params(
    stride: usize,
    padding: usize,
    output_padding: usize,
    dilation: usize,
    groups: usize,
) -> ConvTranspose2dParams {
    ConvTranspose2dParams {
        stride: [stride, stride],
        padding: [padding, padding],
        output_padding: [output_padding, output_padding],
        dilation: [dilation, dilation],
        groups,
    }
}

/// Hand-picked awkward problems, then random ones.
fn random_case(rng: &mut ChaCha8Rng, i: usize) -> Case {
    let special: [([usize; 4], [usize; 4], ConvTranspose2dParams); 15] = [
        // 1x1 image, 1x1 kernel, N = 1.
        ([1, 1, 1, 1], [1, 1, 1, 1], params(1, 0, 0, 1, 1)),
        // 1x1 image into a 3x3 kernel, stride 2.
        ([2, 3, 1, 1], [3, 5, 3, 3], params(2, 0, 1, 1, 1)),
        // Kernel as large as the input.
        ([1, 2, 5, 5], [2, 3, 5, 5], params(1, 0, 0, 1, 1)),
        // Stride larger than the kernel (gaps in the output).
        ([1, 3, 4, 5], [3, 2, 2, 2], params(3, 0, 2, 1, 1)),
        // Odd sizes, channels not multiples of 4.
        ([1, 3, 7, 13], [3, 5, 3, 3], params(1, 1, 0, 1, 1)),
        ([2, 6, 13, 7], [6, 3, 3, 2], params(2, 1, 1, 1, 3)),
        // Depthwise.
        ([1, 5, 7, 7], [5, 1, 3, 3], params(2, 1, 1, 1, 5)),
        ([1, 2, 33, 33], [2, 3, 3, 3], params(1, 1, 0, 1, 1)),
        // output_padding up to dilation − 1 with stride 1.
        ([1, 2, 6, 5], [2, 3, 3, 2], params(1, 0, 2, 3, 1)),
        // Padding and output padding with stride 2 (the U-Net upsampler).
        ([2, 8, 6, 6], [8, 4, 4, 4], params(2, 1, 1, 1, 1)),
        // Wide channel blocks, grouped.
        ([1, 8, 5, 9], [8, 9, 1, 1], params(1, 0, 0, 1, 2)),
        ([3, 4, 3, 3], [4, 7, 2, 3], params(2, 0, 0, 2, 1)),
        // f32 columns by the vec4 GEMM (C_in and H*W multiples of 4): the U-Net
        // up-convolution (stride = kernel, outputs tiled by the taps), a 3x3
        // tiling, and a stride-1 problem through the general col2im.
        ([2, 8, 6, 6], [8, 4, 2, 2], params(2, 0, 0, 1, 1)),
        ([1, 12, 2, 6], [12, 5, 3, 3], params(3, 0, 0, 1, 1)),
        ([3, 4, 4, 5], [4, 3, 3, 3], params(1, 1, 0, 1, 1)),
    ];
    let act_of = |rng: &mut ChaCha8Rng| {
        [Activation::None, Activation::Relu, Activation::Sigmoid][rng.random_range(0..3)]
    };
    if i < special.len() {
        let (x_shape, w_shape, params) = special[i];
        return Case {
            x_shape,
            w_shape,
            params,
            bias: i.is_multiple_of(2),
            activation: act_of(rng),
        };
    }
    loop {
        let groups = match rng.random_range(0..6) {
            0..=2 => 1,
            3 => 2,
            4 => 3,
            _ => rng.random_range(2..7), // depthwise below
        };
        let depthwise = groups > 3;
        let cin_g = if depthwise { 1 } else { rng.random_range(1..7) };
        let cout_g = if depthwise {
            rng.random_range(1..3)
        } else {
            rng.random_range(1..11)
        };
        let dim = |rng: &mut ChaCha8Rng| {
            if rng.random_bool(0.15) {
                [1, 7, 13][rng.random_range(0..3)]
            } else {
                rng.random_range(1..10)
            }
        };
        let (h, w) = (dim(rng), dim(rng));
        let (kh, kw) = (rng.random_range(1..5), rng.random_range(1..5));
        let stride = [rng.random_range(1..4), rng.random_range(1..4)];
        let dilation = if rng.random_bool(0.3) {
            [rng.random_range(1..4), rng.random_range(1..3)]
        } else {
            [1, 1]
        };
        let padding = [
            rng.random_range(0..(dilation[0] * (kh - 1)).max(1) + 1),
            rng.random_range(0..(dilation[1] * (kw - 1)).max(1) + 1),
        ];
        let output_padding = [
            rng.random_range(0..stride[0].max(dilation[0])),
            rng.random_range(0..stride[1].max(dilation[1])),
        ];
        let case = Case {
            x_shape: [rng.random_range(1..4), groups * cin_g, h, w],
            w_shape: [groups * cin_g, cout_g, kh, kw],
            params: ConvTranspose2dParams {
                stride,
                padding,
                output_padding,
                dilation,
                groups,
            },
            bias: rng.random_bool(0.5),
            activation: act_of(rng),
        };
        if ConvTranspose2dGeometry::new("test", &case.x_shape, &case.w_shape, &case.params).is_ok()
        {
            return case;
        }
    }
}

fn c_bound(dtype: DType, geo: &ConvTranspose2dGeometry) -> f64 {
    match dtype {
        DType::F16 => 2.0,
        _ => {
            let k = (geo.c_in / geo.groups * geo.kh * geo.kw + 1) as f64;
            2.0 * k.sqrt() + 4.0
        }
    }
}

/// A random problem the vec4 column rows accept: one group, C_in and H·W
/// multiples of 4; with `tiles`, stride = kernel and no padding, dilation or
/// output padding (every output takes one tap).
fn vec4_case(rng: &mut ChaCha8Rng, tiles: bool) -> Case {
    loop {
        let c_in = 4 * rng.random_range(1..4);
        let (h, w) = if rng.random_bool(0.5) {
            (rng.random_range(1..9), 4 * rng.random_range(1..3))
        } else {
            (4 * rng.random_range(1..3), rng.random_range(1..9))
        };
        let (kh, kw) = (rng.random_range(1..5), rng.random_range(1..5));
        let params = if tiles {
            ConvTranspose2dParams {
                stride: [kh, kw],
                ..ConvTranspose2dParams::default()
            }
        } else {
            let stride = [rng.random_range(1..4), rng.random_range(1..4)];
            ConvTranspose2dParams {
                stride,
                padding: [rng.random_range(0..kh), rng.random_range(0..kw)],
                output_padding: [
                    rng.random_range(0..stride[0]),
                    rng.random_range(0..stride[1]),
                ],
                dilation: [1, rng.random_range(1..3)],
                groups: 1,
            }
        };
        let case = Case {
            x_shape: [rng.random_range(1..4), c_in, h, w],
            w_shape: [c_in, rng.random_range(1..9), kh, kw],
            params,
            bias: rng.random_bool(0.5),
            activation: [Activation::None, Activation::Relu][rng.random_range(0..2)],
        };
        if ConvTranspose2dGeometry::new("test", &case.x_shape, &case.w_shape, &case.params).is_ok()
        {
            return case;
        }
    }
}

fn problem(case: &Case, precision: Precision) -> ConvTranspose2dProblem {
    ConvTranspose2dProblem {
        g: GatherGeometry::transposed(&case.geo()),
        bias: case.bias,
        activation: case.activation,
        precision,
    }
}

fn run_case(
    dev: &Device,
    rng: &mut ChaCha8Rng,
    case: &Case,
    variant: &'static ConvTransposeVariant,
    precision: Precision,
) -> Result<f64, String> {
    let dtype = precision.dtype();
    let geo = case.geo();
    let (x, xt) = common::upload(dev, rng, &case.x_shape, dtype);
    let (w, wt) = common::upload(dev, rng, &case.w_shape, dtype);
    let (b, bt) = common::upload(dev, rng, &[geo.c_out], dtype);
    let bt = case.bias.then_some(bt);
    let out = testing::poisoned(dev, &geo.out_shape(), dtype).unwrap();
    let spec = ConvTranspose2dSpec {
        params: case.params,
        activation: case.activation,
        variant: Some(variant),
        precision: Some(precision),
    };
    conv_transpose::conv_transpose2d_into(&xt, &wt, bt.as_ref(), &spec, &out)
        .map_err(|e| e.to_string())?;
    let got = out.to_f32_vec().unwrap();
    let want = reference::conv_transpose::conv_transpose2d(
        &geo,
        &x,
        &w,
        case.bias.then_some(&b[..]),
        case.activation,
    );
    testing::compare(&got, &want, dtype, c_bound(dtype, &geo)).map(|r| r.max_err_eps)
}

/// The special and random problems, then ones the vec4 column rows accept
/// (110 of each kind): the general rows run the first 110.
fn sweep(precision: Precision) {
    let dev = common::device();
    let mut rng = common::rng(0x7c0e);
    let mut cases: Vec<Case> = (0..110).map(|i| random_case(&mut rng, i)).collect();
    for _ in 0..110 {
        cases.push(vec4_case(&mut rng, false));
        cases.push(vec4_case(&mut rng, true));
    }
    common::sweep::sweep(
        &conv_transpose::TABLE,
        precision,
        &cases,
        Counts::at_least_100(110),
        |case| problem(case, precision),
        |variant, _, case| run_case(&dev, &mut rng, case, variant, precision),
    );
}

#[test]
fn every_variant_f32() {
    sweep(Precision::F32)
}

#[test]
fn every_variant_f16() {
    sweep(Precision::F16)
}

#[test]
fn every_variant_f16_packed() {
    sweep(Precision::F16Packed)
}

/// The tuned-GEMM rows on batches whose columns take several chunks (a
/// 32 KiB binding limit, and for the tile shuffle, whose columns are as large
/// as its output, 4 MiB columns per image under the default budget): each
/// chunk's GEMM reads x through a window at an offset, and col2im (or the
/// shuffle) writes that chunk's outputs; the columns and the row-major
/// weights are the only temporaries.
#[test]
fn gemm_vec4_rows_process_images_in_chunks() {
    let small = common::own_device(Some(32 << 10));
    let mut rng = common::rng(0x7c12);
    let cases = [
        (
            [6, 8, 8, 8],
            [8, 4, 3, 3],
            params(2, 1, 0, 1, 1),
            conv_transpose::GEMM_VEC4_COL2IM,
            true,
        ),
        (
            [6, 8, 8, 8],
            [8, 4, 3, 3],
            params(1, 1, 0, 1, 1),
            conv_transpose::GEMM_VEC4_COL2IM,
            true,
        ),
        (
            [3, 64, 64, 64],
            [64, 64, 2, 2],
            params(2, 0, 0, 1, 1),
            conv_transpose::GEMM_VEC4_TILES,
            false,
        ),
    ];
    for (x_shape, w_shape, params, v, limited) in cases {
        let dev = if limited {
            small.clone()
        } else {
            common::own_device(None)
        };
        let case = Case {
            x_shape,
            w_shape,
            params,
            bias: true,
            activation: Activation::Relu,
        };
        let geo = case.geo();
        let per_image = (geo.c_out * geo.kh * geo.kw * geo.h * geo.w * 4) as u64;
        let p = problem(&case, Precision::F32);
        v.check(&p, dev.caps()).unwrap();
        let weights = (geo.c_in * geo.c_out * geo.kh * geo.kw * 4) as u64;
        let chunk = (v.scratch_bytes(&p, &dev) - weights) / per_image;
        assert!(
            chunk >= 1 && chunk < geo.n as u64,
            "{case:?}: chunks of {chunk}"
        );
        run_case(&dev, &mut rng, &case, v, Precision::F32)
            .unwrap_or_else(|e| panic!("{case:?} {}: {e}", v.name));
        let x = dev.empty(&x_shape, DType::F32).unwrap();
        let w = dev.empty(&w_shape, DType::F32).unwrap();
        let out = dev.empty(&geo.out_shape(), DType::F32).unwrap();
        dev.sync().unwrap();
        let before = dev.pool_stats().live_bytes;
        dev.reset_peak();
        let spec = ConvTranspose2dSpec {
            params,
            variant: Some(v),
            ..Default::default()
        };
        conv_transpose::conv_transpose2d_into(&x, &w, None, &spec, &out).unwrap();
        assert_eq!(
            dev.pool_stats().peak_live_bytes - before,
            v.scratch_bytes(&p, &dev)
        );
        dev.check().unwrap();
    }
}

#[test]
fn gemm_col2im_processes_images_in_chunks() {
    let dev = common::own_device(Some(8 << 10));
    let mut rng = common::rng(0x7c11);
    // Odd elements per output image, so packed-f16 words straddle chunks.
    let cases = [
        ([7, 2, 5, 3], [2, 3, 3, 3], params(2, 1, 0, 1, 1)),
        ([5, 3, 5, 7], [3, 1, 3, 3], params(1, 0, 0, 1, 3)),
        ([9, 2, 3, 3], [2, 5, 3, 3], params(1, 0, 0, 1, 1)),
    ];
    for (x_shape, w_shape, params) in cases {
        let case = Case {
            x_shape,
            w_shape,
            params,
            bias: true,
            activation: Activation::Relu,
        };
        let geo = case.geo();
        let per_image = (geo.c_out * geo.kh * geo.kw * geo.h * geo.w * 4) as u64;
        assert_eq!(geo.c_out * geo.oh * geo.ow % 2, 1, "{case:?}");
        for precision in [Precision::F32, Precision::F16, Precision::F16Packed] {
            if precision == Precision::F16 && !dev.has(Feature::ShaderF16) {
                continue;
            }
            let v = conv_transpose::GEMM_COL2IM;
            let scratch = v.scratch_bytes(&problem(&case, precision), &dev);
            let chunk = scratch / per_image;
            assert!(
                chunk >= 1 && chunk < geo.n as u64 && scratch <= 8 << 10,
                "{case:?}: {scratch} bytes of columns"
            );
            run_case(&dev, &mut rng, &case, v, precision)
                .unwrap_or_else(|e| panic!("{case:?} {}: {e}", precision.name()));
        }
        // The columns are the only temporary: the pool's peak says so.
        let dtype = DType::F32;
        let x = dev
            .upload_f32(
                &x_shape,
                dtype,
                &common::uniform(&mut rng, x_shape.iter().product(), -1.0, 1.0),
            )
            .unwrap();
        let w = dev
            .upload_f32(
                &w_shape,
                dtype,
                &common::uniform(&mut rng, w_shape.iter().product(), -1.0, 1.0),
            )
            .unwrap();
        let out = dev.empty(&geo.out_shape(), dtype).unwrap();
        dev.sync().unwrap();
        let before = dev.pool_stats().live_bytes;
        dev.reset_peak();
        let spec = ConvTranspose2dSpec {
            params,
            variant: Some(conv_transpose::GEMM_COL2IM),
            ..Default::default()
        };
        conv_transpose::conv_transpose2d_into(&x, &w, None, &spec, &out).unwrap();
        let peak = dev.pool_stats().peak_live_bytes;
        let p = ConvTranspose2dProblem {
            bias: false,
            ..problem(&case, Precision::F32)
        };
        assert_eq!(
            peak - before,
            conv_transpose::GEMM_COL2IM.scratch_bytes(&p, &dev)
        );
        assert_eq!(conv_transpose::DIRECT_GATHER.scratch_bytes(&p, &dev), 0);
    }
    dev.check().unwrap();
}

#[test]
fn large_grid_folds() {
    // 4.2 M register-blocked items (1 channel, 1 pixel each: the rows are 3
    // wide) in 65,625 workgroups of 64: more than one grid dimension holds.
    let dev = common::device();
    let mut rng = common::rng(0x7c12);
    let x_shape = [1, 1, 1_400_000, 3];
    let w_shape = [1, 1, 1, 1];
    let x = common::uniform(&mut rng, 4_200_000, -1.0, 1.0);
    let w = [0.75f32];
    let b = [0.25f32];
    let geo = ConvTranspose2dGeometry::new("t", &x_shape, &w_shape, &Default::default()).unwrap();
    let xt = dev.tensor(&x_shape, &x).unwrap();
    let wt = dev.tensor(&w_shape, &w).unwrap();
    let bt = dev.tensor(&[1], &b).unwrap();
    let out = testing::poisoned(&dev, &geo.out_shape(), DType::F32).unwrap();
    let spec = ConvTranspose2dSpec {
        variant: Some(conv_transpose::DIRECT_GATHER),
        ..Default::default()
    };
    conv_transpose::conv_transpose2d_into(&xt, &wt, Some(&bt), &spec, &out).unwrap();
    let want =
        reference::conv_transpose::conv_transpose2d(&geo, &x, &w, Some(&b), Activation::None);
    testing::compare(&out.to_f32_vec().unwrap(), &want, DType::F32, 6.0).unwrap();
}

/// Values worked out by hand from PyTorch's definition (and matching
/// `torch.nn.functional.conv_transpose2d`).
#[test]
fn matches_hand_computed_examples() {
    let dev = common::device();
    let x = dev.tensor(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    let w = dev.tensor(&[1, 1, 2, 2], &[1.0; 4]).unwrap();
    let cases: [(ConvTranspose2dParams, Vec<f32>); 3] = [
        // Stride 1: the overlapping sums.
        (
            params(1, 0, 0, 1, 1),
            vec![1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0],
        ),
        // Stride 2: each input becomes a 2x2 block.
        (
            params(2, 0, 0, 1, 1),
            vec![
                1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0,
            ],
        ),
        // Stride 2, padding 1 crops one ring; output_padding 1 adds a row and
        // a column at the bottom/right (zeros here: no input reaches them).
        (
            params(2, 1, 1, 1, 1),
            vec![1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 3.0, 4.0, 4.0],
        ),
    ];
    let dev = x.device().clone();
    for (p, want) in &cases {
        let geo = ConvTranspose2dGeometry::new("t", &[1, 1, 2, 2], &[1, 1, 2, 2], p).unwrap();
        let problem = ConvTranspose2dProblem {
            g: GatherGeometry::transposed(&geo),
            bias: false,
            activation: Activation::None,
            precision: Precision::F32,
        };
        for variant in conv_transpose::TABLE.supporting(&problem, dev.caps()) {
            let spec = ConvTranspose2dSpec {
                params: *p,
                variant: Some(variant),
                ..Default::default()
            };
            let y = conv_transpose::conv_transpose2d(&x, &w, None, &spec).unwrap();
            assert_eq!(&y.to_f32_vec().unwrap(), want, "{} {p:?}", variant.name);
            let r = reference::conv_transpose::conv_transpose2d(
                &geo,
                &[1.0, 2.0, 3.0, 4.0],
                &[1.0; 4],
                None,
                Activation::None,
            );
            let r: Vec<f32> = r.value.iter().map(|&v| v as f32).collect();
            assert_eq!(&r, want);
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let dev = common::device();
    let x = dev.tensor(&[1, 4, 3, 3], &[0.5; 36]).unwrap();
    let w = dev.tensor(&[4, 2, 3, 3], &[0.25; 72]).unwrap();
    let spec = ConvTranspose2dSpec::default();

    // Weight input channels differ from x's.
    let w3 = dev.tensor(&[3, 2, 3, 3], &[0.25; 54]).unwrap();
    let err = conv_transpose::conv_transpose2d(&x, &w3, None, &spec).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(
        err.to_string().contains("expected 3 input channels"),
        "{err}"
    );

    // output_padding must be smaller than stride or dilation.
    let bad = ConvTranspose2dSpec {
        params: ConvTranspose2dParams {
            stride: [2, 2],
            output_padding: [2, 0],
            ..Default::default()
        },
        ..Default::default()
    };
    let err = conv_transpose::conv_transpose2d(&x, &w, None, &bad).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("output_padding"), "{err}");

    // Groups must divide the input channels.
    let bad = ConvTranspose2dSpec {
        params: ConvTranspose2dParams {
            groups: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = conv_transpose::conv_transpose2d(&x, &w, None, &bad).unwrap_err();
    assert!(err.to_string().contains("divisible by groups"), "{err}");

    // Bias of the wrong length (C_out = 2 · groups = 2).
    let b = dev.tensor(&[4], &[0.0; 4]).unwrap();
    let err = conv_transpose::conv_transpose2d(&x, &w, Some(&b), &spec).unwrap_err();
    assert!(err.to_string().contains("bias: expected [2]"), "{err}");

    // Mixed dtypes.
    let wh = dev
        .upload_f32(&[4, 2, 3, 3], DType::F16, &[0.25; 72])
        .unwrap();
    let err = conv_transpose::conv_transpose2d(&x, &wh, None, &spec).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");

    // Output of the wrong shape, and an output aliasing the input.
    let out = dev.empty(&[1, 2, 4, 5], DType::F32).unwrap();
    let err = conv_transpose::conv_transpose2d_into(&x, &w, None, &spec, &out).unwrap_err();
    assert!(
        err.to_string().contains("output: expected [1, 2, 5, 5]"),
        "{err}"
    );
    let xx = dev.tensor(&[1, 2, 5, 5], &[0.5; 50]).unwrap();
    let w22 = dev.tensor(&[2, 2, 1, 1], &[0.5; 4]).unwrap();
    let err = conv_transpose::conv_transpose2d_into(&xx, &w22, None, &spec, &xx).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");

    // Native f16 requested for f32 tensors.
    let f16 = ConvTranspose2dSpec {
        precision: Some(Precision::F16),
        ..Default::default()
    };
    assert!(conv_transpose::conv_transpose2d(&x, &w, None, &f16).is_err());
    dev.check().unwrap();

    // gemm_col2im refuses images whose columns exceed the budget.
    let small = common::own_device(Some(8 << 10));
    let x = small.tensor(&[1, 1, 16, 16], &[0.5; 256]).unwrap();
    let w = small.tensor(&[1, 9, 3, 3], &[0.5; 81]).unwrap();
    let spec = ConvTranspose2dSpec {
        variant: Some(conv_transpose::GEMM_COL2IM),
        ..Default::default()
    };
    let geo =
        ConvTranspose2dGeometry::new("t", &[1, 1, 16, 16], &[1, 9, 3, 3], &spec.params).unwrap();
    let out = small.empty(&geo.out_shape(), DType::F32).unwrap();
    let err = conv_transpose::conv_transpose2d_into(&x, &w, None, &spec, &out).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("budget"), "{err}");
    let p = ConvTranspose2dProblem {
        g: GatherGeometry::transposed(&geo),
        bias: false,
        activation: Activation::None,
        precision: Precision::F32,
    };
    assert_eq!(conv_transpose::GEMM_COL2IM.scratch_bytes(&p, &small), 0);
    // The automatic choice never picks a variant that cannot run.
    let auto = conv_transpose::TABLE.choose(&small, &p);
    assert!(auto.check(&p, small.caps()).is_ok());
}

/// The packed-f16 reference round trip: outputs of f16 runs equal the f64
/// reference rounded to f16 on exactly representable problems.
#[test]
fn f16_integer_problems_are_exact() {
    let dev = common::device();
    let x: Vec<f32> = (0..2 * 3 * 4 * 5)
        .map(|i| ((i * 7) % 9) as f32 - 4.0)
        .collect();
    let w: Vec<f32> = (0..3 * 2 * 3 * 3)
        .map(|i| ((i * 5) % 7) as f32 - 3.0)
        .collect();
    let p = params(2, 1, 1, 1, 1);
    let geo = ConvTranspose2dGeometry::new("t", &[2, 3, 4, 5], &[3, 2, 3, 3], &p).unwrap();
    let want = reference::conv_transpose::conv_transpose2d(&geo, &x, &w, None, Activation::None);
    let exact = RefOut {
        value: want.value.clone(),
        scale: vec![0.0; want.len()],
    };
    for precision in [Precision::F16, Precision::F16Packed] {
        if precision == Precision::F16 && !dev.has(Feature::ShaderF16) {
            continue;
        }
        let problem = ConvTranspose2dProblem {
            g: GatherGeometry::transposed(&geo),
            bias: false,
            activation: Activation::None,
            precision,
        };
        for variant in conv_transpose::TABLE.supporting(&problem, dev.caps()) {
            let xt = dev.upload_f32(&[2, 3, 4, 5], DType::F16, &x).unwrap();
            let wt = dev.upload_f32(&[3, 2, 3, 3], DType::F16, &w).unwrap();
            let spec = ConvTranspose2dSpec {
                params: p,
                variant: Some(variant),
                precision: Some(precision),
                ..Default::default()
            };
            let y = conv_transpose::conv_transpose2d(&xt, &wt, None, &spec).unwrap();
            testing::compare(&y.to_f32_vec().unwrap(), &exact, DType::F16, 0.0)
                .unwrap_or_else(|e| panic!("{} {}: {e}", variant.name, precision.name()));
        }
    }
}
