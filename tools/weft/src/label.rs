//! `weft label`: connected components of a binary image on the GPU, written
//! as a colourised PNG, with each component's area, bounding box and
//! centroid.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;
use weft::Device;
use weft::kernels::label::{self, Connectivity};

use crate::Global;

#[derive(Args, Debug)]
pub struct LabelArgs {
    /// The image (PNG or JPEG); pixels brighter than the threshold are set.
    pub input: PathBuf,
    /// Where to write the components, one colour each, as PNG.
    pub output: PathBuf,
    /// 4: edge neighbours; 8: edge and corner neighbours.
    #[arg(long, value_enum, default_value_t = ConnectivityArg::Eight)]
    pub connectivity: ConnectivityArg,
    /// Brightness (0 to 1) above which a pixel is set.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Set the pixels darker than the threshold instead (dark ink on paper).
    #[arg(long)]
    pub invert: bool,
}

/// `--connectivity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConnectivityArg {
    #[value(name = "4")]
    Four,
    #[value(name = "8")]
    Eight,
}

/// A distinct, saturated colour for label `l` (golden-angle hues).
fn colour(l: u32) -> [u8; 3] {
    let h = (l as f32 * 137.507_77).rem_euclid(360.0) / 60.0;
    let x = 1.0 - (h % 2.0 - 1.0).abs();
    let (r, g, b) = match h as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [r, g, b].map(|v: f32| (55.0 + 200.0 * v) as u8)
}

pub fn run(global: &Global, args: &LabelArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::setup::check_output_file(&args.output, "OUTPUT")?;
    if !(0.0..=1.0).contains(&args.threshold) {
        return Err(format!("--threshold must be in [0, 1], got {}", args.threshold).into());
    }
    let img = image::open(&args.input)
        .map_err(|e| weft::Error::format(&args.input, format!("not a readable image: {e}")))?
        .to_luma32f();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mask: Vec<u32> = img
        .pixels()
        .map(|p| ((p.0[0] > args.threshold) != args.invert) as u32)
        .collect();
    let device = Device::new(global.device_options()?)?;
    let connectivity = match args.connectivity {
        ConnectivityArg::Four => Connectivity::Four,
        ConnectivityArg::Eight => Connectivity::Eight,
    };
    let t = device.tensor_u32(&[h, w], &mask)?;
    // Once to compile the pipelines, once timed.
    label::label(&t, connectivity)?;
    device.sync()?;
    let start = Instant::now();
    let labelled = label::label(&t, connectivity)?;
    let seconds = start.elapsed().as_secs_f64();
    let labels = labelled.labels.to_u32_vec()?;
    let components = label::components(&labels, w, labelled.count);
    let mut out = image::RgbImage::new(w as u32, h as u32);
    for (px, &l) in out.pixels_mut().zip(&labels) {
        px.0 = if l == 0 { [0, 0, 0] } else { colour(l) };
    }
    out.save(&args.output)
        .map_err(|e| weft::Error::io(&args.output, e))?;
    let mpx_s = (w * h) as f64 / seconds / 1e6;
    if global.json {
        let list: Vec<_> = components
            .iter()
            .map(|c| {
                json!({
                    "label": c.label,
                    "area": c.area,
                    "bbox": c.bbox,
                    "centroid": c.centroid,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "command": "label",
                "input": args.input.display().to_string(),
                "output": args.output.display().to_string(),
                "width": w,
                "height": h,
                "connectivity": if connectivity == Connectivity::Four { 4 } else { 8 },
                "count": labelled.count,
                "seconds": seconds,
                "megapixels_per_s": mpx_s,
                "components": list,
            })
        );
    } else {
        println!(
            "{}: {} components ({}-connected) in {:.2} ms on the GPU ({:.1} Mpx/s); {} written",
            args.input.display(),
            labelled.count,
            if connectivity == Connectivity::Four {
                4
            } else {
                8
            },
            seconds * 1e3,
            mpx_s,
            args.output.display()
        );
        let mut largest = components.clone();
        largest.sort_by_key(|c| std::cmp::Reverse(c.area));
        for c in largest.iter().take(10) {
            println!(
                "  label {:>5}: {:>8} px, rows {}..={}, columns {}..={}, centroid ({:.1}, {:.1})",
                c.label,
                c.area,
                c.bbox[0],
                c.bbox[2],
                c.bbox[1],
                c.bbox[3],
                c.centroid[0],
                c.centroid[1]
            );
        }
        if largest.len() > 10 {
            println!("  … and {} smaller", largest.len() - 10);
        }
    }
    Ok(())
}
