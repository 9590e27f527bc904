//! The tuner a device is given: in [`TuneMode::OnFirstUse`] the first use of
//! an unrecorded problem class times every variant that can run it, records
//! the fastest, and still leaves the right result; recorded choices guide the
//! automatic choice; names that do not exist or cannot run the problem are
//! ignored; [`TuneMode::Off`] ignores what is recorded. (The command line's
//! file-backed tuner has its own tests in `tools/weft`.)

mod common;

use std::sync::Arc;

use weft::device::{DeviceOptions, MemoryTuner, TuneMode, Tuner};
use weft::kernels::gemm::{self, BiasMode, GemmDims, GemmProblem, GemmSpec};
use weft::kernels::{Activation, Precision, reference, testing};
use weft::{DType, Device, Tensor};

/// A device of its own with an in-memory tuner in `mode`.
fn device(mode: TuneMode) -> (Device, Arc<MemoryTuner>) {
    let tuner = Arc::new(MemoryTuner::new(mode));
    let dev = Device::new(DeviceOptions {
        tuner: tuner.clone(),
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    (dev, tuner)
}

fn problem(m: usize, n: usize, k: usize, trans_b: bool) -> GemmProblem {
    let b = if trans_b { [n, k] } else { [k, n] };
    GemmProblem {
        dims: GemmDims::infer(&[m, k], &b, false, trans_b).unwrap(),
        bias: BiasMode::None,
        activation: Activation::None,
        precision: Precision::F32,
    }
}

fn operands(dev: &Device) -> (Vec<f32>, Tensor, Vec<f32>, Tensor) {
    let mut rng = common::rng(51);
    let (a, at) = common::upload(dev, &mut rng, &[64, 64], DType::F32);
    let (b, bt) = common::upload(dev, &mut rng, &[64, 64], DType::F32);
    (a, at, b, bt)
}

#[test]
fn first_use_times_the_candidates_and_records_the_fastest() {
    let (dev, tuner) = device(TuneMode::OnFirstUse);
    let (a, at, b, bt) = operands(&dev);
    let p = problem(64, 64, 64, false);
    let key = gemm::TABLE.tune_key(&dev, &p);
    assert_eq!(tuner.lookup(&key), None);
    let out = testing::poisoned(&dev, &[64, 64], DType::F32).unwrap();
    let launches = dev.dispatch_count();
    gemm::gemm_into(&at, &bt, None, &GemmSpec::default(), &out).unwrap();
    // Every candidate ran (a warm-up and two timed runs), then the winner.
    let candidates = gemm::TABLE.supporting(&p, dev.caps()).len();
    assert!(candidates >= 4, "{candidates} candidates");
    assert!(dev.dispatch_count() - launches > 3 * candidates as u64);
    let want = reference::gemm::gemm(&p.dims, &a, &b, None, BiasMode::None, Activation::None);
    testing::compare(&out.to_f32_vec().unwrap(), &want, DType::F32, 20.0).unwrap();
    let chosen = tuner.lookup(&key).expect("the fastest was recorded");
    let row = gemm::TABLE.get(&chosen).expect("a row of the table");
    assert!(row.check(&p, dev.caps()).is_ok());
    assert_eq!(gemm::TABLE.choose(&dev, &p), row);
    // The second use runs the recorded choice alone.
    let launches = dev.dispatch_count();
    gemm::gemm_into(&at, &bt, None, &GemmSpec::default(), &out).unwrap();
    assert_eq!(dev.dispatch_count() - launches, 1);
    assert_eq!(tuner.choices().len(), 1);
}

#[test]
fn recorded_choices_guide_the_automatic_choice() {
    let (dev, tuner) = device(TuneMode::Cache);
    let p = problem(64, 64, 64, false);
    let default = gemm::TABLE.choose(&dev, &p);
    assert_ne!(default.name, "tiled");
    tuner.record(&gemm::TABLE.tune_key(&dev, &p), "tiled");
    assert_eq!(gemm::TABLE.choose(&dev, &p).name, "tiled");
    // The recorded row computes the result.
    let (a, at, b, bt) = operands(&dev);
    let out = testing::poisoned(&dev, &[64, 64], DType::F32).unwrap();
    gemm::gemm_into(&at, &bt, None, &GemmSpec::default(), &out).unwrap();
    let want = reference::gemm::gemm(&p.dims, &a, &b, None, BiasMode::None, Activation::None);
    testing::compare(&out.to_f32_vec().unwrap(), &want, DType::F32, 20.0).unwrap();
    // A name that is no row, or a row that cannot run the problem, is ignored.
    tuner.record(&gemm::TABLE.tune_key(&dev, &p), "no_such_variant");
    assert_eq!(gemm::TABLE.choose(&dev, &p), default);
    let transposed = problem(64, 64, 64, true);
    tuner.record(&gemm::TABLE.tune_key(&dev, &transposed), "vec4_8x8");
    let chosen = gemm::TABLE.choose(&dev, &transposed);
    assert_ne!(chosen.name, "vec4_8x8");
    assert!(chosen.check(&transposed, dev.caps()).is_ok());
}

#[test]
fn off_ignores_recorded_choices() {
    let (dev, tuner) = device(TuneMode::Off);
    let p = problem(64, 64, 64, false);
    let default = gemm::TABLE.choose(&dev, &p);
    tuner.record(&gemm::TABLE.tune_key(&dev, &p), "tiled");
    assert_eq!(gemm::TABLE.choose(&dev, &p), default);
    // Nothing is timed either: one launch.
    let (_, at, _, bt) = operands(&dev);
    let launches = dev.dispatch_count();
    gemm::gemm(&at, &bt, None, &GemmSpec::default()).unwrap();
    assert_eq!(dev.dispatch_count() - launches, 1);
}
