//! ONNX's own backend test data, shipped in the `onnx` wheel on PyPI: model
//! files with inputs and expected outputs that no one here wrote.
//! `tools/onnx-testdata` fetches it once into a cache (or set
//! `WEFT_ONNX_TESTDATA` to its `onnx/backend/test/data` directory).
//!
//! Every case either matches its stored output within ONNX's own tolerance
//! (|got − want| ≤ 1e-7 + rtol·|want|, rtol 1e-3 as the ONNX test runner
//! states it; 2e-3 for DenseNet) or is refused at import with a typed
//! `Unsupported` error. The cases listed in `MUST_PASS` must match.

mod common;

use std::path::{Path, PathBuf};

use weft_device::{DType, Device, Error};
use weft_onnx::{ImportOptions, import_file, read_tensor};

/// Cases weft runs today; each must match its reference output.
const MUST_PASS: &[&str] = &[
    "light/squeezenet",
    "light/vgg19",
    "light/resnet50",
    "light/densenet121",
    "light/bvlc_alexnet",
    "light/zfnet512",
    "light/inception_v1",
    "light/inception_v2",
    "light/shufflenet",
    "pytorch-converted/test_PixelShuffle",
    "pytorch-converted/test_ConstantPad2d",
    "pytorch-converted/test_ReflectionPad2d",
    "pytorch-converted/test_ReplicationPad2d",
    "pytorch-converted/test_ZeroPad2d",
    "pytorch-operator/test_operator_pad",
    "pytorch-operator/test_operator_permute2",
    "pytorch-converted/test_Conv2d",
    "pytorch-converted/test_Conv1d",
    "pytorch-converted/test_Conv1d_dilated",
    "pytorch-converted/test_Conv1d_groups",
    "pytorch-converted/test_Conv1d_pad1",
    "pytorch-converted/test_Conv1d_pad1size1",
    "pytorch-converted/test_Conv1d_pad2",
    "pytorch-converted/test_Conv1d_pad2size1",
    "pytorch-converted/test_Conv1d_stride",
    "pytorch-converted/test_MaxPool1d",
    "pytorch-converted/test_MaxPool1d_stride",
    "pytorch-converted/test_MaxPool1d_stride_padding_dilation",
    "pytorch-operator/test_operator_maxpool",
    "pytorch-operator/test_operator_non_float_params",
    "pytorch-operator/test_operator_reduced_mean",
    "pytorch-operator/test_operator_reduced_mean_keepdim",
    "pytorch-operator/test_operator_reduced_sum",
    "pytorch-operator/test_operator_reduced_sum_keepdim",
    "pytorch-converted/test_Conv3d",
    "pytorch-converted/test_Conv3d_dilated",
    "pytorch-converted/test_Conv3d_dilated_strided",
    "pytorch-converted/test_Conv3d_groups",
    "pytorch-converted/test_Conv3d_no_bias",
    "pytorch-converted/test_Conv3d_stride",
    "pytorch-converted/test_Conv3d_stride_padding",
    "pytorch-converted/test_AvgPool3d",
    "pytorch-converted/test_AvgPool3d_stride",
    "pytorch-converted/test_AvgPool3d_stride1_pad0_gpu_input",
    "pytorch-converted/test_MaxPool3d",
    "pytorch-converted/test_MaxPool3d_stride",
    "pytorch-converted/test_MaxPool3d_stride_padding",
    "pytorch-converted/test_Conv2d_depthwise",
    "pytorch-converted/test_Conv2d_depthwise_padded",
    "pytorch-converted/test_Conv2d_depthwise_strided",
    "pytorch-converted/test_Conv2d_depthwise_with_multiplier",
    "pytorch-converted/test_Conv2d_dilated",
    "pytorch-converted/test_Conv2d_groups",
    "pytorch-converted/test_Conv2d_groups_thnn",
    "pytorch-converted/test_Conv2d_no_bias",
    "pytorch-converted/test_Conv2d_padding",
    "pytorch-converted/test_Conv2d_strided",
    "pytorch-converted/test_AvgPool2d",
    "pytorch-converted/test_AvgPool2d_stride",
    "pytorch-converted/test_MaxPool2d",
    "pytorch-converted/test_MaxPool2d_stride_padding_dilation",
    "pytorch-converted/test_BatchNorm2d_eval",
    "pytorch-converted/test_BatchNorm2d_momentum_eval",
    "pytorch-converted/test_BatchNorm1d_3d_input_eval",
    "pytorch-converted/test_BatchNorm3d_eval",
    "pytorch-converted/test_ConvTranspose2d",
    "pytorch-converted/test_ConvTranspose2d_no_bias",
    "pytorch-operator/test_operator_conv",
    "pytorch-operator/test_operator_convtranspose",
    "pytorch-operator/test_operator_flatten",
    "pytorch-operator/test_operator_addconstant",
    "pytorch-converted/test_ReLU",
    "pytorch-converted/test_LeakyReLU",
    "pytorch-converted/test_LeakyReLU_with_negval",
    "pytorch-converted/test_ELU",
    "pytorch-converted/test_Sigmoid",
    "pytorch-converted/test_Tanh",
    "pytorch-converted/test_PReLU_2d",
    "pytorch-converted/test_PReLU_2d_multiparam",
    "pytorch-converted/test_Linear",
    "pytorch-converted/test_Linear_no_bias",
    "pytorch-converted/test_Softmax",
    "pytorch-converted/test_LogSoftmax",
    "pytorch-converted/test_AvgPool1d",
    "pytorch-converted/test_AvgPool1d_stride",
    "pytorch-converted/test_BatchNorm3d_momentum_eval",
    "pytorch-converted/test_PReLU_1d",
    "pytorch-converted/test_PReLU_1d_multiparam",
    "pytorch-converted/test_PReLU_3d",
    "pytorch-converted/test_PReLU_3d_multiparam",
    "pytorch-converted/test_log_softmax_dim3",
    "pytorch-converted/test_log_softmax_lastdim",
    "pytorch-converted/test_softmax_functional_dim3",
    "pytorch-converted/test_softmax_lastdim",
    "pytorch-operator/test_operator_clip",
];

fn data_dir() -> Option<PathBuf> {
    common::fetched("WEFT_ONNX_TESTDATA", "onnx-testdata")
}

/// One case: the model file, its input (None: ONNX's generated input for
/// the "light" models, `arange(n) / n`) and its expected output.
struct Case {
    name: String,
    model: PathBuf,
    input: Option<PathBuf>,
    output: PathBuf,
    rtol: f64,
}

fn cases(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut light: Vec<_> = std::fs::read_dir(root.join("light"))
        .expect("light models")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    light.sort();
    for model in light {
        let stem = model.file_stem().unwrap().to_string_lossy().to_string();
        let short = stem.trim_start_matches("light_").to_string();
        cases.push(Case {
            rtol: if short == "densenet121" { 2e-3 } else { 1e-3 },
            name: format!("light/{short}"),
            output: model.with_file_name(format!("{stem}_output_0.pb")),
            input: None,
            model,
        });
    }
    for group in ["pytorch-converted", "pytorch-operator"] {
        let mut dirs: Vec<_> = std::fs::read_dir(root.join(group))
            .expect("test directories")
            .flatten()
            .map(|e| e.path())
            .collect();
        dirs.sort();
        for dir in dirs {
            let set = dir.join("test_data_set_0");
            if !set.join("input_0.pb").exists() || set.join("input_1.pb").exists() {
                continue; // weft's networks take one input
            }
            cases.push(Case {
                name: format!("{group}/{}", dir.file_name().unwrap().to_string_lossy()),
                model: dir.join("model.onnx"),
                input: Some(set.join("input_0.pb")),
                output: set.join("output_0.pb"),
                rtol: 1e-3,
            });
        }
    }
    cases
}

enum Outcome {
    Pass { worst: f64 },
    Unsupported(String),
    Mismatch(String),
}

fn run(device: &Device, case: &Case) -> Outcome {
    let imported = match import_file(&case.model, &ImportOptions::default()) {
        Ok(m) => m,
        Err(e @ Error::Unsupported { .. }) => return Outcome::Unsupported(e.to_string()),
        Err(e) => return Outcome::Mismatch(format!("import failed: {e}")),
    };
    let per_sample = imported.input_shapes[0].clone();
    let (dims, x) = match &case.input {
        Some(p) => read_tensor(&std::fs::read(p).unwrap()).unwrap(),
        None => {
            let mut dims = vec![1];
            dims.extend_from_slice(&per_sample);
            let n: usize = dims.iter().product();
            let x = (0..n).map(|i| (i as f64 / n as f64) as f32).collect();
            (dims, x)
        }
    };
    let (want_dims, want) = read_tensor(&std::fs::read(&case.output).unwrap()).unwrap();
    if dims[1..] != per_sample[..] {
        return Outcome::Mismatch(format!("input dims {dims:?} vs imported {per_sample:?}"));
    }
    let mut model = match imported.into_model(device) {
        Ok(m) => m,
        Err(e) => return Outcome::Mismatch(format!("model: {e}")),
    };
    let input = device.upload_f32(&dims, DType::F32, &x).unwrap();
    let out = match model.forward(&[&input]) {
        Ok(o) => o,
        Err(e) => return Outcome::Mismatch(format!("forward: {e}")),
    };
    let got = device.read_f32(&out[0]).unwrap();
    // The shape itself, not just the count (a reshape that loses an axis
    // is a mismatch).
    if got.len() != want.len() || out[0].shape() != want_dims.as_slice() {
        return Outcome::Mismatch(format!(
            "output {:?} vs expected {want_dims:?}",
            out[0].shape()
        ));
    }
    let mut worst: f64 = 0.0;
    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let (g, w) = (g as f64, w as f64);
        if g == w || (g.is_nan() && w.is_nan()) {
            continue; // infinities and NaNs where the reference has them
        }
        let bound = 1e-7 + case.rtol * w.abs();
        let err = (g - w).abs();
        if err.is_nan() || err > bound {
            return Outcome::Mismatch(format!("element {i}: got {g}, want {w} (bound {bound:e})"));
        }
        worst = worst.max(err / bound);
    }
    Outcome::Pass { worst }
}

#[test]
fn onnx_backend_models_match_or_are_refused() {
    let Some(root) = data_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "ONNX test data unavailable (tools/onnx-testdata failed)"
        );
        eprintln!("skipped: ONNX test data unavailable and not in CI");
        return;
    };
    let device = Device::from_env().unwrap();
    let cases = cases(&root);
    assert!(
        cases.len() > 50,
        "found only {} cases under {root:?}",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    for case in &cases {
        match run(&device, case) {
            Outcome::Pass { worst } => {
                eprintln!("pass        {:55} worst {worst:.3} of the bound", case.name);
                passed.push(case.name.clone());
            }
            Outcome::Unsupported(why) => {
                eprintln!("unsupported {:55} {why}", case.name);
            }
            Outcome::Mismatch(why) => {
                eprintln!("MISMATCH    {:55} {why}", case.name);
                failures.push(format!("{}: {why}", case.name));
            }
        }
    }
    for name in MUST_PASS {
        if !passed.iter().any(|p| p == name) {
            failures.push(format!("{name}: expected to pass"));
        }
    }
    eprintln!("{} of {} cases pass", passed.len(), cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

mod errors {
    use onnx_rs::ast::*;
    use weft_device::Error;
    use weft_onnx::{ImportOptions, import};

    fn image_input<'a>(name: &'a str, dims: Vec<Dimension<'a>>) -> ValueInfo<'a> {
        ValueInfo {
            name,
            r#type: Some(TypeProto {
                value: Some(TypeValue::Tensor(TensorTypeProto {
                    elem_type: DataType::Float,
                    shape: Some(TensorShape {
                        dim: dims
                            .into_iter()
                            .map(|value| TensorShapeDimension {
                                value,
                                denotation: "",
                            })
                            .collect(),
                    }),
                })),
                denotation: "",
            }),
            ..Default::default()
        }
    }

    fn model<'a>(nodes: Vec<Node<'a>>, input: ValueInfo<'a>, output: &'a str) -> Vec<u8> {
        model_with(nodes, input, output, Vec::new())
    }

    fn model_with<'a>(
        nodes: Vec<Node<'a>>,
        input: ValueInfo<'a>,
        output: &'a str,
        initializer: Vec<TensorProto<'a>>,
    ) -> Vec<u8> {
        onnx_rs::encode(&Model {
            ir_version: 8,
            opset_import: vec![OperatorSetId {
                domain: "",
                version: 17,
            }],
            graph: Some(Graph {
                name: "g",
                node: nodes,
                initializer,
                input: vec![input],
                output: vec![ValueInfo {
                    name: output,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn nchw() -> Vec<Dimension<'static>> {
        vec![
            Dimension::Param("N"),
            Dimension::Value(3),
            Dimension::Value(8),
            Dimension::Value(8),
        ]
    }

    #[test]
    fn bytes_that_are_not_onnx_are_a_format_error() {
        for bytes in [&b"\x08"[..], &b"not an onnx file at all, just text"[..]] {
            match import(bytes, &ImportOptions::default()) {
                Err(Error::Format { message, .. }) => {
                    assert!(message.contains("ONNX"), "{message}")
                }
                other => panic!("expected a format error, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_unsupported_operator_is_named_with_its_node() {
        let bytes = model(
            vec![Node {
                name: "norm1",
                op_type: OpType::from("Einsum"),
                input: vec!["x"],
                output: vec!["y"],
                ..Default::default()
            }],
            image_input("x", nchw()),
            "y",
        );
        let err = import(&bytes, &ImportOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("norm1") && text.contains("Einsum"), "{text}");
    }

    fn ints(name: &'static str, ints: Vec<i64>) -> Attribute<'static> {
        Attribute {
            name,
            r#type: AttributeType::Ints,
            ints,
            ..Default::default()
        }
    }

    fn int(name: &'static str, i: i64) -> Attribute<'static> {
        Attribute {
            name,
            r#type: AttributeType::Int,
            i,
            ..Default::default()
        }
    }

    /// One node on `[2, 3, 8, 8]` images, with `w` as its initializer "w".
    fn window_model(
        op_type: OpType,
        attribute: Vec<Attribute<'static>>,
        w: Option<&[f32]>,
    ) -> Vec<u8> {
        let node = Node {
            name: "op",
            op_type,
            input: if w.is_some() {
                vec!["x", "w"]
            } else {
                vec!["x"]
            },
            output: vec!["y"],
            attribute,
            ..Default::default()
        };
        let initializer = w
            .map(|w| vec![TensorProto::from_f32("w", vec![4, 3, 3, 3], w.to_vec())])
            .unwrap_or_default();
        model_with(vec![node], image_input("x", nchw()), "y", initializer)
    }

    /// `[2, 3, 8, 8]` images through the imported model.
    fn run_on_images(bytes: &[u8], x: &[f32]) -> (Vec<usize>, Vec<f32>) {
        let dev = weft_device::Device::from_env().unwrap();
        let imported = import(bytes, &ImportOptions::default()).unwrap();
        let mut model = imported.into_model(&dev).unwrap();
        let xt = dev.tensor(&[2, 3, 8, 8], x).unwrap();
        let y = model.forward(&[&xt]).unwrap().remove(0);
        (y.shape().to_vec(), y.to_f32_vec().unwrap())
    }

    fn images() -> Vec<f32> {
        (0..2 * 3 * 64)
            .map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0)
            .collect()
    }

    /// ONNX's windows over `[batch, channels, 8, 8]` with pads `[top,
    /// left, bottom, right]`: `f(output channel, window)` for each output,
    /// the window as (index in the weights, value or None in the padding).
    fn windows(
        x: &[f32],
        [batch, channels]: [usize; 2],
        [k, stride]: [usize; 2],
        pads: [usize; 4],
        outputs: usize,
        mut f: impl FnMut(usize, &[(usize, Option<f32>)]) -> f64,
    ) -> Vec<f64> {
        let out = |len: usize, a: usize| (len + pads[a] + pads[a + 2] - k) / stride + 1;
        let (oh, ow) = (out(8, 0), out(8, 1));
        let mut y = Vec::new();
        for b in 0..batch {
            for o in 0..outputs {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut cells = Vec::new();
                        for c in 0..channels {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * stride + ky) as i64 - pads[0] as i64;
                                    let ix = (ox * stride + kx) as i64 - pads[1] as i64;
                                    let inside = (0..8).contains(&iy) && (0..8).contains(&ix);
                                    let v = inside.then(|| {
                                        x[((b * channels + c) * 8 + iy as usize) * 8 + ix as usize]
                                    });
                                    cells.push(((c * k + ky) * k + kx, v));
                                }
                            }
                        }
                        y.push(f(o, &cells));
                    }
                }
            }
        }
        y
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
            // f32 sums of at most 27 terms of size ≤ 1: well inside 1e-5.
            assert!((g as f64 - w).abs() <= 1e-5, "{what} [{k}]: {g} vs {w}");
        }
    }

    #[test]
    fn unequal_pads_run_exactly_with_a_padding_layer() {
        let x = images();
        // A maximum over −∞ padding: pads [1, 1, 0, 0].
        // A maximum over −∞ padding (pads [1, 1, 0, 0]) and an average that
        // counts its zero padding (pads [0, 0, 1, 1]).
        for (op, pads, counted) in [
            (OpType::MaxPool, [1, 1, 0, 0], None),
            (
                OpType::AveragePool,
                [0, 0, 1, 1],
                Some(int("count_include_pad", 1)),
            ),
        ] {
            let mut attrs = vec![
                ints("kernel_shape", vec![2, 2]),
                ints("pads", pads.iter().map(|&p| p as i64).collect()),
            ];
            attrs.extend(counted);
            let is_max = op == OpType::MaxPool;
            let (shape, got) = run_on_images(&window_model(op, attrs, None), &x);
            assert_eq!(shape, [2, 3, 8, 8]);
            // Six planes seen as a batch of one-channel images.
            let want = windows(&x, [6, 1], [2, 1], pads, 1, |_, cells| {
                let inside = cells.iter().filter_map(|&(_, v)| v.map(f64::from));
                if is_max {
                    inside.fold(f64::NEG_INFINITY, f64::max)
                } else {
                    inside.sum::<f64>() / 4.0
                }
            });
            assert_close(
                &got,
                &want,
                if is_max { "max pool" } else { "average pool" },
            );
        }

        // A convolution with SAME_UPPER at stride 2: 8 → 4 needs one pixel
        // of padding, after.
        let w: Vec<f32> = (0..4 * 27)
            .map(|i| ((i * 29) % 31) as f32 / 15.0 - 1.0)
            .collect();
        let bytes = window_model(
            OpType::Conv,
            vec![
                ints("kernel_shape", vec![3, 3]),
                ints("strides", vec![2, 2]),
                Attribute {
                    name: "auto_pad",
                    r#type: AttributeType::String,
                    s: b"SAME_UPPER",
                    ..Default::default()
                },
            ],
            Some(&w),
        );
        let (shape, got) = run_on_images(&bytes, &x);
        assert_eq!(shape, [2, 4, 4, 4]);
        let want = windows(&x, [2, 3], [3, 2], [0, 0, 1, 1], 4, |o, cells| {
            cells
                .iter()
                .map(|&(k, v)| v.unwrap_or(0.0) as f64 * w[o * 27 + k] as f64)
                .sum()
        });
        assert_close(&got, &want, "convolution");
    }

    /// 3-D pools in ceil mode with padding, counted and not, against
    /// ONNX's windows written out here (a box of 2×3×3 with stride 2, one
    /// pixel of padding per side, on 5×6×7 volumes): the two 2-D passes'
    /// separable counts give the box's own.
    #[test]
    fn pools_over_three_axes_follow_the_specification() {
        let (d, h, w) = (5usize, 6usize, 7usize);
        let x: Vec<f32> = (0..2 * d * h * w)
            .map(|i| ((i * 61) % 89) as f32 / 44.0 - 1.0)
            .collect();
        let dev = weft_device::Device::from_env().unwrap();
        let dims = || {
            [Dimension::Value(1), Dimension::Value(2)]
                .into_iter()
                .chain([d, h, w].map(|v| Dimension::Value(v as i64)))
                .collect()
        };
        let k = [2usize, 3, 3];
        for (op, counted) in [
            (OpType::AveragePool, 0),
            (OpType::AveragePool, 1),
            (OpType::MaxPool, 0),
        ] {
            let mut attrs = vec![
                ints("kernel_shape", k.map(|v| v as i64).to_vec()),
                ints("strides", vec![2, 2, 2]),
                ints("pads", vec![1; 6]),
                int("ceil_mode", 1),
            ];
            if op == OpType::AveragePool {
                attrs.push(int("count_include_pad", counted));
            }
            let node = Node {
                name: "pool",
                op_type: op.clone(),
                input: vec!["x"],
                output: vec!["y"],
                attribute: attrs,
                ..Default::default()
            };
            let bytes = model(vec![node], image_input("x", dims()), "y");
            let mut m = import(&bytes, &ImportOptions::default())
                .unwrap()
                .into_model(&dev)
                .unwrap();
            let xt = dev.tensor(&[1, 2, d, h, w], &x).unwrap();
            let y = m.forward(&[&xt]).unwrap().remove(0);
            // Ceil mode, PyTorch's rule: a last window must start inside the
            // input or its leading padding.
            let out = |len: usize, k: usize| {
                let mut o = (len + 2 - k).div_ceil(2) + 1;
                if (o - 1) * 2 > len {
                    o -= 1;
                }
                o
            };
            let o = [out(d, k[0]), out(h, k[1]), out(w, k[2])];
            assert_eq!(y.shape(), [1, 2, o[0], o[1], o[2]], "{op:?}");
            let got = y.to_f32_vec().unwrap();
            let mut at = 0;
            for c in 0..2 {
                for z in 0..o[0] {
                    for r in 0..o[1] {
                        for q in 0..o[2] {
                            let start = [z, r, q].map(|v| (v * 2) as i64 - 1);
                            let lens = [d, h, w].map(|v| v as i64);
                            // Windows end at the padded input's edge.
                            let stop = |a: usize| (start[a] + k[a] as i64).min(lens[a] + 1);
                            let (mut sum, mut max, mut valid) = (0.0f64, f64::NEG_INFINITY, 0);
                            let area: i64 = (0..3).map(|a| stop(a) - start[a]).product();
                            for zz in start[0]..stop(0) {
                                for rr in start[1]..stop(1) {
                                    for qq in start[2]..stop(2) {
                                        let inside = (0..lens[0]).contains(&zz)
                                            && (0..lens[1]).contains(&rr)
                                            && (0..lens[2]).contains(&qq);
                                        if inside {
                                            let i = ((c * d + zz as usize) * h + rr as usize) * w
                                                + qq as usize;
                                            sum += x[i] as f64;
                                            max = max.max(x[i] as f64);
                                            valid += 1;
                                        }
                                    }
                                }
                            }
                            let want = match (op == OpType::MaxPool, counted) {
                                (true, _) => max,
                                (_, 1) => sum / area as f64,
                                _ => sum / valid as f64,
                            };
                            let g = got[at] as f64;
                            assert!(
                                (g - want).abs() <= 1e-6,
                                "{op:?} counted {counted} at ({c}, {z}, {r}, {q}): {g} vs {want}"
                            );
                            at += 1;
                        }
                    }
                }
            }
        }
    }

    fn scalar_constant(output: &'static str, v: f32) -> Node<'static> {
        Node {
            name: output,
            op_type: OpType::Constant,
            output: vec![output],
            attribute: vec![Attribute {
                name: "value_float",
                r#type: AttributeType::Float,
                f: v,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn binary(
        op_type: OpType<'static>,
        a: &'static str,
        b: &'static str,
        out: &'static str,
    ) -> Node<'static> {
        Node {
            name: out,
            op_type,
            input: vec![a, b],
            output: vec![out],
            ..Default::default()
        }
    }

    /// `nn.GELU()` as PyTorch's exporter writes it before opset 20 (its
    /// constants inline, each before its reader): one GELU, against the f64
    /// formula; the same chain with another constant is refused by name
    /// (`Erf` alone is not an operator weft runs).
    #[test]
    fn pytorch_gelu_subgraph_is_one_gelu() {
        let gelu = |half: f32| {
            vec![
                scalar_constant("sqrt2", std::f32::consts::SQRT_2),
                binary(OpType::Div, "x", "sqrt2", "scaled"),
                Node {
                    name: "erf",
                    op_type: OpType::Erf,
                    input: vec!["scaled"],
                    output: vec!["erf"],
                    ..Default::default()
                },
                scalar_constant("one", 1.0),
                binary(OpType::Add, "erf", "one", "plus"),
                binary(OpType::Mul, "x", "plus", "times"),
                scalar_constant("half", half),
                binary(OpType::Mul, "times", "half", "y"),
            ]
        };
        let bytes = model(gelu(0.5), image_input("x", nchw()), "y");
        let imported = import(&bytes, &ImportOptions::default()).unwrap();
        let kinds: Vec<&str> = imported
            .graph
            .nodes()
            .iter()
            .filter_map(|n| n.layer.as_ref().map(|l| l.kind()))
            .collect();
        assert_eq!(kinds, ["GELU"], "one activation layer");
        let x = images();
        let (shape, got) = run_on_images(&bytes, &x);
        assert_eq!(shape, [2, 3, 8, 8]);
        for (k, (&g, &v)) in got.iter().zip(&x).enumerate() {
            let want = weft_kernels::reference::activation::forward(
                weft_kernels::Activation::Gelu,
                v as f64,
            );
            // GELU's kernel bound: a few ulps of |x|.
            assert!(
                (g as f64 - want).abs() <= 4e-7 * (1.0 + v.abs() as f64),
                "[{k}] {g} vs {want}"
            );
        }
        let err = import(
            &model(gelu(0.25), image_input("x", nchw()), "y"),
            &ImportOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Erf"), "{err}");
    }

    /// Reductions over the spatial axes, the channels, and a mix, kept or
    /// not, against the f64 reduction of the same `[2, 3, 8, 8]` images;
    /// over the batch, refused.
    #[test]
    fn reductions_over_any_sample_axes() {
        let x = images();
        for (op, axes, keep) in [
            (OpType::ReduceMean, vec![2, 3], 0),
            (OpType::ReduceMax, vec![1], 1),
            (OpType::ReduceMin, vec![-1, 1], 1),
            (OpType::ReduceSum, vec![2], 0),
            (OpType::ReduceMean, vec![1, 2, 3], 1),
        ] {
            let what = format!("{op:?} over {axes:?} keepdims {keep}");
            let sum = op == OpType::ReduceSum;
            let mut nodes = Vec::new();
            let mut inputs = vec!["x"];
            let mut attribute = vec![int("keepdims", keep)];
            if sum {
                // ReduceSum takes its axes as an input from opset 13.
                nodes.push(Node {
                    name: "axes",
                    op_type: OpType::Constant,
                    output: vec!["axes"],
                    attribute: vec![ints("value_ints", axes.clone())],
                    ..Default::default()
                });
                inputs.push("axes");
            } else {
                attribute.push(ints("axes", axes.clone()));
            }
            nodes.push(Node {
                name: "reduce",
                op_type: op.clone(),
                input: inputs,
                output: vec!["y"],
                attribute,
                ..Default::default()
            });
            let (shape, got) = run_on_images(&model(nodes, image_input("x", nchw()), "y"), &x);
            let reduced: Vec<usize> = axes.iter().map(|&a| a.rem_euclid(4) as usize).collect();
            let dims = [2usize, 3, 8, 8];
            let want_shape: Vec<usize> = (0..4)
                .filter_map(|a| match reduced.contains(&a) {
                    false => Some(dims[a]),
                    true => (keep == 1).then_some(1),
                })
                .collect();
            assert_eq!(shape, want_shape, "{what}");
            // The f64 reduction, output in row-major order of the kept axes.
            let mut want: Vec<Vec<f64>> = vec![Vec::new(); got.len()];
            for (i, &v) in x.iter().enumerate() {
                let idx = [i / 192, i / 64 % 3, i / 8 % 8, i % 8];
                let mut o = 0;
                for a in 0..4 {
                    if !reduced.contains(&a) {
                        o = o * dims[a] + idx[a];
                    }
                }
                want[o].push(v as f64);
            }
            for (k, (g, vals)) in got.iter().zip(&want).enumerate() {
                let w = match op {
                    OpType::ReduceMax => vals.iter().cloned().fold(f64::MIN, f64::max),
                    OpType::ReduceMin => vals.iter().cloned().fold(f64::MAX, f64::min),
                    OpType::ReduceSum => vals.iter().sum(),
                    _ => vals.iter().sum::<f64>() / vals.len() as f64,
                };
                let bound = 1e-6 * vals.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
                assert!((*g as f64 - w).abs() <= bound, "{what} [{k}]: {g} vs {w}");
            }
        }
        let batch = model(
            vec![Node {
                name: "reduce",
                op_type: OpType::ReduceMean,
                input: vec!["x"],
                output: vec!["y"],
                attribute: vec![ints("axes", vec![0])],
                ..Default::default()
            }],
            image_input("x", nchw()),
            "y",
        );
        let err = import(&batch, &ImportOptions::default()).unwrap_err();
        assert!(err.to_string().contains("batch"), "{err}");
    }

    /// `MatMul` of `[N, 3, 8, 8]` images by a `[8, 5]` constant: a linear
    /// layer over the last axis, against the f64 product.
    #[test]
    fn matmul_over_the_last_axis_of_any_rank() {
        let x = images();
        let b: Vec<f32> = (0..40)
            .map(|i| ((i * 17) % 23) as f32 / 11.0 - 1.0)
            .collect();
        let node = binary(OpType::MatMul, "x", "b", "y");
        let weights = vec![TensorProto::from_f32("b", vec![8, 5], b.clone())];
        let bytes = model_with(vec![node], image_input("x", nchw()), "y", weights);
        let (shape, got) = run_on_images(&bytes, &x);
        assert_eq!(shape, [2, 3, 8, 5]);
        for (k, g) in got.iter().enumerate() {
            let (row, col) = (k / 5, k % 5);
            let want: f64 = (0..8)
                .map(|i| x[row * 8 + i] as f64 * b[i * 5 + col] as f64)
                .sum();
            assert!((*g as f64 - want).abs() <= 1e-5, "[{k}] {g} vs {want}");
        }
    }

    /// Arithmetic of activations that broadcast, as exported from
    /// `(x - x.mean((2, 3), keepdim=True)) / s + s` with `s =
    /// x.amax(1, keepdim=True).sigmoid()`: a per-sample, per-channel mean
    /// subtracted, a `[N, 1, H, W]` plane divided into and added from the
    /// left; against the same arithmetic in f64.
    #[test]
    fn activations_broadcast_in_arithmetic() {
        let x = images();
        let reduce = |op: OpType<'static>, axes: Vec<i64>, out: &'static str| Node {
            name: out,
            op_type: op,
            input: vec!["x"],
            output: vec![out],
            attribute: vec![ints("axes", axes), int("keepdims", 1)],
            ..Default::default()
        };
        let nodes = vec![
            reduce(OpType::ReduceMean, vec![2, 3], "mean"),
            binary(OpType::Sub, "x", "mean", "centred"),
            reduce(OpType::ReduceMax, vec![1], "peak"),
            Node {
                name: "s",
                op_type: OpType::Sigmoid,
                input: vec!["peak"],
                output: vec!["s"],
                ..Default::default()
            },
            binary(OpType::Div, "centred", "s", "scaled"),
            binary(OpType::Add, "s", "scaled", "y"),
        ];
        let (shape, got) = run_on_images(&model(nodes, image_input("x", nchw()), "y"), &x);
        assert_eq!(shape, [2, 3, 8, 8]);
        let at = |b: usize, c: usize, p: usize| x[(b * 3 + c) * 64 + p] as f64;
        for b in 0..2 {
            for c in 0..3 {
                let mean = (0..64).map(|p| at(b, c, p)).sum::<f64>() / 64.0;
                for p in 0..64 {
                    let peak = (0..3).map(|k| at(b, k, p)).fold(f64::MIN, f64::max);
                    let s = 1.0 / (1.0 + (-peak).exp());
                    let want = (at(b, c, p) - mean) / s + s;
                    let g = got[(b * 3 + c) * 64 + p] as f64;
                    assert!(
                        (g - want).abs() <= 2e-6 * (1.0 + want.abs()),
                        "({b}, {c}, {p}): {g} vs {want}"
                    );
                }
            }
        }
        // Shapes that do not broadcast to one of the operands: named.
        let nodes = vec![
            reduce(OpType::ReduceMean, vec![2], "rows"),
            reduce(OpType::ReduceMean, vec![3], "cols"),
            binary(OpType::Mul, "rows", "cols", "y"),
        ];
        let err = import(
            &model(nodes, image_input("x", nchw()), "y"),
            &ImportOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("broadcast"), "{err}");
    }

    /// Constants of any broadcasting shape on either side: a `[1, 3, 8, 8]`
    /// positional bias added, `row − x` with a `[8]` row (NumPy aligns it
    /// with the width), and a division by a `[1, 1, 8, 1]` column; against
    /// the same arithmetic in f64.
    #[test]
    fn constants_of_any_broadcasting_shape() {
        let x = images();
        let pos: Vec<f32> = (0..192)
            .map(|i| ((i * 7) % 13) as f32 / 6.0 - 1.0)
            .collect();
        let row: Vec<f32> = (0..8).map(|i| i as f32 * 0.25 - 1.0).collect();
        let col: Vec<f32> = (0..8).map(|i| 0.5 + i as f32 * 0.125).collect();
        let nodes = vec![
            binary(OpType::Add, "x", "pos", "a"),
            binary(OpType::Sub, "row", "a", "b"),
            binary(OpType::Div, "b", "col", "y"),
        ];
        let weights = vec![
            TensorProto::from_f32("pos", vec![1, 3, 8, 8], pos.clone()),
            TensorProto::from_f32("row", vec![8], row.clone()),
            TensorProto::from_f32("col", vec![1, 1, 8, 1], col.clone()),
        ];
        let bytes = model_with(nodes, image_input("x", nchw()), "y", weights);
        let (shape, got) = run_on_images(&bytes, &x);
        assert_eq!(shape, [2, 3, 8, 8]);
        for (i, &g) in got.iter().enumerate() {
            let (c, r, q) = (i / 64 % 3, i / 8 % 8, i % 8);
            let a = x[i] as f64 + pos[c * 64 + r * 8 + q] as f64;
            let want = (row[q] as f64 - a) / col[r] as f64;
            assert!(
                (g as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "[{i}] {g} vs {want}"
            );
        }
    }

    /// Hand-made abuse (an abuse run's findings, kept as regressions): each a
    /// typed error naming the node and attribute, none a panic, a hang or a
    /// huge allocation.
    #[test]
    fn malformed_models_are_typed_errors() {
        let float = |name: &'static str, f: f32| Attribute {
            name,
            r#type: AttributeType::Float,
            f,
            ..Default::default()
        };
        let one = |op: OpType<'static>, inputs: Vec<&'static str>, attribute| Node {
            name: "n",
            op_type: op,
            input: inputs,
            output: vec!["y"],
            attribute,
            ..Default::default()
        };
        let huge = vec![
            Dimension::Param("N"),
            Dimension::Value(3),
            Dimension::Value(1 << 31),
            Dimension::Value(1 << 31),
        ];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            // A Concat of nothing, on constants.
            (
                model(
                    vec![
                        one(OpType::Concat, vec![], vec![int("axis", 0)]),
                        binary(OpType::Add, "x", "y", "z"),
                    ],
                    image_input("x", nchw()),
                    "z",
                ),
                "Concat",
            ),
            (
                model(
                    vec![one(
                        OpType::LeakyRelu,
                        vec!["x"],
                        vec![float("alpha", f32::INFINITY)],
                    )],
                    image_input("x", nchw()),
                    "y",
                ),
                "alpha",
            ),
            (
                model(
                    vec![one(
                        OpType::Transpose,
                        vec!["x"],
                        vec![ints("perm", vec![0, 0, 1, 2])],
                    )],
                    image_input("x", nchw()),
                    "y",
                ),
                "perm",
            ),
            (
                model(
                    vec![one(OpType::Relu, vec!["x"], vec![])],
                    image_input("x", huge),
                    "y",
                ),
                "2^31",
            ),
            // Resize to 2^40 rows: refused before any per-pixel check.
            (
                resize_model_in(
                    vec![("sizes", vec![2, 3, 1 << 40, 8], false)],
                    vec!["x", "", "", "sizes"],
                    ("nearest", "asymmetric", "floor"),
                ),
                "2^31",
            ),
        ];
        for (bytes, want) in cases {
            let err = import(&bytes, &ImportOptions::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "wants {want}: {err}");
        }
        // Weights whose channels do not fit the input.
        let w: Vec<f32> = vec![0.0; 4 * 3 * 3 * 3];
        let bad = window_model(
            OpType::Conv,
            vec![ints("kernel_shape", vec![3, 3])],
            Some(&w),
        );
        let err = import(
            &bad,
            &ImportOptions {
                input_shape: Some(vec![2, 8, 8]),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("channels"), "{err}");
    }

    #[test]
    fn an_average_that_ignores_unequal_padding_is_refused_not_approximated() {
        let bytes = window_model(
            OpType::AveragePool,
            vec![
                ints("kernel_shape", vec![2, 2]),
                ints("pads", vec![1, 1, 0, 0]),
            ],
            None,
        );
        let err = import(&bytes, &ImportOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::Unsupported { .. }) && err.to_string().contains("pads"),
            "{err}"
        );
    }

    /// Named constants: (name, values, as floats in hundredths).
    type Constants = Vec<(&'static str, Vec<i64>, bool)>;

    /// (constants, inputs, output size, ONNX's scale per axis)
    type NearestCase = (Constants, Vec<&'static str>, [usize; 2], [f64; 2]);

    /// A linear `Resize` with `inputs` (X, roi, scales, sizes as named
    /// constants) and `coords`, to `[N, 3, 8, 8]` images.
    fn resize_model(
        constants: Vec<(&'static str, Vec<i64>, bool)>,
        inputs: Vec<&'static str>,
        coords: &'static str,
    ) -> Vec<u8> {
        resize_model_in(constants, inputs, ("linear", coords, "round_prefer_floor"))
    }

    /// `Resize` in (mode, coordinate mode, nearest mode).
    fn resize_model_in(
        constants: Vec<(&'static str, Vec<i64>, bool)>,
        inputs: Vec<&'static str>,
        (mode, coords, rounding): (&'static str, &'static str, &'static str),
    ) -> Vec<u8> {
        let mut nodes: Vec<Node<'static>> = constants
            .into_iter()
            .map(|(name, values, float)| Node {
                name,
                op_type: OpType::Constant,
                output: vec![name],
                attribute: vec![if float {
                    Attribute {
                        name: "value_floats",
                        r#type: AttributeType::Floats,
                        floats: values.iter().map(|&v| v as f32 / 100.0).collect(),
                        ..Default::default()
                    }
                } else {
                    Attribute {
                        name: "value_ints",
                        r#type: AttributeType::Ints,
                        ints: values,
                        ..Default::default()
                    }
                }],
                ..Default::default()
            })
            .collect();
        nodes.push(Node {
            name: "resize",
            op_type: OpType::Resize,
            input: inputs,
            output: vec!["y"],
            attribute: vec![
                Attribute {
                    name: "mode",
                    r#type: AttributeType::String,
                    s: mode.as_bytes(),
                    ..Default::default()
                },
                Attribute {
                    name: "coordinate_transformation_mode",
                    r#type: AttributeType::String,
                    s: coords.as_bytes(),
                    ..Default::default()
                },
                Attribute {
                    name: "nearest_mode",
                    r#type: AttributeType::String,
                    s: rounding.as_bytes(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        model(nodes, image_input("x", nchw()), "y")
    }

    /// Bilinear `Resize` to sizes, and by scales whose output is not whole
    /// (the floor of 8·scale), by unequal, fractional factors (up and down)
    /// against the ONNX specification's formula written out here: `x_orig =
    /// (x + 0.5)/scale − 0.5` (half_pixel; scale = out/in for sizes) or
    /// `x·(in−1)/(out−1)` (align_corners), clamped, linear between the two
    /// nearest pixels. Other coordinate modes are refused.
    #[test]
    fn linear_resize_to_any_whole_size_follows_the_specification() {
        let dev = weft_device::Device::from_env().unwrap();
        // (coordinates, output, scales in hundredths or None for sizes);
        // the scales give fractional outputs (8·1.7 = 13.6 → 13).
        for (coords, out, scales) in [
            ("half_pixel", [11, 5], None),
            ("align_corners", [13, 6], None),
            ("pytorch_half_pixel", [3, 12], None),
            ("half_pixel", [13, 4], Some([100, 100, 170, 55])),
            ("pytorch_half_pixel", [4, 13], Some([100, 100, 55, 170])),
            ("align_corners", [13, 2], Some([100, 100, 170, 30])),
        ] {
            let bytes = match scales {
                None => resize_model(
                    vec![("sizes", vec![2, 3, out[0], out[1]], false)],
                    vec!["x", "", "", "sizes"],
                    coords,
                ),
                Some(q) => resize_model(
                    vec![("roi", vec![], true), ("scales", q.to_vec(), true)],
                    vec!["x", "roi", "scales"],
                    coords,
                ),
            };
            // ONNX's scale per axis.
            let scale = |a: usize| match scales {
                None => out[a] as f64 / 8.0,
                Some(q) => (q[2 + a] as f32 / 100.0) as f64,
            };
            let imported = import(&bytes, &ImportOptions::default()).unwrap();
            let mut model = imported.into_model(&dev).unwrap();
            let x: Vec<f32> = (0..2 * 3 * 64)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let xt = dev.tensor(&[2, 3, 8, 8], &x).unwrap();
            let y = model.forward(&[&xt]).unwrap().remove(0);
            let (oh, ow) = (out[0] as usize, out[1] as usize);
            assert_eq!(y.shape(), [2, 3, oh, ow], "{coords}");
            let src = |o: usize, a: usize| -> f64 {
                let len = [oh, ow][a];
                let v = if coords == "align_corners" {
                    o as f64 * 7.0 / (len - 1) as f64
                } else {
                    (o as f64 + 0.5) / scale(a) - 0.5
                };
                v.clamp(0.0, 7.0)
            };
            let got = y.to_f32_vec().unwrap();
            for plane in 0..6 {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (sy, sx) = (src(oy, 0), src(ox, 1));
                        let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
                        let (y1, x1) = ((y0 + 1).min(7), (x0 + 1).min(7));
                        let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
                        let at = |r: usize, c: usize| x[plane * 64 + r * 8 + c] as f64;
                        let want = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x1))
                            + fy * ((1.0 - fx) * at(y1, x0) + fx * at(y1, x1));
                        let g = got[(plane * oh + oy) * ow + ox] as f64;
                        assert!(
                            (g - want).abs() <= 1e-6,
                            "{coords} {out:?} ({oy}, {ox}): {g} vs {want}"
                        );
                    }
                }
            }
        }
        // Scales 1.25 × 0.75 on 8×8 give whole sizes (10×6): accepted; the
        // same with `asymmetric` coordinates (not weft's mapping): refused.
        let ok = resize_model(
            vec![
                ("roi", vec![], true),
                ("scales", vec![100, 100, 125, 75], true),
            ],
            vec!["x", "roi", "scales"],
            "half_pixel",
        );
        let imported = import(&ok, &ImportOptions::default()).unwrap();
        let y = imported.graph.outputs()[0];
        assert_eq!(imported.graph.shape(y), [3, 10, 6]);
        let bad = resize_model(
            vec![
                ("roi", vec![], true),
                ("scales", vec![100, 100, 125, 75], true),
            ],
            vec!["x", "roi", "scales"],
            "asymmetric",
        );
        let err = import(&bad, &ImportOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::Unsupported { .. }) && err.to_string().contains("resizing"),
            "{err}"
        );
    }

    /// Nearest `Resize` by unequal, fractional factors against ONNX's
    /// formula written out here: PyTorch's export (`asymmetric`, `floor`)
    /// to sizes and by scales, `x_orig = x / scale`; a mapping weft's
    /// nearest does not read (`half_pixel`, `round_prefer_ceil` at 8 → 13)
    /// is refused, naming the pixel.
    #[test]
    fn nearest_resize_to_any_size_follows_the_specification() {
        let x = images();
        let cases: [NearestCase; 2] = [
            (
                vec![("sizes", vec![2, 3, 13, 5], false)],
                vec!["x", "", "", "sizes"],
                [13, 5],
                [13.0 / 8.0, 5.0 / 8.0],
            ),
            (
                // Scales 2.5 × 0.75: 8 → 20, 8 → 6.
                vec![
                    ("roi", vec![], true),
                    ("scales", vec![100, 100, 250, 75], true),
                ],
                vec!["x", "roi", "scales"],
                [20, 6],
                [2.5, 0.75],
            ),
        ];
        for (constants, inputs, out, scale) in cases {
            let bytes = resize_model_in(constants, inputs, ("nearest", "asymmetric", "floor"));
            let (shape, got) = run_on_images(&bytes, &x);
            assert_eq!(shape, [2, 3, out[0], out[1]]);
            let src = |o: usize, a: usize| ((o as f64 / scale[a]).floor() as usize).min(7);
            for plane in 0..6 {
                for oy in 0..out[0] {
                    for ox in 0..out[1] {
                        let want = x[plane * 64 + src(oy, 0) * 8 + src(ox, 1)];
                        let g = got[(plane * out[0] + oy) * out[1] + ox];
                        assert_eq!(g, want, "{out:?} ({oy}, {ox})");
                    }
                }
            }
        }
        let bad = resize_model_in(
            vec![("sizes", vec![2, 3, 13, 8], false)],
            vec!["x", "", "", "sizes"],
            ("nearest", "half_pixel", "round_prefer_ceil"),
        );
        let err = import(&bad, &ImportOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::Unsupported { .. }) && err.to_string().contains("output pixel"),
            "{err}"
        );
    }

    #[test]
    fn symbolic_image_sizes_ask_for_the_input_shape() {
        let relu = || {
            vec![Node {
                op_type: OpType::Relu,
                input: vec!["x"],
                output: vec!["y"],
                ..Default::default()
            }]
        };
        let dims = vec![
            Dimension::Param("N"),
            Dimension::Value(3),
            Dimension::Param("H"),
            Dimension::Param("W"),
        ];
        let bytes = model(relu(), image_input("x", dims), "y");
        let err = import(&bytes, &ImportOptions::default()).unwrap_err();
        assert!(err.to_string().contains("--input-shape"), "{err}");
        let ok = import(
            &bytes,
            &ImportOptions {
                input_shape: Some(vec![3, 16, 16]),
            },
        )
        .unwrap();
        assert_eq!(ok.input_shapes, vec![vec![3, 16, 16]]);
    }

    #[test]
    fn an_input_nothing_produces_is_an_error() {
        let bytes = model(
            vec![Node {
                op_type: OpType::Add,
                input: vec!["x", "ghost"],
                output: vec!["y"],
                ..Default::default()
            }],
            image_input("x", nchw()),
            "y",
        );
        let err = import(&bytes, &ImportOptions::default()).unwrap_err();
        assert!(err.to_string().contains("ghost"), "{err}");
    }
}
