//! The device's ceilings: copy bandwidth and fp32 FMA throughput. `weft info`
//! prints them and `weft bench` expresses every figure as a fraction of them.

use weft_device::{Binding, DType, Device, Kernel, Result};

use crate::shaders;

/// Measured ceilings of a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Buffer-to-buffer copy, counting bytes read plus bytes written, in GB/s.
    pub copy_gb_s: f64,
    /// fp32 FMA throughput in GFLOP/s (an FMA counts as two FLOPs).
    pub fma_gflop_s: f64,
}

/// Measures copy bandwidth with a `bytes`-sized buffer: best of `reps` timed copies.
pub fn copy_bandwidth(dev: &Device, bytes: u64, reps: usize) -> Result<f64> {
    let n = (bytes / 4) as usize;
    let src = dev.empty(&[n], DType::F32)?;
    let dst = dev.empty(&[n], DType::F32)?;
    dev.copy(&src, &dst)?; // warm-up: first touch of lazily allocated memory
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let ((), t) = dev.time(|| dev.copy(&src, &dst))?;
        best = best.min(t.elapsed.as_secs_f64());
    }
    Ok(2.0 * src.byte_size() as f64 / best / 1e9)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FmaParams {
    n: u32,
    m: f32,
    c: f32,
    _pad: u32,
}

/// Measures fp32 FMA throughput with `invocations` threads of `iters` iterations.
pub fn fma_throughput(dev: &Device, invocations: u32, iters: u32, reps: usize) -> Result<f64> {
    let out = dev.empty(&[invocations as usize * 4], DType::F32)?;
    let constants = [("ITERS", iters as f64)];
    let kernel = Kernel::new("peak_fma", &shaders::PEAK_FMA, "main").with_constants(&constants);
    let params = FmaParams {
        n: invocations,
        m: 0.999,
        c: 0.001,
        _pad: 0,
    };
    let launch = || {
        dev.dispatch(
            &kernel,
            bytemuck::bytes_of(&params),
            &[Binding::ReadWrite(out.binding())],
            invocations.div_ceil(256) as u64,
        )
    };
    launch()?; // warm-up: compiles the pipeline (lazily JIT-compiled on some drivers)
    dev.sync()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let ((), t) = dev.time(launch)?;
        best = best.min(t.elapsed.as_secs_f64());
    }
    let flops = invocations as f64 * iters as f64 * 8.0 * 4.0 * 2.0;
    Ok(flops / best / 1e9)
}

/// Both ceilings with sizes that take tens of milliseconds on a CPU rasteriser and
/// well under that on a GPU.
pub fn measure(dev: &Device) -> Result<Peak> {
    Ok(Peak {
        copy_gb_s: copy_bandwidth(dev, 64 << 20, 5)?,
        fma_gflop_s: fma_throughput(dev, 1 << 16, 1024, 5)?,
    })
}
