//! Every WGSL file compiles (naga parses and validates it, the driver accepts it)
//! with each precision prelude it is used with.

mod common;

use weft::device::Feature;

#[test]
fn every_shader_compiles() {
    let dev = common::device();
    let mut compiled = 0;
    for shader in weft::kernels::registry::all_shaders() {
        if shader.uses_native_f16() && !dev.has(Feature::ShaderF16) {
            continue;
        }
        dev.compile(shader)
            .unwrap_or_else(|e| panic!("{}: {e}", shader.key()));
        compiled += 1;
    }
    eprintln!("{compiled} shaders compiled");
    assert!(compiled > 10);
}

/// A variant whose shader a driver rejects (simulated by overriding its
/// source) is disabled with the compiler's reason and another row of its
/// table runs in its place with the right values; asked for by name it is
/// the typed shader error; an op with a single kernel reports the error.
/// Never a panic or a wgpu validation abort.
/// Compiling every shader up front (what a browser page does, where a
/// compiler error arrives only after control returns) retires each row of
/// a table whose shader fails, at every precision it has, before any of
/// them runs; the op then runs a remaining row.
#[test]
fn compiling_up_front_retires_the_rows_whose_shader_fails() {
    use weft::device::DeviceOptions;
    use weft::kernels::gemm::{self, GemmSpec};
    use weft::kernels::registry;

    let broken = gemm::TABLE.get("vec4_8x8").unwrap().shaders[0].path();
    let dev = weft::Device::new(DeviceOptions {
        shader_overrides: vec![(broken.to_string(), "this is not WGSL".to_string())],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let prepared = pollster::block_on(registry::compile_and_retire(&dev));
    assert!(prepared.compiled > 100, "{}", prepared.compiled);
    assert!(!prepared.failed.is_empty());
    for (shader, reason) in &prepared.failed {
        assert!(shader.contains(broken), "{shader}");
        assert!(reason.contains(broken), "{reason}");
    }
    // Every row built on that body, at f32 (and f16 where the device has
    // it), and nothing else.
    assert!(
        prepared.retired.iter().any(|k| k == "gemm/vec4_8x8/f32"),
        "{:?}",
        prepared.retired
    );
    for key in &prepared.retired {
        let row = key.split('/').nth(1).unwrap();
        let uses = gemm::TABLE
            .get(row)
            .is_some_and(|v| v.shaders.iter().any(|s| s.path() == broken));
        assert!(uses, "{key} does not use {broken}");
        assert!(dev.variant_disabled(key).is_some(), "{key}");
    }
    assert_eq!(dev.dispatch_count(), 0, "nothing ran yet");
    // GEMM runs another row.
    let a = dev.tensor(&[32, 32], &[0.5; 32 * 32]).unwrap();
    let c = gemm::gemm(&a, &a, None, &GemmSpec::default()).unwrap();
    assert!(c.to_f32_vec().unwrap().iter().all(|&v| v == 8.0));
}

#[test]
fn a_shader_that_fails_to_compile_falls_back_to_another_variant() {
    use weft::device::DeviceOptions;
    use weft::kernels::gemm::{self, GemmSpec};
    use weft::{Error, Tensor};

    // Every GEMM body but the naive row's is broken.
    let naive = gemm::TABLE.get("naive").unwrap();
    let keep: Vec<&str> = naive.shaders.iter().map(|s| s.path()).collect();
    let mut overrides = Vec::new();
    for v in gemm::TABLE.variants {
        for s in v.shaders {
            let path = s.path();
            if !keep.contains(&path) && !overrides.iter().any(|(p, _)| p == path) {
                overrides.push((path.to_string(), "this is not WGSL".to_string()));
            }
        }
    }
    assert!(overrides.len() >= 3, "{overrides:?}");
    let dev = weft::Device::new(DeviceOptions {
        shader_overrides: overrides,
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();

    let (m, k, n) = (64, 64, 64);
    let mut rng = common::rng(7);
    let a_host = common::uniform(&mut rng, m * k, -1.0, 1.0);
    let b_host = common::uniform(&mut rng, k * n, -1.0, 1.0);
    let a = dev.tensor(&[m, k], &a_host).unwrap();
    let b = dev.tensor(&[k, n], &b_host).unwrap();
    for _ in 0..2 {
        let c: Tensor = gemm::gemm(&a, &b, None, &GemmSpec::default()).unwrap();
        let got = c.to_f32_vec().unwrap();
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| a_host[i * k + p] as f64 * b_host[p * n + j] as f64)
                    .sum();
                let scale: f64 = (0..k)
                    .map(|p| (a_host[i * k + p] as f64 * b_host[p * n + j] as f64).abs())
                    .sum();
                let err = (got[i * n + j] as f64 - want).abs();
                // f32 accumulation over k terms: k·2⁻²⁴ of Σ|a·b|.
                assert!(err <= k as f64 * 6e-8 * scale + 1e-30, "({i},{j}) {err}");
            }
        }
    }
    // The default row was disabled (once, not retried), with the compiler's
    // reason naming the file.
    let disabled = dev.disabled_variants();
    assert!(!disabled.is_empty());
    for (key, reason) in &disabled {
        assert!(key.starts_with("gemm/") && key.ends_with("/f32"), "{key}");
        assert!(
            reason.contains("gemm/") && reason.contains(".wgsl"),
            "{reason}"
        );
    }
    assert!(!disabled.iter().any(|(k, _)| k == "gemm/naive/f32"));

    // Asked for by name, a broken row is the typed error, not a fallback.
    let broken = gemm::TABLE
        .variants
        .iter()
        .find(|v| {
            v.shaders.iter().all(|s| !keep.contains(&s.path()))
                && v.precisions.contains(&weft::kernels::Precision::F32)
        })
        .unwrap();
    let spec = GemmSpec {
        variant: Some(broken),
        ..GemmSpec::default()
    };
    match gemm::gemm(&a, &b, None, &spec) {
        Err(Error::Shader(e)) => assert!(e.file.starts_with("gemm/"), "{e}"),
        other => panic!("expected a shader error, got {other:?}"),
    }

    // An op with one kernel: the typed error, naming the file.
    let dev = weft::Device::new(DeviceOptions {
        shader_overrides: vec![("elementwise/binary.wgsl".into(), "fn broken(".into())],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let x = dev.tensor(&[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    match weft::kernels::elementwise::add(&x, &x).and_then(|y| y.to_f32_vec()) {
        Err(Error::Shader(e)) => assert_eq!(e.file, "elementwise/binary.wgsl", "{e}"),
        other => panic!("expected a shader error, got {other:?}"),
    }
    // The device still works for everything else.
    let y = weft::kernels::elementwise::scale(&x, 2.0, 1.0).unwrap();
    assert_eq!(y.to_f32_vec().unwrap(), [3.0, 5.0, 7.0, 9.0]);
}
