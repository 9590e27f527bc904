//! `weft filter`: classic image filters on the GPU. PNG or JPEG in (8 or 16
//! bits), PNG out at the input's depth; or f32 images as safetensors, in or
//! out, where values keep their sign and range.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;
use weft::Device;
use weft::kernels::filter::{self, Border, Derivative, Rank};

use crate::Global;

#[derive(Args, Debug)]
pub struct FilterArgs {
    /// The image: PNG or JPEG (8 or 16 bits; greyscale or colour, alpha kept
    /// as it is), or `.safetensors` holding one f32 tensor `[H, W]` or
    /// `[C, H, W]`.
    pub input: PathBuf,
    /// Where to write the result: PNG (the input's bit depth, signed values as
    /// magnitudes, clamped to [0, 1]) or `.safetensors` (f32 `[C, H, W]` under
    /// "image", values as computed).
    pub output: PathBuf,
    #[arg(long, value_enum)]
    pub op: FilterOp,
    /// Gaussian blur and unsharp masking: the standard deviation in pixels.
    #[arg(long, default_value_t = 2.0)]
    pub sigma: f32,
    /// Box blur and rank filters (median, erode, dilate, open, close): the
    /// window's radius ((2r+1)² pixels; rank filters up to 32).
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
                        .ok()
                        .filter(|x: &f32| x.is_finite())
                        .ok_or_else(|| {
                            format!(
                                "--matrix \"{text}\": \"{}\" is not a finite number",
                                v.trim()
                            )
                        })
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

/// An input image as f32 planes, and what writing a PNG back needs.
struct Planes {
    values: Vec<f32>,
    channels: usize,
    h: usize,
    w: usize,
    /// Alpha of each pixel, kept as it was.
    alpha: Option<Vec<f32>>,
    /// Whether the input had 16 bits per channel.
    sixteen_bit: bool,
}

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// Reads a PNG/JPEG or a one-tensor f32 safetensors file.
fn read_planes(path: &Path) -> Result<Planes, Box<dyn std::error::Error>> {
    if is_safetensors(path) {
        let bytes = std::fs::read(path).map_err(|e| weft::Error::io(path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| weft::Error::format(path, format!("not a safetensors file: {e}")))?;
        let tensors = st.tensors();
        let [(name, t)] = tensors.as_slice() else {
            return Err(weft::Error::format(
                path,
                format!("expected one image tensor, found {}", tensors.len()),
            )
            .into());
        };
        let shape = t.shape();
        if t.dtype() != safetensors::Dtype::F32
            || !(2..=3).contains(&shape.len())
            || shape.contains(&0)
        {
            return Err(weft::Error::format(
                path,
                format!(
                    "\"{name}\" is {:?} {shape:?}: images are non-empty f32 [H, W] or [C, H, W]",
                    t.dtype()
                ),
            )
            .into());
        }
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let n = shape.len();
        return Ok(Planes {
            values,
            channels: if n == 3 { shape[0] } else { 1 },
            h: shape[n - 2],
            w: shape[n - 1],
            alpha: None,
            sixteen_bit: false,
        });
    }
    let img = image::open(path)
        .map_err(|e| weft::Error::format(path, format!("not a readable image: {e}")))?;
    let color = img.color();
    let channels = if color.channel_count() <= 2 { 1 } else { 3 };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rgba = img.to_rgba32f();
    let mut values = vec![0f32; channels * h * w];
    for (i, p) in rgba.pixels().enumerate() {
        for c in 0..channels {
            values[c * h * w + i] = p.0[c];
        }
    }
    Ok(Planes {
        values,
        channels,
        h,
        w,
        alpha: color
            .has_alpha()
            .then(|| rgba.pixels().map(|p| p.0[3]).collect()),
        sixteen_bit: color.bytes_per_pixel() / color.channel_count() as u8 >= 2,
    })
}

/// Writes the result as safetensors (f32 as computed) or as a PNG at the
/// input's depth (magnitudes clamped to [0, 1], greyscale or RGB, alpha
/// kept).
fn write_planes(
    path: &Path,
    input: &Planes,
    values: &[f32],
) -> Result<(), Box<dyn std::error::Error>> {
    let (c, h, w) = (input.channels, input.h, input.w);
    if is_safetensors(path) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![c, h, w], &bytes)
                .map_err(|e| weft::Error::format(path, e.to_string()))?;
        let file = safetensors::serialize([("image", view)], None)
            .map_err(|e| weft::Error::format(path, e.to_string()))?;
        weft::graph::checkpoint::write_atomic(path, &file)?;
        return Ok(());
    }
    if c != 1 && c != 3 {
        return Err(
            format!("{c} channels do not make a PNG: write a .safetensors output instead").into(),
        );
    }
    // Every output channel, then alpha: 1 where the input had none.
    let pixel = |i: usize| -> Vec<f32> {
        let mut p: Vec<f32> = (0..c)
            .map(|ch| values[ch * h * w + i].abs().clamp(0.0, 1.0))
            .collect();
        if let Some(a) = &input.alpha {
            p.push(a[i]);
        }
        p
    };
    let layout = match (c, input.alpha.is_some()) {
        (1, false) => image::ColorType::L8,
        (1, true) => image::ColorType::La8,
        (_, false) => image::ColorType::Rgb8,
        (_, true) => image::ColorType::Rgba8,
    };
    let (w32, h32) = (w as u32, h as u32);
    let result = if input.sixteen_bit {
        // 16-bit samples in native byte order, as the encoder takes them.
        let data: Vec<u8> = (0..h * w)
            .flat_map(pixel)
            .flat_map(|v| ((v * 65535.0).round() as u16).to_ne_bytes())
            .collect();
        let layout = match layout {
            image::ColorType::L8 => image::ColorType::L16,
            image::ColorType::La8 => image::ColorType::La16,
            image::ColorType::Rgb8 => image::ColorType::Rgb16,
            _ => image::ColorType::Rgba16,
        };
        image::save_buffer(path, &data, w32, h32, layout)
    } else {
        let data: Vec<u8> = (0..h * w)
            .flat_map(pixel)
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        image::save_buffer(path, &data, w32, h32, layout)
    };
    result.map_err(|e| weft::Error::io(path, e))?;
    Ok(())
}

pub fn run(global: &Global, args: &FilterArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::setup::check_output_file(&args.output, "OUTPUT")?;
    let input = read_planes(&args.input)?;
    let (channels, h, w) = (input.channels, input.h, input.w);
    let border = match args.border {
        BorderArg::Zero => Border::Zero,
        BorderArg::Replicate => Border::Replicate,
        BorderArg::Reflect => Border::Reflect101,
    };
    let device = Device::new(global.device_options()?)?;
    let x = device.tensor(&[channels, h, w], &input.values)?;
    let mut level = args.level;
    if args.op == FilterOp::Otsu {
        level = filter::otsu_level(&input.values);
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
    write_planes(&args.output, &input, &values)?;
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
