//! `weft filter`: classic image filters on the GPU, PNG or JPEG in, PNG out.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;
use weft::Device;
use weft::kernels::filter::{self, Border, Derivative, Rank};

use crate::Global;

#[derive(Args, Debug)]
pub struct FilterArgs {
    /// The image (PNG or JPEG; greyscale or colour, alpha kept as it is).
    pub input: PathBuf,
    /// Where to write the result (PNG).
    pub output: PathBuf,
    #[arg(long, value_enum)]
    pub op: FilterOp,
    /// Gaussian blur and unsharp masking: the standard deviation in pixels.
    #[arg(long, default_value_t = 2.0)]
    pub sigma: f32,
    /// Box blur and rank filters (median, erode, dilate, open, close): the
    /// window's radius ((2r+1)² pixels; rank filters up to 4).
    #[arg(long, default_value_t = 1)]
    pub radius: usize,
    /// Unsharp masking: how much of the detail to add.
    #[arg(long, default_value_t = 1.0)]
    pub amount: f32,
    /// Threshold: the level in [0, 1] (the `otsu` op finds one).
    #[arg(long, default_value_t = 0.5)]
    pub level: f32,
    /// Kernel: the matrix, rows separated by `;`, values by `,`
    /// (e.g. "0,-1,0;-1,5,-1;0,-1,0").
    #[arg(long)]
    pub matrix: Option<String>,
    /// What a window reads outside the image.
    #[arg(long, value_enum, default_value_t = BorderArg::Reflect)]
    pub border: BorderArg,
}

/// `--op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FilterOp {
    Gaussian,
    Box,
    /// Sobel gradient magnitude.
    Sobel,
    /// Scharr gradient magnitude.
    Scharr,
    /// Absolute value of the Laplacian.
    Laplacian,
    /// Unsharp masking.
    Sharpen,
    Median,
    Erode,
    Dilate,
    Open,
    Close,
    Threshold,
    /// Threshold at Otsu's level (per image, over all channels).
    Otsu,
    /// Correlation with `--matrix`.
    Kernel,
}

/// `--border`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BorderArg {
    Zero,
    Replicate,
    /// OpenCV's BORDER_REFLECT_101.
    Reflect,
}

/// `"a,b;c,d"` as a row-major matrix and its size.
fn parse_matrix(text: &str) -> Result<(Vec<f32>, usize, usize), String> {
    let rows: Vec<Vec<f32>> = text
        .split(';')
        .map(|r| {
            r.split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .map_err(|_| format!("\"{}\" is not a number", v.trim()))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let w = rows.first().map_or(0, Vec::len);
    if w == 0 || rows.iter().any(|r| r.len() != w) {
        return Err(format!(
            "--matrix \"{text}\": rows of equal, non-zero length"
        ));
    }
    Ok((rows.concat(), rows.len(), w))
}

pub fn run(global: &Global, args: &FilterArgs) -> Result<(), Box<dyn std::error::Error>> {
    let img = image::open(&args.input)
        .map_err(|e| weft::Error::format(&args.input, format!("not a readable image: {e}")))?;
    let has_alpha = img.color().has_alpha();
    let grey = img.color().channel_count() <= 2;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rgba = img.to_rgba32f();
    let channels = if grey { 1 } else { 3 };
    let mut planes = vec![0f32; channels * h * w];
    for (i, p) in rgba.pixels().enumerate() {
        for c in 0..channels {
            planes[c * h * w + i] = p.0[c];
        }
    }
    let border = match args.border {
        BorderArg::Zero => Border::Zero,
        BorderArg::Replicate => Border::Replicate,
        BorderArg::Reflect => Border::Reflect101,
    };
    let device = Device::new(global.device_options()?)?;
    let x = device.tensor(&[channels, h, w], &planes)?;
    let mut level = args.level;
    if args.op == FilterOp::Otsu {
        level = filter::otsu_level(&planes);
    }
    let matrix = match (&args.matrix, args.op) {
        (Some(m), _) => Some(parse_matrix(m)?),
        (None, FilterOp::Kernel) => return Err("--op kernel needs --matrix".into()),
        (None, _) => None,
    };
    let apply = || -> weft::Result<weft::Tensor> {
        match args.op {
            FilterOp::Gaussian => filter::gaussian_blur(&x, args.sigma, border),
            FilterOp::Box => filter::box_blur(&x, args.radius, border),
            FilterOp::Sobel | FilterOp::Scharr => {
                let kind = if args.op == FilterOp::Sobel {
                    Derivative::Sobel
                } else {
                    Derivative::Scharr
                };
                let (gx, gy) = filter::derivatives(&x, kind, border)?;
                Ok(filter::gradient(&gx, &gy)?.0)
            }
            FilterOp::Laplacian => filter::laplacian(&x, border),
            FilterOp::Sharpen => filter::unsharp(&x, args.sigma, args.amount, border),
            FilterOp::Median => filter::rank(&x, args.radius, Rank::Median, border),
            FilterOp::Erode => filter::rank(&x, args.radius, Rank::Min, border),
            FilterOp::Dilate => filter::rank(&x, args.radius, Rank::Max, border),
            FilterOp::Open => filter::opening(&x, args.radius, border),
            FilterOp::Close => filter::closing(&x, args.radius, border),
            FilterOp::Threshold | FilterOp::Otsu => filter::threshold(&x, level),
            FilterOp::Kernel => {
                let (m, kh, kw) = matrix.as_ref().expect("checked");
                filter::correlate(&x, m, *kh, *kw, border)
            }
        }
    };
    // Once to compile the pipelines, once timed.
    apply()?;
    device.sync()?;
    let start = Instant::now();
    let y = apply()?;
    let values = y.to_f32_vec()?;
    let seconds = start.elapsed().as_secs_f64();
    // Signed results (the Laplacian, some kernels) are written as magnitudes.
    let to_u8 = |v: f32| (v.abs().clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut out = image::RgbaImage::new(w as u32, h as u32);
    for (i, (px, src)) in out.pixels_mut().zip(rgba.pixels()).enumerate() {
        let c: [u8; 3] =
            std::array::from_fn(|ch| to_u8(values[(if grey { 0 } else { ch }) * h * w + i]));
        let a = if has_alpha {
            (src.0[3] * 255.0).round() as u8
        } else {
            255
        };
        px.0 = [c[0], c[1], c[2], a];
    }
    if has_alpha {
        out.save(&args.output)
    } else {
        image::DynamicImage::ImageRgba8(out)
            .to_rgb8()
            .save(&args.output)
    }
    .map_err(|e| weft::Error::io(&args.output, e))?;
    let mpx_s = (w * h) as f64 / seconds / 1e6;
    if global.json {
        println!(
            "{}",
            json!({
                "command": "filter",
                "op": format!("{:?}", args.op).to_lowercase(),
                "width": w,
                "height": h,
                "channels": channels,
                "level": matches!(args.op, FilterOp::Threshold | FilterOp::Otsu).then_some(level),
                "seconds": seconds,
                "megapixels_per_s": mpx_s,
                "output": args.output.display().to_string(),
            })
        );
    } else {
        println!(
            "{}: {:?} on {w}x{h} ({channels} channel{}) in {:.2} ms ({:.1} Mpx/s){}; {} written",
            args.input.display(),
            args.op,
            if channels == 1 { "" } else { "s" },
            seconds * 1e3,
            mpx_s,
            if args.op == FilterOp::Otsu {
                format!(", Otsu's level {level:.3}")
            } else {
                String::new()
            },
            args.output.display()
        );
    }
    Ok(())
}
