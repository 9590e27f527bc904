//! Building training batches on the GPU from a data set of 8-bit images kept on
//! the device (1 to 4 channels): gather by index, affine augmentation (shift,
//! rotation, zoom, shear, flip) with bilinear sampling, mixup blending, and
//! per-channel normalisation.

use weft_device::{Binding, DType, Device, Error, Kernel, Result, Tensor};

use crate::precision::Precision;
use crate::shaders::typed;

typed!(GATHER_AFFINE, [], "augment/gather_affine.wgsl");

/// Shaders this module launches.
pub(crate) fn shaders() -> Vec<&'static weft_device::Shader> {
    crate::shaders::list(&[&GATHER_AFFINE], &[])
}

/// An inverse affine map from output to source pixel coordinates about the
/// image centre: `src = [a b; c d]·(dst − centre) + centre + (tx, ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub d: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// The inverse map of: rotate by `angle` radians, scale by `zoom`, shear
    /// x by `shear` (tan of the angle), mirror horizontally if `flip`, then shift
    /// by (`dx`, `dy`) pixels.
    pub fn augmentation(angle: f32, zoom: f32, shear: f32, flip: bool, dx: f32, dy: f32) -> Affine {
        // Forward map M = R(angle) · Shear · Scale · Flip; we need M⁻¹.
        let (s, c) = angle.sin_cos();
        let f = if flip { -1.0 } else { 1.0 };
        // Forward 2x2: [c -s; s c] · [1 shear; 0 1] · [zoom·f 0; 0 zoom]
        let m = [
            c * zoom * f,
            (c * shear - s) * zoom,
            s * zoom * f,
            (s * shear + c) * zoom,
        ];
        let det = m[0] * m[3] - m[1] * m[2];
        let inv = [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det];
        Affine {
            a: inv[0],
            b: inv[1],
            c: inv[2],
            d: inv[3],
            tx: -(inv[0] * dx + inv[1] * dy),
            ty: -(inv[2] * dx + inv[3] * dy),
        }
    }
}

/// One sample of a batch to build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSpec {
    /// Index of the image in the data set.
    pub index: u32,
    /// Mixup partner and the weight of `index` (1.0: no mixup).
    pub mix_with: u32,
    pub lambda: f32,
    pub transform: Affine,
}

/// Most channels an image set holds (grey, RGB, RGBA).
pub const MAX_CHANNELS: usize = 4;

/// A data set of `count` 8-bit images of `channels` planes of `rows`×`cols`
/// on the device.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// The bytes, packed four per u32 word; image after image, each plane
    /// after plane (CHW).
    pub data: Tensor,
    pub count: usize,
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
}

impl ImageSet {
    /// Uploads `count` greyscale images of `rows`×`cols` bytes each.
    pub fn upload(
        dev: &Device,
        bytes: &[u8],
        count: usize,
        rows: usize,
        cols: usize,
    ) -> Result<ImageSet> {
        ImageSet::upload_planar(dev, bytes, count, 1, rows, cols)
    }

    /// Uploads `count` images of `channels` planes (1 to 4) of `rows`×`cols`
    /// bytes each, CHW per image.
    pub fn upload_planar(
        dev: &Device,
        bytes: &[u8],
        count: usize,
        channels: usize,
        rows: usize,
        cols: usize,
    ) -> Result<ImageSet> {
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(Error::invalid(
                "image_set",
                "channels",
                format!("1 to {MAX_CHANNELS} channels, got {channels}"),
            ));
        }
        if bytes.len() != count * channels * rows * cols {
            return Err(Error::shape(
                "image_set",
                format!(
                    "{} bytes for {count} images of {channels}x{rows}x{cols}",
                    bytes.len()
                ),
            ));
        }
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        for (i, &b) in bytes.iter().enumerate() {
            words[i / 4] |= (b as u32) << (8 * (i % 4));
        }
        Ok(ImageSet {
            data: dev.tensor_u32(&[words.len()], &words)?,
            count,
            channels,
            rows,
            cols,
        })
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    count: u32,
    channels: u32,
    _pad: [u32; 3],
    mean: [f32; 4],
    inv_std: [f32; 4],
}

/// Builds a `[N, C, rows, cols]` batch of `dtype` from `samples`, channel `c`
/// normalised as `(v/255 − mean[c])/std[c]` (`mean` and `std` hold one value
/// per channel, or one for all).
pub fn gather(
    set: &ImageSet,
    samples: &[SampleSpec],
    mean: &[f32],
    std: &[f32],
    dtype: DType,
) -> Result<Tensor> {
    let dev = set.data.device();
    if samples.is_empty() {
        return Err(Error::shape("gather", "empty batch"));
    }
    let per_channel = |what: &str, v: &[f32]| -> Result<[f32; 4]> {
        let mut out = [0.0; 4];
        for (c, o) in out.iter_mut().enumerate().take(set.channels) {
            *o = match v.len() {
                1 => v[0],
                n if n == set.channels => v[c],
                n => {
                    return Err(Error::invalid(
                        "gather",
                        what,
                        format!("one value or one per channel ({}), got {n}", set.channels),
                    ));
                }
            };
        }
        Ok(out)
    };
    let mean = per_channel("mean", mean)?;
    let std = per_channel("std", std)?;
    if let Some(s) = std
        .iter()
        .take(set.channels)
        .find(|s| s.is_nan() || **s <= 0.0)
    {
        return Err(Error::invalid(
            "gather",
            "std",
            format!("must be positive, got {s}"),
        ));
    }
    if let Some(s) = samples
        .iter()
        .find(|s| s.index as usize >= set.count || s.mix_with as usize >= set.count)
    {
        return Err(Error::invalid(
            "gather",
            "index",
            format!(
                "image {} / {} out of range for {} images",
                s.index, s.mix_with, set.count
            ),
        ));
    }
    let precision = Precision::for_dtype(dev, dtype)?;
    let shader = GATHER_AFFINE.get(precision).ok_or_else(|| {
        Error::invalid(
            "gather",
            "dtype",
            "packed f16 output is not supported; use f32 or native f16",
        )
    })?;
    let n = samples.len();
    let src: Vec<u32> = samples.iter().flat_map(|s| [s.index, s.mix_with]).collect();
    let xf: Vec<f32> = samples
        .iter()
        .flat_map(|s| {
            let t = s.transform;
            [t.a, t.b, t.c, t.d, t.tx, t.ty, s.lambda, 0.0]
        })
        .collect();
    let src_t = dev.tensor_u32(&[n, 2], &src)?;
    let xf_t = dev.tensor(&[n, 8], &xf)?;
    let out = dev.empty(&[n, set.channels, set.rows, set.cols], dtype)?;
    let params = Params {
        n: n as u32,
        rows: set.rows as u32,
        cols: set.cols as u32,
        count: set.count as u32,
        channels: set.channels as u32,
        _pad: [0; 3],
        mean,
        inv_std: std.map(|s| if s > 0.0 { 1.0 / s } else { 0.0 }),
    };
    dev.dispatch(
        &Kernel::new("gather", shader, "main"),
        bytemuck::bytes_of(&params),
        &[
            Binding::Read(set.data.binding()),
            Binding::Read(src_t.binding()),
            Binding::Read(xf_t.binding()),
            Binding::ReadWrite(out.binding()),
        ],
        (n * set.channels * set.rows * set.cols).div_ceil(256) as u64,
    )?;
    Ok(out)
}

/// CPU reference of [`gather`] for one sample of `channels`×`rows`×`cols`
/// images (f64; `mean`, `std` per channel).
pub fn reference(
    images: &[u8],
    channels: usize,
    rows: usize,
    cols: usize,
    s: &SampleSpec,
    mean: &[f64],
    std: &[f64],
) -> Vec<f64> {
    let mut out = Vec::with_capacity(channels * rows * cols);
    for ch in 0..channels {
        let plane = |img: usize| (img * channels + ch) * rows * cols;
        out.extend(reference_plane(
            images, plane, rows, cols, s, mean[ch], std[ch],
        ));
    }
    out
}

/// One channel of [`reference`]: `plane(img)` is where that image's plane starts.
fn reference_plane(
    images: &[u8],
    plane: impl Fn(usize) -> usize,
    rows: usize,
    cols: usize,
    s: &SampleSpec,
    mean: f64,
    std: f64,
) -> Vec<f64> {
    let pixel = |img: usize, y: i64, x: i64| -> f64 {
        if y < 0 || x < 0 || y >= rows as i64 || x >= cols as i64 {
            0.0
        } else {
            images[plane(img) + y as usize * cols + x as usize] as f64
        }
    };
    let bilinear = |img: usize, sy: f64, sx: f64| -> f64 {
        let (y0, x0) = (sy.floor(), sx.floor());
        let (fy, fx) = (sy - y0, sx - x0);
        let (iy, ix) = (y0 as i64, x0 as i64);
        let top = pixel(img, iy, ix) * (1.0 - fx) + pixel(img, iy, ix + 1) * fx;
        let bottom = pixel(img, iy + 1, ix) * (1.0 - fx) + pixel(img, iy + 1, ix + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let (cy, cx) = (0.5 * (rows - 1) as f64, 0.5 * (cols - 1) as f64);
    let t = s.transform;
    let mut out = Vec::with_capacity(rows * cols);
    for y in 0..rows {
        for x in 0..cols {
            let (xd, yd) = (x as f64 - cx, y as f64 - cy);
            let sx = t.a as f64 * xd + t.b as f64 * yd + cx + t.tx as f64;
            let sy = t.c as f64 * xd + t.d as f64 * yd + cy + t.ty as f64;
            let mut v = bilinear(s.index as usize, sy, sx);
            if s.lambda < 1.0 {
                let l = s.lambda as f64;
                v = l * v + (1.0 - l) * bilinear(s.mix_with as usize, sy, sx);
            }
            out.push((v / 255.0 - mean) / std);
        }
    }
    out
}
