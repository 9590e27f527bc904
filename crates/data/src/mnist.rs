//! MNIST: where it comes from (a directory, the user's cache, a download, or
//! the subset embedded in weft) and what it holds.

use std::path::{Path, PathBuf};

use weft_device::{Error, Result};

use crate::idx::{self, IMAGES_MAGIC, LABELS_MAGIC};

/// One split of a data set: `count` 8-bit images of `channels` planes of
/// `rows`×`cols` and their class labels (MNIST: greyscale digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Pixels 0 to 255 (MNIST: background to ink), image after image, each
    /// channel plane after plane (CHW), rows row-major.
    pub images: Vec<u8>,
    /// Class of each image (MNIST: the digit).
    pub labels: Vec<u8>,
    pub count: usize,
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Split {
    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.channels * self.rows * self.cols;
        &self.images[i * n..(i + 1) * n]
    }
}

/// Where a data set was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory given by the user.
    Dir(PathBuf),
    /// The user's cache directory (downloaded earlier).
    Cache(PathBuf),
    /// The subset compiled into weft (6,000 training and 1,000 test images).
    Embedded,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Dir(p) => write!(f, "{}", p.display()),
            Source::Cache(p) => write!(f, "{} (cache)", p.display()),
            Source::Embedded => write!(f, "embedded MNIST subset"),
        }
    }
}

/// The MNIST training and test splits.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
    pub source: Source,
    /// What [`Mnist::locate`] worked around on the way (an unusable cache, a
    /// failed download), for the caller to show.
    pub notes: Vec<String>,
}

/// The four standard files with the SHA-256 of their gzipped form.
pub const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "b09d8b89df4ad239afc76a323dbe9559169cd8cca365467dfe8aa1f7ca54109b",
    ),
    (
        "train-labels-idx1-ubyte",
        "c51906e7929bbf7c824fbd16019b56297269ca82cba449c5b5d59c0a02147fed",
    ),
    (
        "t10k-images-idx3-ubyte",
        "f72c2dff3457595ec2fe452d25d97b7f974a74ad5b006687704212bedd1486d8",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "4baf84ddd60ae342cfdd282ec3fba3249a201a4459782165496a7cbebbe49a2e",
    ),
];

const EMBEDDED: [&[u8]; 4] = [
    include_bytes!("../../../data/mnist-subset/train-images-idx3-ubyte.gz"),
    include_bytes!("../../../data/mnist-subset/train-labels-idx1-ubyte.gz"),
    include_bytes!("../../../data/mnist-subset/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../../../data/mnist-subset/t10k-labels-idx1-ubyte.gz"),
];

fn split_from(
    img_path: &Path,
    images: idx::IdxArray,
    lbl_path: &Path,
    labels: idx::IdxArray,
) -> Result<Split> {
    let [count, rows, cols] = <[usize; 3]>::try_from(images.dims.as_slice()).map_err(|_| {
        Error::format(
            img_path,
            format!("expected 3 dimensions, got {:?}", images.dims),
        )
    })?;
    if labels.dims != [count] {
        return Err(Error::format(
            lbl_path,
            format!(
                "{} labels for {count} images in {}",
                labels.dims.first().copied().unwrap_or(0),
                img_path.display()
            ),
        ));
    }
    if let Some(bad) = labels.data.iter().position(|&l| l > 9) {
        return Err(Error::format(
            lbl_path,
            format!("label {} at index {bad} is not a digit", labels.data[bad]),
        ));
    }
    Ok(Split {
        images: images.data,
        labels: labels.data,
        count,
        channels: 1,
        rows,
        cols,
    })
}

/// The file `stem` in `dir`, gzipped or not.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::io(
        dir.join(format!("{stem}.gz")),
        "not found (expected the standard MNIST file names, gzipped or not)",
    ))
}

impl Mnist {
    /// Reads the four standard files from `dir`.
    pub fn load_dir(dir: &Path) -> Result<Mnist> {
        Self::load_dir_as(dir, Source::Dir(dir.to_path_buf()))
    }

    fn load_dir_as(dir: &Path, source: Source) -> Result<Mnist> {
        let paths: Vec<PathBuf> = FILES
            .iter()
            .map(|(stem, _)| find(dir, stem))
            .collect::<Result<_>>()?;
        let read = |i: usize, magic| idx::read(&paths[i], magic);
        let train = split_from(
            &paths[0],
            read(0, IMAGES_MAGIC)?,
            &paths[1],
            read(1, LABELS_MAGIC)?,
        )?;
        let test = split_from(
            &paths[2],
            read(2, IMAGES_MAGIC)?,
            &paths[3],
            read(3, LABELS_MAGIC)?,
        )?;
        Ok(Mnist {
            train,
            test,
            source,
            notes: Vec::new(),
        })
    }

    /// The subset compiled into weft.
    pub fn embedded() -> Result<Mnist> {
        let parse = |i: usize, magic| {
            let path = Path::new("embedded").join(FILES[i].0);
            let bytes = idx::maybe_gunzip(&path, EMBEDDED[i].to_vec())?;
            idx::parse(&path, &bytes, magic)
        };
        let p = |i: usize| Path::new("embedded").join(FILES[i].0);
        Ok(Mnist {
            train: split_from(
                &p(0),
                parse(0, IMAGES_MAGIC)?,
                &p(1),
                parse(1, LABELS_MAGIC)?,
            )?,
            test: split_from(
                &p(2),
                parse(2, IMAGES_MAGIC)?,
                &p(3),
                parse(3, LABELS_MAGIC)?,
            )?,
            source: Source::Embedded,
            notes: Vec::new(),
        })
    }

    /// Finds MNIST: in `dir` if given (which must then hold valid files),
    /// else in `cache`; if the cache lacks it and `download` is set, downloads
    /// it there (with a progress bar on stderr; only with the crate's
    /// `download` feature); if none of that works, the embedded subset.
    /// [`Mnist::notes`] says what had to be worked around, for the caller to
    /// show. (The command line takes `dir` from `--data` or `WEFT_DATA` and
    /// `cache` from the user's cache directory.)
    pub fn locate(dir: Option<&Path>, cache: Option<&Path>, download: bool) -> Result<Mnist> {
        if let Some(d) = dir {
            return Self::load_dir(d);
        }
        let mut notes = Vec::new();
        if let Some(cache) = cache {
            if FILES.iter().all(|(stem, _)| find(cache, stem).is_ok()) {
                match Self::load_dir_as(cache, Source::Cache(cache.to_path_buf())) {
                    Ok(m) => return Ok(m),
                    Err(e) => {
                        notes.push(format!("the cached MNIST is unusable ({e}); ignoring it"))
                    }
                }
            }
            if download {
                match fetch(cache) {
                    Ok(()) => {
                        let mut m = Self::load_dir_as(cache, Source::Cache(cache.to_path_buf()))?;
                        m.notes = notes;
                        return Ok(m);
                    }
                    Err(e) => notes.push(format!(
                        "could not download MNIST ({e}); using the embedded subset \
                         (6,000 training / 1,000 test images). Pass --data DIR for the full set."
                    )),
                }
            }
        }
        let mut m = Self::embedded()?;
        m.notes = notes;
        Ok(m)
    }
}

#[cfg(feature = "download")]
fn fetch(cache: &Path) -> Result<()> {
    crate::download::download_mnist(cache)
}

#[cfg(not(feature = "download"))]
fn fetch(_cache: &Path) -> Result<()> {
    Err(Error::invalid(
        "mnist",
        "download",
        "this build has no download support (weft-data's `download` feature)",
    ))
}

/// An MNIST-style digit from a `w`×`h` image of light ink on a dark ground
/// (values in [0, 1], row-major): crops to the ink, scales it into a 20×20
/// box and centres it by mass in 28×28, as the MNIST images were made.
/// Values stay in [0, 1]; normalise with [`MNIST_MEAN`](crate::MNIST_MEAN)
/// and [`MNIST_STD`](crate::MNIST_STD) before a network trained on them.
pub fn fit_digit(px: &[f32], w: usize, h: usize) -> Vec<f32> {
    let max = px.iter().cloned().fold(0.0f32, f32::max);
    let thresh = 0.2 * max;
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if px[y * w + x] > thresh {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    if x1 < x0 {
        return vec![0.0; 784];
    }
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = 20.0 / bw.max(bh) as f32;
    let (nw, nh) = (
        ((bw as f32 * scale).round() as usize).max(1),
        ((bh as f32 * scale).round() as usize).max(1),
    );
    // Area-average resampling of the crop to nw×nh.
    let mut small = vec![0.0f32; nw * nh];
    for oy in 0..nh {
        for ox in 0..nw {
            let (sy0, sy1) = (oy as f32 / scale, (oy + 1) as f32 / scale);
            let (sx0, sx1) = (ox as f32 / scale, (ox + 1) as f32 / scale);
            let (mut sum, mut area) = (0.0, 0.0);
            let mut y = sy0.floor() as usize;
            while (y as f32) < sy1 && y < bh {
                let wy = (sy1.min(y as f32 + 1.0) - sy0.max(y as f32)).max(0.0);
                let mut x = sx0.floor() as usize;
                while (x as f32) < sx1 && x < bw {
                    let wx = (sx1.min(x as f32 + 1.0) - sx0.max(x as f32)).max(0.0);
                    sum += px[(y0 + y) * w + x0 + x] * wx * wy;
                    area += wx * wy;
                    x += 1;
                }
                y += 1;
            }
            small[oy * nw + ox] = if area > 0.0 { sum / area } else { 0.0 };
        }
    }
    let total: f32 = small.iter().sum::<f32>().max(1e-6);
    let cy = small
        .iter()
        .enumerate()
        .map(|(i, v)| (i / nw) as f32 * v)
        .sum::<f32>()
        / total;
    let cx = small
        .iter()
        .enumerate()
        .map(|(i, v)| (i % nw) as f32 * v)
        .sum::<f32>()
        / total;
    let (oy, ox) = ((13.5 - cy).round() as i64, (13.5 - cx).round() as i64);
    let mut out = vec![0.0f32; 784];
    for y in 0..nh {
        for x in 0..nw {
            let (ty, tx) = (y as i64 + oy, x as i64 + ox);
            if (0..28).contains(&ty) && (0..28).contains(&tx) {
                out[ty as usize * 28 + tx as usize] = small[y * nw + x];
            }
        }
    }
    out
}
