//! Optimizer steps: SGD (plain, momentum, dampening, Nesterov, weight decay) and
//! Adam / AdamW (L2 and decoupled decay, both lerp branches), each over ≥ 100
//! random parameter shapes, five steps per shape with fresh gradients.
//!
//! After every step the GPU state (parameter, momentum buffer, exp_avg,
//! exp_avg_sq) must equal, bit for bit, an f32 CPU version doing the same
//! operations in the same order (`reference::optim::*_f32`). After the last
//! step it must match the f64 reference of torch.optim's update rules within
//! c·ε·scale, c = 2, where the scale accumulates over the steps each quantity's
//! magnitude and a few roundings of each update term
//! (`|w| + 8·lr·(|g| + wd·|w| + |buf|)` per SGD step; `|w| + |lr·wd·w| +
//! 16·|update|`, `4(|m| + |g|)` and `4(|v| + g²)` per Adam step): f32 rounds
//! each operation once and errors carry into later steps with weight ≤ 1.

mod common;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weft::device::{DeviceOptions, LimitOverrides};
use weft::kernels::optim::{self, AdamConfig, SgdConfig};
use weft::kernels::reference::{RefOut, optim as ref_optim};
use weft::kernels::testing;
use weft::{DType, Device, Error};

const STEPS: u32 = 5;

fn random_shape(rng: &mut ChaCha8Rng, i: usize) -> Vec<usize> {
    match i % 4 {
        0 => vec![rng.random_range(1..5000)],
        1 => vec![rng.random_range(1..40), rng.random_range(1..40)],
        2 => vec![
            rng.random_range(1..17),
            rng.random_range(1..9),
            [1, 3, 5][rng.random_range(0..3)],
            [1, 3, 7][rng.random_range(0..3)],
        ],
        _ => vec![[1, 2, 3, 7, 13, 33][rng.random_range(0..6)]],
    }
}

fn bits_eq(what: &str, got: &[f32], want: &[f32]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what} at {i}: gpu {g:e} cpu {w:e}"
        );
    }
}

fn compare(what: &str, got: &[f32], value: &[f64], scale: &[f64]) {
    let want = RefOut {
        value: value.to_vec(),
        scale: scale.to_vec(),
    };
    testing::compare(got, &want, DType::F32, 2.0).unwrap_or_else(|e| panic!("{what}:\n{e}"));
}

fn sgd_configs() -> Vec<SgdConfig> {
    let base = SgdConfig {
        lr: 0.05,
        ..Default::default()
    };
    vec![
        base,
        SgdConfig {
            weight_decay: 1e-2,
            ..base
        },
        SgdConfig {
            momentum: 0.9,
            ..base
        },
        SgdConfig {
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 5e-4,
            ..base
        },
        SgdConfig {
            momentum: 0.8,
            nesterov: true,
            ..base
        },
        SgdConfig {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-3,
            lr: 0.3,
            ..base
        },
    ]
}

#[test]
fn sgd_matches_cpu_bitwise_and_torch_rules() {
    let dev = common::device();
    let mut rng = common::rng(0x0971);
    let configs = sgd_configs();
    for i in 0..120 {
        let cfg = configs[i % configs.len()];
        let shape = random_shape(&mut rng, i);
        let n: usize = shape.iter().product();
        let w0 = common::uniform(&mut rng, n, -2.0, 2.0);
        let param = dev.tensor(&shape, &w0).unwrap();
        // NaN until the first step initialises it, as PyTorch creates it then.
        let buf = testing::poisoned(&dev, &shape, DType::F32).unwrap();
        let mut w32 = w0.clone();
        let mut b32 = vec![f32::NAN; n];
        let mut w64: Vec<f64> = w0.iter().map(|&v| v as f64).collect();
        let mut b64: Option<Vec<f64>> = None;
        let mut sw = vec![0.0f64; n];
        let mut sb = vec![0.0f64; n];
        let use_buf = cfg.momentum != 0.0;
        for step in 0..STEPS {
            let g = common::uniform(&mut rng, n, -1.0, 1.0);
            let gt = dev.tensor(&shape, &g).unwrap();
            let first = step == 0;
            optim::sgd_step(&param, &gt, use_buf.then_some(&buf), &cfg, first).unwrap();
            ref_optim::sgd_step_f32(&mut w32, &g, use_buf.then_some(&mut b32[..]), &cfg, first);
            let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
            let old_b = b64.clone();
            ref_optim::sgd_step_f64(&mut w64, &g64, &mut b64, &cfg);
            let (lr, wd, m) = (cfg.lr as f64, cfg.weight_decay as f64, cfg.momentum as f64);
            for j in 0..n {
                let bn = b64.as_ref().map_or(0.0, |b| b[j].abs());
                let bo = old_b.as_ref().map_or(0.0, |b| b[j].abs());
                sw[j] += w64[j].abs() + 8.0 * lr * (g64[j].abs() + wd * w64[j].abs() + bn + m * bo);
                sb[j] += 4.0 * (bn + m * bo + g64[j].abs() + wd * w64[j].abs());
            }
            let what = format!("sgd case {i} {shape:?} {cfg:?} step {}", step + 1);
            bits_eq(&format!("{what} param"), &param.to_f32_vec().unwrap(), &w32);
            if use_buf {
                bits_eq(
                    &format!("{what} momentum_buf"),
                    &buf.to_f32_vec().unwrap(),
                    &b32,
                );
            }
        }
        let what = format!("sgd case {i} {shape:?} {cfg:?} vs f64");
        compare(&what, &param.to_f32_vec().unwrap(), &w64, &sw);
        if let Some(b) = &b64 {
            compare(&what, &buf.to_f32_vec().unwrap(), b, &sb);
        }
    }
    eprintln!("sgd: 120 shapes x {STEPS} steps, bitwise equal to the f32 CPU version");
}

fn adam_configs() -> Vec<AdamConfig> {
    let base = AdamConfig {
        lr: 1e-2,
        ..Default::default()
    };
    vec![
        base,
        AdamConfig {
            weight_decay: 1e-2,
            ..base
        },
        AdamConfig::adamw(),
        AdamConfig {
            weight_decay: 0.1,
            decoupled_weight_decay: true,
            lr: 3e-3,
            ..base
        },
        // 1 - beta1 >= 0.5 takes lerp's other branch.
        AdamConfig {
            beta1: 0.3,
            beta2: 0.9,
            eps: 1e-3,
            ..base
        },
    ]
}

#[test]
fn adam_matches_cpu_bitwise_and_torch_rules() {
    let dev = common::device();
    let mut rng = common::rng(0x0972);
    let configs = adam_configs();
    for i in 0..120 {
        let cfg = configs[i % configs.len()];
        let shape = random_shape(&mut rng, i);
        let n: usize = shape.iter().product();
        let w0 = common::uniform(&mut rng, n, -2.0, 2.0);
        let param = dev.tensor(&shape, &w0).unwrap();
        let m = dev.tensor(&shape, &vec![0.0; n]).unwrap();
        let v = dev.tensor(&shape, &vec![0.0; n]).unwrap();
        let (mut w32, mut m32, mut v32) = (w0.clone(), vec![0.0f32; n], vec![0.0f32; n]);
        let mut w64: Vec<f64> = w0.iter().map(|&x| x as f64).collect();
        let (mut m64, mut v64) = (vec![0.0f64; n], vec![0.0f64; n]);
        let (mut sw, mut sm, mut sv) = (vec![0.0f64; n], vec![0.0f64; n], vec![0.0f64; n]);
        for step in 1..=STEPS {
            // Gradients of mixed magnitude, so that eps matters for some.
            let g: Vec<f32> = (0..n)
                .map(|_| rng.random_range(-1.0..1.0f32) * [1.0, 1e-3, 10.0][rng.random_range(0..3)])
                .collect();
            let gt = dev.tensor(&shape, &g).unwrap();
            optim::adam_step(&param, &gt, &m, &v, step, &cfg).unwrap();
            ref_optim::adam_step_f32(&mut w32, &g, &mut m32, &mut v32, step, &cfg);
            let w_before = w64.clone();
            let g64: Vec<f64> = g.iter().map(|&x| x as f64).collect();
            ref_optim::adam_step_f64(&mut w64, &g64, &mut m64, &mut v64, step, &cfg);
            let (lr, wd) = (cfg.lr as f64, cfg.weight_decay as f64);
            for j in 0..n {
                let update = (w64[j] - w_before[j]).abs();
                let geff = g64[j].abs() + wd * w_before[j].abs();
                sw[j] += w64[j].abs() + lr * wd * w_before[j].abs() + 16.0 * update;
                sm[j] += 4.0 * (m64[j].abs() + geff);
                sv[j] += 4.0 * (v64[j].abs() + geff * geff);
            }
            let what = format!("adam case {i} {shape:?} {cfg:?} step {step}");
            bits_eq(&format!("{what} param"), &param.to_f32_vec().unwrap(), &w32);
            bits_eq(&format!("{what} exp_avg"), &m.to_f32_vec().unwrap(), &m32);
            bits_eq(
                &format!("{what} exp_avg_sq"),
                &v.to_f32_vec().unwrap(),
                &v32,
            );
        }
        let what = format!("adam case {i} {shape:?} {cfg:?} vs f64");
        compare(&what, &param.to_f32_vec().unwrap(), &w64, &sw);
        compare(&what, &m.to_f32_vec().unwrap(), &m64, &sm);
        compare(&what, &v.to_f32_vec().unwrap(), &v64, &sv);
    }
    eprintln!("adam: 120 shapes x {STEPS} steps, bitwise equal to the f32 CPU version");
}

#[test]
fn windows_and_folded_grids() {
    // Small bindings (1 MiB) and at most 1,000 workgroups per dimension: a
    // 700,001-element step is three windows, each a folded 2-D grid.
    let small = Device::new(DeviceOptions {
        limits: LimitOverrides {
            max_storage_buffer_binding_size: Some(1 << 20),
            max_compute_workgroups_per_dimension: Some(1000),
            ..Default::default()
        },
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let mut rng = common::rng(0x0973);
    let n = 700_001;
    let w0 = common::uniform(&mut rng, n, -1.0, 1.0);
    let g = common::uniform(&mut rng, n, -1.0, 1.0);
    let cfg = AdamConfig::adamw();
    let param = small.tensor(&[n], &w0).unwrap();
    let gt = small.tensor(&[n], &g).unwrap();
    let m = small.tensor(&[n], &vec![0.0; n]).unwrap();
    let v = small.tensor(&[n], &vec![0.0; n]).unwrap();
    optim::adam_step(&param, &gt, &m, &v, 1, &cfg).unwrap();
    let (mut w32, mut m32, mut v32) = (w0.clone(), vec![0.0; n], vec![0.0; n]);
    ref_optim::adam_step_f32(&mut w32, &g, &mut m32, &mut v32, 1, &cfg);
    bits_eq("windowed adam", &param.to_f32_vec().unwrap(), &w32);
    let sgd = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..Default::default()
    };
    let param = small.tensor(&[n], &w0).unwrap();
    let buf = small.empty(&[n], DType::F32).unwrap();
    optim::sgd_step(&param, &gt, Some(&buf), &sgd, true).unwrap();
    let mut w32 = w0.clone();
    let mut b32 = vec![0.0; n];
    ref_optim::sgd_step_f32(&mut w32, &g, Some(&mut b32), &sgd, true);
    bits_eq("windowed sgd", &param.to_f32_vec().unwrap(), &w32);
    bits_eq("windowed sgd buffer", &buf.to_f32_vec().unwrap(), &b32);
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dev = common::device();
    let p = dev.tensor(&[4], &[1.0; 4]).unwrap();
    let g = dev.tensor(&[4], &[0.5; 4]).unwrap();
    let h = dev.upload_f32(&[4], DType::F16, &[0.5; 4]).unwrap();
    let cfg = SgdConfig::default();
    let err = optim::sgd_step(&p, &h, None, &cfg, true).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("f32"), "{err}");
    let hp = dev.upload_f32(&[4], DType::F16, &[0.5; 4]).unwrap();
    let err = optim::adam_step(&hp, &g, &p, &g, 1, &AdamConfig::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let g5 = dev.tensor(&[5], &[0.5; 5]).unwrap();
    let err = optim::sgd_step(&p, &g5, None, &cfg, true).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let mom = SgdConfig {
        momentum: 0.9,
        ..cfg
    };
    let err = optim::sgd_step(&p, &g, None, &mom, true).unwrap_err();
    assert!(err.to_string().contains("momentum_buf"), "{err}");
    let nest = SgdConfig {
        momentum: 0.9,
        dampening: 0.1,
        nesterov: true,
        ..cfg
    };
    let buf = dev.tensor(&[4], &[0.0; 4]).unwrap();
    let err = optim::sgd_step(&p, &g, Some(&buf), &nest, true).unwrap_err();
    assert!(err.to_string().contains("nesterov"), "{err}");
    let err = optim::sgd_step(&p, &g, Some(&p), &mom, true).unwrap_err();
    assert!(err.to_string().contains("share storage"), "{err}");
    let (m, v) = (
        dev.tensor(&[4], &[0.0; 4]).unwrap(),
        dev.tensor(&[4], &[0.0; 4]).unwrap(),
    );
    let err = optim::adam_step(&p, &g, &m, &v, 0, &AdamConfig::default()).unwrap_err();
    assert!(err.to_string().contains("1-based"), "{err}");
    let bad = AdamConfig {
        beta2: 1.0,
        ..Default::default()
    };
    let err = optim::adam_step(&p, &g, &m, &v, 1, &bad).unwrap_err();
    assert!(err.to_string().contains("beta2"), "{err}");
    let bad = SgdConfig { lr: -1.0, ..cfg };
    let err = optim::sgd_step(&p, &g, None, &bad, true).unwrap_err();
    assert!(err.to_string().contains("lr"), "{err}");
    dev.check().unwrap();
}
