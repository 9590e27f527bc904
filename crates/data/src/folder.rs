//! Image-folder data sets, laid out as torchvision's `ImageFolder` reads them:
//! one sub-folder per class, named after it, holding PNG or JPEG files. With
//! `train/` and `val/` folders inside, those are the two splits; otherwise a
//! fixed, evenly spread fraction of each class (in file-name order) is held
//! out for validation. Classes are numbered in sorted name order, as
//! torchvision numbers them.
//!
//! Every image is decoded once, converted to RGB (or grey), resized so that
//! its shorter side is `size` (bilinear) and centre-cropped to `size`×`size`,
//! then kept as bytes; normalisation and augmentation happen on the GPU when
//! batches are built ([`crate::Loader`]).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use weft_device::{Error, Result};

use crate::mnist::Split;

/// How images are prepared and split.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderOptions {
    /// Side of the square images, after resizing and centre-cropping.
    pub size: usize,
    /// 3 (RGB) or 1 (grey).
    pub channels: usize,
    /// Share of each class held out for validation when the folder has no
    /// `train/` and `val/` split (every `1/fraction`-th file).
    pub val_fraction: f32,
}

impl Default for FolderOptions {
    fn default() -> FolderOptions {
        FolderOptions {
            size: 224,
            channels: 3,
            val_fraction: 0.2,
        }
    }
}

/// An image-folder data set, decoded and split.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    pub root: PathBuf,
    /// Class names; label `k` is `classes[k]`.
    pub classes: Vec<String>,
    pub train: Split,
    pub val: Split,
}

/// Extensions read as images (case-insensitive); other files are ignored.
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

impl ImageFolder {
    /// Reads the data set under `dir`.
    pub fn load(dir: &Path, options: &FolderOptions) -> Result<ImageFolder> {
        if options.size == 0 || !matches!(options.channels, 1 | 3) {
            return Err(Error::invalid(
                "image folder",
                "options",
                format!(
                    "size must be positive and channels 1 or 3, got size {} and {} channels",
                    options.size, options.channels
                ),
            ));
        }
        if !(0.0..1.0).contains(&options.val_fraction) {
            return Err(Error::invalid(
                "image folder",
                "val_fraction",
                format!("must be in [0, 1), got {}", options.val_fraction),
            ));
        }
        let (train_dir, val_dir) = (dir.join("train"), dir.join("val"));
        let (classes, train_files, val_files) = if train_dir.is_dir() && val_dir.is_dir() {
            let (classes, train) = list_classes(&train_dir)?;
            let (val_classes, val) = list_classes(&val_dir)?;
            if let Some(extra) = val_classes.iter().find(|c| !classes.contains(c)) {
                return Err(Error::format(
                    &val_dir,
                    format!("class \"{extra}\" is not among the training classes {classes:?}"),
                ));
            }
            // Labels follow the training classes' numbering.
            let relabel = |files: Vec<(PathBuf, u8)>| -> Vec<(PathBuf, u8)> {
                files
                    .into_iter()
                    .map(|(p, l)| {
                        let name = &val_classes[l as usize];
                        let k = classes.iter().position(|c| c == name).expect("checked");
                        (p, k as u8)
                    })
                    .collect()
            };
            let val = relabel(val);
            (classes, train, val)
        } else {
            let (classes, files) = list_classes(dir)?;
            let (mut train, mut val) = (Vec::new(), Vec::new());
            let mut index_in_class = vec![0usize; classes.len()];
            for (path, label) in files {
                let i = index_in_class[label as usize];
                index_in_class[label as usize] += 1;
                let f = options.val_fraction as f64;
                // Evenly spread: file i is held out when the running count
                // of held-out files steps up.
                if ((i + 1) as f64 * f).floor() > (i as f64 * f).floor() {
                    val.push((path, label));
                } else {
                    train.push((path, label));
                }
            }
            (classes, train, val)
        };
        Ok(ImageFolder {
            root: dir.to_path_buf(),
            train: decode_all(&train_files, options)?,
            val: decode_all(&val_files, options)?,
            classes,
        })
    }
}

/// Class folders of `dir` (sorted) and their image files, labelled.
#[allow(clippy::type_complexity)]
fn list_classes(dir: &Path) -> Result<(Vec<String>, Vec<(PathBuf, u8)>)> {
    let read = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| Error::io(d, e))?
            .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(d, e)))
            .collect::<Result<_>>()?;
        entries.sort();
        Ok(entries)
    };
    let class_dirs: Vec<PathBuf> = read(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if class_dirs.is_empty() {
        return Err(Error::format(
            dir,
            "no class folders: expected DIR/<class>/<image>.png|jpg (or DIR/train/<class>/... and DIR/val/<class>/...)",
        ));
    }
    if class_dirs.len() > 256 {
        return Err(Error::format(
            dir,
            format!("{} classes; at most 256 are supported", class_dirs.len()),
        ));
    }
    let mut classes = Vec::new();
    let mut files = Vec::new();
    for (label, class_dir) in class_dirs.iter().enumerate() {
        let images: Vec<PathBuf> = read(class_dir)?
            .into_iter()
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        if images.is_empty() {
            return Err(Error::format(
                class_dir,
                "class folder without PNG or JPEG images",
            ));
        }
        classes.push(
            class_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        files.extend(images.into_iter().map(|p| (p, label as u8)));
    }
    Ok((classes, files))
}

/// Decodes, resizes and crops every file into one split.
fn decode_all(files: &[(PathBuf, u8)], options: &FolderOptions) -> Result<Split> {
    let (size, channels) = (options.size, options.channels);
    let mut images = Vec::with_capacity(files.len() * channels * size * size);
    for (path, _) in files {
        images.extend(prepare(path, size, channels)?);
    }
    Ok(Split {
        images,
        labels: files.iter().map(|(_, l)| *l).collect(),
        count: files.len(),
        channels,
        rows: size,
        cols: size,
    })
}

/// Largest image a folder decodes: 16384 pixels a side and 256 MiB of
/// decoded pixels, so that a file whose header claims a huge image is
/// refused before anything that size is allocated.
pub const MAX_IMAGE_SIDE: u32 = 16384;
const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// Decodes an encoded image (PNG or JPEG) within [`MAX_IMAGE_SIDE`] and the
/// decoded-size limit; `origin` names it in errors.
pub fn decode(bytes: &[u8], origin: &Path) -> Result<image::DynamicImage> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(origin, e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| Error::format(origin, format!("not a readable image: {e}")))
}

/// One image as `channels` planes of `size`×`size` bytes: shorter side
/// resized to `size` (bilinear), centre crop.
pub fn prepare(path: &Path, size: usize, channels: usize) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    prepare_bytes(&bytes, path, size, channels)
}

/// [`prepare`] on an encoded image (PNG or JPEG) in memory; `origin` names it
/// in errors.
pub fn prepare_bytes(bytes: &[u8], origin: &Path, size: usize, channels: usize) -> Result<Vec<u8>> {
    let path = origin;
    let img = decode(bytes, origin)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(Error::format(path, "empty image"));
    }
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as usize).max(size),
        ((h as f64 * scale).round() as usize).max(size),
    );
    let resized = img.resize_exact(nw as u32, nh as u32, FilterType::Triangle);
    let (x0, y0) = ((nw - size) / 2, (nh - size) / 2);
    let cropped = resized.crop_imm(x0 as u32, y0 as u32, size as u32, size as u32);
    let mut planes = vec![0u8; channels * size * size];
    if channels == 1 {
        planes.copy_from_slice(cropped.to_luma8().as_raw());
    } else {
        let rgb = cropped.to_rgb8();
        for (i, px) in rgb.pixels().enumerate() {
            for c in 0..3 {
                planes[c * size * size + i] = px.0[c];
            }
        }
    }
    Ok(planes)
}
