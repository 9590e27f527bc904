//! The device layer on a real adapter: transfers, the pool, launches over folded
//! grids and binding windows, typed errors, embedding and timing.

mod common;

use std::time::{Duration, Instant};

use rand::Rng;
use weft::device::{
    Binding, DType, Device, DeviceOptions, Error, Feature, Kernel, LimitOverrides, Shader,
    ShaderFile, Tensor,
};

const GRID: ShaderFile = ShaderFile {
    path: "common/grid.wgsl",
    text: include_str!("../shaders/common/grid.wgsl"),
};
static SCALE_ADD: Shader = Shader {
    includes: &[GRID],
    body: ShaderFile {
        path: "fixtures/scale_add.wgsl",
        text: include_str!("fixtures/scale_add.wgsl"),
    },
};
static TABLE_LOOKUP: Shader = Shader {
    includes: &[GRID],
    body: ShaderFile {
        path: "fixtures/table_lookup.wgsl",
        text: include_str!("fixtures/table_lookup.wgsl"),
    },
};
static BROKEN: Shader = Shader::single(ShaderFile {
    path: "fixtures/broken.wgsl",
    text: include_str!("fixtures/broken.wgsl"),
});
static HALF_DOUBLE: Shader = Shader::single(ShaderFile {
    path: "fixtures/half_double.wgsl",
    text: include_str!("fixtures/half_double.wgsl"),
});

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ScaleAdd {
    n: u32,
    a: f32,
    b: f32,
    _pad: u32,
}

/// y = x * a + b, over the whole tensor in one launch.
fn scale_add(dev: &Device, x: &Tensor, a: f32, b: f32) -> weft::Result<Tensor> {
    let y = poison(dev, x.shape());
    let n = x.numel();
    let p = ScaleAdd {
        n: n as u32,
        a,
        b,
        _pad: 0,
    };
    dev.dispatch(
        &Kernel::new("scale_add", &SCALE_ADD, "main"),
        bytemuck::bytes_of(&p),
        &[Binding::Read(x.binding()), Binding::ReadWrite(y.binding())],
        n.div_ceil(256) as u64,
    )?;
    Ok(y)
}

/// y = x * a + b, bound through windows no larger than the device's binding limit.
fn scale_add_windowed(dev: &Device, x: &Tensor, a: f32, b: f32) -> weft::Result<Tensor> {
    let y = dev.empty(x.shape(), DType::F32)?;
    let limit = dev.limits().max_storage_buffer_binding_size;
    let align = dev.limits().min_storage_buffer_offset_alignment as u64;
    // Largest window that is a multiple of the offset alignment and of 256 elements.
    let step = (limit / 4 / 256 * 256) as usize;
    assert!((step as u64 * 4).is_multiple_of(align));
    let mut start = 0;
    while start < x.numel() {
        let len = step.min(x.numel() - start);
        let p = ScaleAdd {
            n: len as u32,
            a,
            b,
            _pad: 0,
        };
        dev.dispatch(
            &Kernel::new("scale_add", &SCALE_ADD, "main"),
            bytemuck::bytes_of(&p),
            &[
                Binding::Read(x.window(start, len)?),
                Binding::ReadWrite(y.window(start, len)?),
            ],
            len.div_ceil(256) as u64,
        )?;
        start += len;
    }
    Ok(y)
}

/// A tensor filled with NaN, so that unwritten outputs show.
fn poison(dev: &Device, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    dev.tensor(shape, &vec![f32::NAN; n]).unwrap()
}

#[test]
fn round_trips_every_dtype() {
    let dev = common::device();
    let mut rng = common::rng(11);
    for n in [1usize, 2, 3, 7, 64, 1001, 65_537] {
        let f = common::uniform(&mut rng, n, -1e4, 1e4);
        let t = dev.tensor(&[n], &f).unwrap();
        assert_eq!(t.to_f32_vec().unwrap(), f, "f32 n={n}");

        let h = dev.upload_f32(&[n], DType::F16, &f).unwrap();
        assert_eq!(h.byte_size(), n.div_ceil(2) as u64 * 4);
        let expect: Vec<f32> = f.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        assert_eq!(h.to_f32_vec().unwrap(), expect, "f16 n={n}");

        let u: Vec<u32> = (0..n).map(|_| rng.random()).collect();
        assert_eq!(dev.tensor_u32(&[n], &u).unwrap().to_u32_vec().unwrap(), u);
        let i: Vec<i32> = (0..n).map(|_| rng.random()).collect();
        assert_eq!(dev.tensor_i32(&[n], &i).unwrap().to_i32_vec().unwrap(), i);
    }
    // Async forms.
    let f = common::uniform(&mut rng, 333, -1.0, 1.0);
    let t = pollster::block_on(dev.upload_f32_async(&[333], DType::F32, &f)).unwrap();
    assert_eq!(pollster::block_on(dev.read_f32_async(&t)).unwrap(), f);
}

#[test]
fn upload_checks_lengths() {
    let dev = common::device();
    let err = dev.tensor(&[2, 3], &[1.0; 5]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("[2, 3]"), "{err}");
}

#[test]
fn pool_reuses_and_counts_exactly() {
    // A private device so that other tests do not disturb the statistics.
    let dev = Device::from_env().unwrap();
    let s0 = dev.pool_stats();
    assert_eq!(s0, Default::default());

    let a = dev.empty(&[1000], DType::F32).unwrap(); // 4000 B, class 4096
    let b = dev.empty(&[10], DType::F16).unwrap(); // 20 B, class 256
    let s = dev.pool_stats();
    assert_eq!(
        (s.live_bytes, s.held_bytes, s.allocations, s.reuse_hits),
        (4020, 4352, 2, 0)
    );
    assert_eq!(s.peak_live_bytes, 4020);
    drop(a);
    let s = dev.pool_stats();
    assert_eq!(
        (s.live_bytes, s.cached_bytes, s.held_bytes),
        (20, 4096, 4352)
    );
    // Same class (3900 B -> 4096): served from the free list.
    let c = dev.empty(&[975], DType::F32).unwrap();
    let s = dev.pool_stats();
    assert_eq!(
        (s.live_bytes, s.allocations, s.reuse_hits, s.peak_live_bytes),
        (3920, 2, 1, 4020)
    );
    drop((b, c));
    assert_eq!(dev.pool_stats().live_bytes, 0);
    assert_eq!(dev.trim(), 4352);
    let s = dev.pool_stats();
    assert_eq!((s.held_bytes, s.cached_bytes, s.live_tensors), (0, 0, 0));

    // Views share storage and do not allocate.
    let t = dev.empty(&[4, 6], DType::F32).unwrap();
    let v = t.reshape(&[24]).unwrap();
    assert!(v.shares_storage(&t));
    assert_eq!(dev.pool_stats().live_bytes, 96);
    drop((t, v));

    // No growth over 10,000 allocate/release cycles of mixed sizes.
    let mut rng = common::rng(5);
    let sizes: Vec<usize> = (0..8).map(|_| rng.random_range(1..100_000)).collect();
    for &n in &sizes {
        drop(dev.empty(&[n], DType::F32).unwrap());
    }
    let held = dev.pool_stats().held_bytes;
    let allocations = dev.pool_stats().allocations;
    for i in 0..10_000 {
        let _t = dev.empty(&[sizes[i % sizes.len()]], DType::F32).unwrap();
    }
    let s = dev.pool_stats();
    assert_eq!(s.held_bytes, held, "pool grew");
    assert_eq!(
        s.allocations, allocations,
        "pool created buffers it could reuse"
    );
    assert_eq!(s.live_bytes, 0);
}

#[test]
fn elementwise_over_a_split_grid_is_exact() {
    let dev = common::device();
    let n = 65_535 * 256 + 4_321; // more workgroups than one dimension holds
    let x: Vec<f32> = (0..n)
        .map(|i| (i % 10_007) as f32 * 0.25 - 1000.0)
        .collect();
    let xt = dev.tensor(&[n], &x).unwrap();
    let y = scale_add(&dev, &xt, 1.5, -3.0)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
        assert_eq!(yi.to_bits(), (xi * 1.5 + -3.0f32).to_bits(), "element {i}");
    }
}

#[test]
fn oversized_buffers_are_refused_before_wgpu() {
    let dev = common::device();
    let limit = dev.limits().max_buffer_size;
    let n = (limit / 4 + 1024) as usize;
    let err = dev.empty(&[n], DType::F32).unwrap_err();
    match err {
        Error::BufferTooLarge {
            requested,
            limit: l,
            ..
        } => {
            assert!(requested > l);
            assert_eq!(l, limit);
        }
        other => panic!("expected BufferTooLarge, got {other}"),
    }
    dev.check().unwrap();
}

/// y[i] = table[idx[i]] with the table bound as a uniform.
fn table_lookup(dev: &Device, table: &Tensor, idx: &Tensor) -> weft::Result<Tensor> {
    let y = poison(dev, idx.shape());
    let n = idx.numel() as u32;
    dev.dispatch(
        &Kernel::new("table_lookup", &TABLE_LOOKUP, "main"),
        bytemuck::cast_slice(&[n, 0, 0, 0]),
        &[
            Binding::Uniform(table.binding()),
            Binding::Read(idx.binding()),
            Binding::ReadWrite(y.binding()),
        ],
        (n as u64).div_ceil(64),
    )?;
    Ok(y)
}

#[test]
fn uniform_tables_are_read_at_any_index() {
    let dev = common::device();
    let mut rng = common::rng(0x7ab1e);
    let table: Vec<f32> = (0..4096).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let idx: Vec<u32> = (0..1000).map(|_| rng.random_range(0..4096)).collect();
    let t = dev.tensor(&[4096], &table).unwrap();
    let i = dev
        .upload_bytes(&[1000], DType::U32, bytemuck::cast_slice(&idx))
        .unwrap();
    let y = table_lookup(&dev, &t, &i).unwrap().to_f32_vec().unwrap();
    for (k, (&got, &j)) in y.iter().zip(&idx).enumerate() {
        assert_eq!(got.to_bits(), table[j as usize].to_bits(), "element {k}");
    }
    // A uniform binding past the device's limit is a typed error, not a
    // validation abort.
    let limit = dev.limits().max_uniform_buffer_binding_size;
    let big = dev.empty(&[(limit / 4) as usize + 64], DType::F32).unwrap();
    match table_lookup(&dev, &big, &i).unwrap_err() {
        Error::InvalidArgument { op, param, .. } => {
            assert_eq!(op, "table_lookup");
            assert_eq!(param, "uniform binding");
        }
        other => panic!("expected InvalidArgument, got {other}"),
    }
    dev.check().unwrap();
}

#[test]
fn oversized_bindings_are_refused() {
    let dev = common::device();
    let limit = dev.limits().max_storage_buffer_binding_size;
    // Buffers are allocated lazily, so a tensor just past the binding limit is cheap.
    let n = (limit / 4) as usize + 64;
    let x = dev.empty(&[n], DType::F32).unwrap();
    let err = scale_add(&dev, &x, 1.0, 0.0).unwrap_err();
    match &err {
        Error::BindingTooLarge {
            op,
            bytes,
            limit: l,
        } => {
            assert_eq!(op, "scale_add");
            assert_eq!(*bytes, n as u64 * 4);
            assert_eq!(*l, limit);
        }
        other => panic!("expected BindingTooLarge, got {other}"),
    }
    dev.check().unwrap();
}

#[test]
fn shader_errors_name_file_line_and_column() {
    let dev = common::device();
    let err = dev
        .prepare(&Kernel::new("broken", &BROKEN, "main"), &[true])
        .unwrap_err();
    match &err {
        Error::Shader(e) => {
            assert_eq!(e.file, "fixtures/broken.wgsl");
            assert_eq!(e.line, Some(9), "{e}");
            assert_eq!(e.column, Some(22), "{e}");
            assert!(e.message.contains("undefined_name"), "{e}");
        }
        other => panic!("expected a shader error, got {other}"),
    }
    // The line refers to the file even when includes precede it.
    static BROKEN_WITH_INCLUDE: Shader = Shader {
        includes: &[GRID],
        body: BROKEN.body,
    };
    match dev
        .prepare(
            &Kernel::new("broken", &BROKEN_WITH_INCLUDE, "main"),
            &[true],
        )
        .unwrap_err()
    {
        Error::Shader(e) => assert_eq!((e.line, e.column), (Some(9), Some(22))),
        other => panic!("expected a shader error, got {other}"),
    }
    dev.check().unwrap();
}

#[test]
fn missing_features_are_typed_errors() {
    let dev = Device::new(DeviceOptions {
        disabled_features: vec![Feature::ShaderF16],
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    assert!(!dev.has(Feature::ShaderF16));
    let buf = dev
        .upload_f32(&[4], DType::F16, &[1.0, 2.0, 3.0, 4.0])
        .unwrap();
    let err = dev
        .dispatch(
            &Kernel::new("half_double", &HALF_DOUBLE, "main"),
            bytemuck::bytes_of(&4u32),
            &[Binding::ReadWrite(buf.binding())],
            1,
        )
        .unwrap_err();
    match err {
        Error::MissingFeature { op, feature, .. } => {
            assert_eq!(op, "half_double");
            assert_eq!(feature, Feature::ShaderF16);
        }
        other => panic!("expected MissingFeature, got {other}"),
    }
    // Where the adapter has f16, the same kernel runs.
    let dev = common::device();
    if dev.has(Feature::ShaderF16) {
        let buf = dev.upload_f32(&[3], DType::F16, &[1.0, -2.5, 3.0]).unwrap();
        dev.dispatch(
            &Kernel::new("half_double", &HALF_DOUBLE, "main"),
            bytemuck::bytes_of(&3u32),
            &[Binding::ReadWrite(buf.binding())],
            1,
        )
        .unwrap();
        assert_eq!(buf.to_f32_vec().unwrap(), [2.0, -5.0, 6.0]);
    }
}

#[test]
fn lost_device_errors_instead_of_hanging() {
    let dev = Device::from_env().unwrap();
    let x = dev.tensor(&[1024], &[1.0; 1024]).unwrap();
    let y = scale_add(&dev, &x, 2.0, 0.0).unwrap();
    assert_eq!(y.to_f32_vec().unwrap()[0], 2.0);
    dev.wgpu_device().destroy();
    let start = Instant::now();
    let r = scale_add(&dev, &x, 2.0, 0.0).and_then(|y| y.to_f32_vec());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    match r {
        Err(Error::DeviceLost(_)) => {}
        other => panic!("expected DeviceLost, got {other:?}"),
    }
    assert!(matches!(x.to_f32_vec(), Err(Error::DeviceLost(_))));
}

#[test]
fn lowered_limits_split_bindings_and_fold_grids_bitwise() {
    let small = Device::new(DeviceOptions {
        limits: LimitOverrides {
            max_storage_buffer_binding_size: Some(1 << 20),
            max_compute_workgroups_per_dimension: Some(1024),
            ..Default::default()
        },
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    assert_eq!(small.limits().max_storage_buffer_binding_size, 1 << 20);
    assert_eq!(small.limits().max_compute_workgroups_per_dimension, 1024);
    let big = common::device();
    let mut rng = common::rng(3);

    // 3 MiB + a bit: four windows of at most 1 MiB.
    let n = 3 * (1 << 18) + 1000;
    let x = common::uniform(&mut rng, n, -10.0, 10.0);
    let reference = scale_add(&big, &big.tensor(&[n], &x).unwrap(), 0.7, 0.1)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let xs = small.tensor(&[n], &x).unwrap();
    let err = scale_add(&small, &xs, 0.7, 0.1).unwrap_err();
    assert!(matches!(err, Error::BindingTooLarge { .. }), "{err}");
    let split = scale_add_windowed(&small, &xs, 0.7, 0.1)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    assert!(
        reference
            .iter()
            .zip(&split)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );

    // 64-wide workgroups: 1,500 of them fold into 1024 x 2 under the lowered limit.
    let n = 1500 * 64 - 17;
    let x = common::uniform(&mut rng, n, -10.0, 10.0);
    let reference = scale_add_wg64(&big, &big.tensor(&[n], &x).unwrap(), -2.0, 0.5)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let folded = scale_add_wg64(&small, &small.tensor(&[n], &x).unwrap(), -2.0, 0.5)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    assert!(
        reference
            .iter()
            .zip(&folded)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

/// The same kernel specialised to 64 invocations per workgroup.
fn scale_add_wg64(dev: &Device, x: &Tensor, a: f32, b: f32) -> weft::Result<Tensor> {
    let y = poison(dev, x.shape());
    let n = x.numel();
    let p = ScaleAdd {
        n: n as u32,
        a,
        b,
        _pad: 0,
    };
    dev.dispatch(
        &Kernel::new("scale_add", &SCALE_ADD, "main").with_constants(&[("WG", 64.0)]),
        bytemuck::bytes_of(&p),
        &[Binding::Read(x.binding()), Binding::ReadWrite(y.binding())],
        n.div_ceil(64) as u64,
    )?;
    Ok(y)
}

#[test]
fn many_launches_share_one_submission() {
    let dev = Device::from_env().unwrap();
    let x = dev.tensor(&[1000], &vec![1.0; 1000]).unwrap();
    let mut y = x.clone();
    for _ in 0..50 {
        y = scale_add(&dev, &y, 1.0, 1.0).unwrap();
    }
    assert_eq!(dev.dispatch_count(), 50);
    assert!(y.to_f32_vec().unwrap().iter().all(|&v| v == 51.0));
}

#[test]
fn embeds_a_host_device_and_its_buffers() {
    // The host application creates and owns its device.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .unwrap();
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();

    let weft_dev = Device::from_wgpu(device.clone(), queue.clone());
    assert!(!weft_dev.caps().adapter.name.is_empty());

    // A host buffer viewed as a tensor without copying.
    let host_buf = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("host"),
        size: 256,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let data: Vec<f32> = (0..64).map(|i| i as f32).collect();
    queue.write_buffer(&host_buf, 0, bytemuck::cast_slice(&data));
    let x = Tensor::from_wgpu_buffer(&weft_dev, host_buf.clone(), 0, &[64], DType::F32).unwrap();
    let y = scale_add(&weft_dev, &x, 3.0, 1.0).unwrap();
    let got = y.to_f32_vec().unwrap();
    assert_eq!(got, data.iter().map(|v| v * 3.0 + 1.0).collect::<Vec<_>>());
    drop((x, y, weft_dev));

    // The host keeps using its device and buffer.
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("host-staging"),
        size: 256,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&host_buf, 0, &staging, 0, 256);
    queue.submit([enc.finish()]);
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let back: Vec<f32> =
        bytemuck::pod_collect_to_vec(&staging.slice(..).get_mapped_range().unwrap());
    assert_eq!(back, data);
}

#[test]
fn timing_measures_gpu_work() {
    let dev = common::device();
    let x = dev.tensor(&[1 << 20], &vec![1.0; 1 << 20]).unwrap();
    let (y, t) = dev
        .time(|| {
            let mut y = scale_add(&dev, &x, 1.0, 1.0)?;
            for _ in 0..3 {
                y = scale_add(&dev, &y, 1.0, 1.0)?;
            }
            Ok(y)
        })
        .unwrap();
    assert!(
        t.elapsed > Duration::ZERO && t.elapsed < Duration::from_secs(10),
        "{t:?}"
    );
    assert_eq!(y.to_f32_vec().unwrap()[12345], 5.0);
}

/// A device whose waits give up after `timeout` without progress, submitting
/// every `per_submit` launches.
fn device_with(timeout: Duration, per_submit: u64) -> Device {
    Device::new(DeviceOptions {
        gpu_timeout: timeout,
        launches_per_submit: per_submit,
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap()
}

/// Records `n` naive 256³ GEMMs (tens of milliseconds each on lavapipe).
fn slow_launches(dev: &Device, n: usize) -> weft::Result<Tensor> {
    use weft::kernels::gemm::{self, GemmSpec};
    let a = dev.tensor(&[256, 256], &vec![0.5; 256 * 256])?;
    let c = dev.empty(&[256, 256], DType::F32)?;
    let spec = GemmSpec {
        variant: gemm::TABLE.get("naive"),
        ..Default::default()
    };
    for _ in 0..n {
        gemm::gemm_into(&a, &a, None, &spec, &c)?;
    }
    Ok(c)
}

/// A wait longer than the GPU timeout succeeds while submissions keep
/// completing; the same work in one submission is reported as a hung device.
#[test]
fn waits_time_out_on_stalls_not_on_long_queues() {
    // How long one launch takes here, to size the work to several timeouts.
    let probe = device_with(Duration::from_secs(60), 1);
    slow_launches(&probe, 1).unwrap().to_f32_vec().unwrap();
    let start = Instant::now();
    slow_launches(&probe, 3).unwrap().to_f32_vec().unwrap();
    let per_launch = start.elapsed() / 3;
    // Each submission (one launch) well within the timeout, the whole wait
    // four timeouts long.
    let timeout = (per_launch * 8).max(Duration::from_millis(200));
    let launches = (4 * timeout.as_nanos() / per_launch.as_nanos().max(1)) as usize + 1;
    eprintln!("{per_launch:?} per launch, timeout {timeout:?}, {launches} launches");

    let dev = device_with(timeout, 1);
    slow_launches(&dev, 1).unwrap().to_f32_vec().unwrap();
    let start = Instant::now();
    let c = slow_launches(&dev, launches).unwrap();
    let v = c
        .to_f32_vec()
        .expect("a long queue that keeps completing work is healthy");
    assert!(
        start.elapsed() > timeout,
        "the wait was not longer than the timeout"
    );
    assert_eq!(v[0], 64.0);

    let one_submission = device_with(timeout, u64::MAX);
    slow_launches(&one_submission, 1)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let err = slow_launches(&one_submission, launches)
        .and_then(|c| c.to_f32_vec())
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("completed no work"), "{err}");
    // A timeout is a report, not a loss: the device works once the queue drains.
    let drained = (0..20).any(|_| one_submission.sync().is_ok());
    assert!(drained, "the queue never drained");
    let x = one_submission.tensor(&[4], &[1.0; 4]).unwrap();
    assert_eq!(x.to_f32_vec().unwrap(), [1.0; 4]);

    // A device destroyed under a long queue errors at once, not after the timeout.
    let doomed = device_with(Duration::from_secs(60), 1);
    let c = slow_launches(&doomed, launches).unwrap();
    doomed.flush().unwrap();
    doomed.destroy();
    let start = Instant::now();
    let err = c.to_f32_vec().unwrap_err();
    assert!(matches!(err, Error::DeviceLost(_)), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn launch_profile_counts_every_launch_and_drains() {
    let dev = Device::new(DeviceOptions {
        profile_launches: true,
        ..DeviceOptions::from_env().unwrap()
    })
    .unwrap();
    let n = 1 << 16;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let xt = dev.upload_f32(&[n], DType::F32, &x).unwrap();
    let mut y = scale_add(&dev, &xt, 1.0, 0.0).unwrap();
    for _ in 0..2 {
        y = scale_add(&dev, &y, 2.0, 1.0).unwrap();
        y = scale_add(&dev, &y, 0.5, -0.5).unwrap();
    }
    // The results are those of unprofiled launches: y = x after the five
    // (exact in f32).
    let got = dev.read_f32(&y).unwrap();
    assert!(got.iter().zip(&x).all(|(g, x)| g == x));
    let profile = dev.take_launch_profile();
    assert_eq!(profile.len(), 1, "{profile:?}");
    let t = &profile[0];
    assert_eq!(
        (t.op.as_str(), t.shader),
        ("scale_add", "fixtures/scale_add.wgsl")
    );
    assert_eq!(t.launches, 5);
    assert!(t.seconds > 0.0);
    assert!(dev.take_launch_profile().is_empty(), "taking drains");
    // Without the option nothing is recorded.
    let plain = common::device();
    let xp = plain.upload_f32(&[n], DType::F32, &x).unwrap();
    scale_add(&plain, &xp, 1.0, 0.0).unwrap();
    assert!(plain.take_launch_profile().is_empty());
}

/// `peer_adapters` pins one set of options to each adapter of the kind weft
/// picks first (here lavapipe, one), and an index past them is a clear
/// error rather than another adapter.
#[test]
fn peer_adapters_pin_each_adapter_and_refuse_a_missing_index() {
    let options = DeviceOptions::from_env().unwrap();
    let peers = weft::device::peer_adapters(&options);
    assert!(!peers.is_empty());
    let first = Device::new(options.clone()).unwrap();
    for (i, p) in peers.iter().enumerate() {
        assert_eq!(p.adapter_index, Some(i));
        let dev = Device::new(p.clone()).unwrap();
        if i == 0 {
            assert_eq!(dev.caps().adapter, first.caps().adapter);
        }
    }
    let err = Device::new(DeviceOptions {
        adapter_index: Some(peers.len() + 7),
        ..peers[0].clone()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("no GPU adapter found")
            && err.contains(&format!("asked for number {}", peers.len() + 7)),
        "{err}"
    );
}
