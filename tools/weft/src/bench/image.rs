//! Image-tool figures (`--suite image`, besides the correlation and median
//! variants that run as table rows): megapixels per second of a Gaussian as
//! one 2-D kernel (naive, tiled) against the same Gaussian as two separable
//! passes, the Sobel magnitude, a dilation, and connected-component
//! labelling, on random images. Each is timed over `--runs` calls after one
//! that compiles its pipelines, from a synced queue to a synced queue.

use std::time::Instant;

use weft::Device;
use weft::kernels::filter::{self, Border, Derivative, Rank};
use weft::kernels::label::{self, Connectivity};

use super::BenchArgs;

/// One image figure.
#[derive(Debug, Clone)]
pub struct ImageFigure {
    pub name: String,
    pub megapixels: f64,
    pub seconds: f64,
}

impl ImageFigure {
    pub fn mpx_s(&self) -> f64 {
        self.megapixels / self.seconds
    }
}

fn time(
    device: &Device,
    runs: usize,
    mut f: impl FnMut() -> weft::Result<()>,
) -> weft::Result<f64> {
    f()?;
    device.sync()?;
    let t0 = Instant::now();
    for _ in 0..runs {
        f()?;
    }
    device.sync()?;
    Ok(t0.elapsed().as_secs_f64() / runs as f64)
}

pub fn measure(device: &Device, args: &BenchArgs) -> weft::Result<Vec<ImageFigure>> {
    let runs = args.runs.clamp(1, 5);
    let mut out = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    for side in [512usize, 1024] {
        let n = side * side;
        let mpx = n as f64 / 1e6;
        let x = device.tensor(&[side, side], &(0..n).map(|_| random()).collect::<Vec<_>>())?;
        let g = filter::gaussian_kernel(2.0)?;
        let outer: Vec<f32> = g
            .iter()
            .flat_map(|a| g.iter().map(move |b| a * b))
            .collect();
        let k = g.len();
        let border = Border::Reflect101;
        let mut record = |name: String, seconds: f64| {
            let f = ImageFigure {
                name,
                megapixels: mpx,
                seconds,
            };
            eprintln!(
                "  {:<44} {:>8.1} Mpx/s {:>9.2} ms",
                f.name,
                f.mpx_s(),
                1e3 * f.seconds
            );
            out.push(f);
        };
        for variant in [filter::NAIVE, filter::TILED] {
            let s = time(device, runs, || {
                filter::correlate_by(&x, &outer, k, k, border, Some(variant)).map(drop)
            })?;
            record(format!("gaussian σ2 {k}x{k} {} {side}²", variant.name), s);
        }
        let s = time(device, runs, || {
            filter::separable(&x, &g, &g, border).map(drop)
        })?;
        record(format!("gaussian σ2 {k}+{k} separable {side}²"), s);
        let s = time(device, runs, || {
            let (gx, gy) = filter::derivatives(&x, Derivative::Sobel, border)?;
            filter::gradient(&gx, &gy).map(drop)
        })?;
        record(format!("sobel magnitude {side}²"), s);
        let s = time(device, runs, || {
            filter::rank(&x, 1, Rank::Max, border).map(drop)
        })?;
        record(format!("dilation 3x3 {side}²"), s);
        let mask: Vec<u32> = (0..n).map(|_| (random() < 0.55) as u32).collect();
        let m = device.tensor_u32(&[side, side], &mask)?;
        for (c, name) in [(Connectivity::Four, 4), (Connectivity::Eight, 8)] {
            let s = time(device, runs, || label::label(&m, c).map(drop))?;
            record(format!("label {name}-connected 55% {side}²"), s);
        }
    }
    Ok(out)
}
