//! weft within the limits every WebGPU implementation guarantees (8 storage
//! buffers per kernel, 128 MiB per binding, 256 MiB per buffer, 256
//! invocations per workgroup): networks from the zoo run forward and take a
//! training step on a native device held to those limits, so a browser that
//! grants nothing more runs them too. Each result is compared with the same
//! network on the unrestricted device (the kernels chosen may differ, so
//! within 1e-4 of the output's largest magnitude, and the losses within
//! 1e-4 relative).

mod common;

use weft::device::LimitOverrides;
use weft::graph::{Graph, Loss, LrSchedule, Model, Optimizer, OptimizerKind, models};
use weft::{Device, DeviceOptions};

fn webgpu_device() -> Device {
    Device::new(DeviceOptions {
        limits: LimitOverrides::webgpu_defaults(),
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap()
}

/// Outputs of a forward pass in evaluation mode, and the loss of one SGD
/// step from the same weights, on `dev`.
fn run(dev: &Device, graph: Graph, input: &[usize], train: bool) -> (Vec<f32>, Option<f32>) {
    let mut rng = common::rng(0x3e6);
    let x_host = common::uniform(&mut rng, input.iter().product(), -1.0, 1.0);
    let x = dev.tensor(input, &x_host).unwrap();
    let mut model = Model::new(dev, graph, 5).unwrap();
    model.eval();
    let y = model.forward(&[&x]).unwrap()[0].to_f32_vec().unwrap();
    if !train {
        return (y, None);
    }
    model.train();
    let mut opt = Optimizer::new(
        dev,
        model.graph(),
        OptimizerKind::sgd(0.01, 0.9, 0.0),
        LrSchedule::Constant,
    )
    .unwrap();
    let targets = dev.tensor_i32(&[input[0]], &vec![3; input[0]]).unwrap();
    let loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    let out = model.train_step(&[&x], &targets, &loss, &mut opt).unwrap();
    (y, Some(out.loss.to_f32_vec().unwrap()[0]))
}

/// A network: its name, how to build it, its input, and whether to train it.
type Case = (&'static str, fn() -> Graph, [usize; 4], bool);

#[test]
fn networks_run_within_webgpu_default_limits() {
    let limited = webgpu_device();
    let full = common::device();
    assert_eq!(
        limited.caps().limits.max_storage_buffers_per_shader_stage,
        8
    );
    let cases: [Case; 4] = [
        (
            "resnet18",
            || models::resnet18(10, 32).unwrap(),
            [2, 3, 32, 32],
            true,
        ),
        (
            "mobilenet_v2",
            || models::mobilenet_v2(10, 32).unwrap(),
            [2, 3, 32, 32],
            true,
        ),
        (
            "googlenet",
            || models::googlenet(10, 32).unwrap(),
            [1, 3, 32, 32],
            false,
        ),
        (
            "unet",
            || models::unet(3, 2, 8, 2, 32).unwrap(),
            [1, 3, 32, 32],
            false,
        ),
    ];
    for (name, graph, input, train) in cases {
        let (y, loss) = run(&limited, graph(), &input, train);
        let (want, want_loss) = run(&full, graph(), &input, train);
        let mag = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = y
            .iter()
            .zip(&want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 1e-4 * mag,
            "{name}: outputs differ by {err} (largest {mag})"
        );
        if let (Some(l), Some(w)) = (loss, want_loss) {
            assert!(
                l.is_finite() && (l - w).abs() <= 1e-4 * w.abs(),
                "{name}: loss {l} vs {w}"
            );
        }
        eprintln!("{name}: within WebGPU's default limits, outputs within {err:.2e} of {mag:.2e}");
    }
}
