//! Batches for training and evaluation: a data split kept on the device,
//! seeded shuffling, and per-sample augmentation parameters drawn on the host
//! and applied on the GPU.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_device::{DType, Device, Error, Result, Tensor};
use weft_kernels::augment::{self, Affine, ImageSet, SampleSpec};

use crate::mnist::Split;

/// MNIST's pixel mean and standard deviation (of v/255 over the training set).
pub const MNIST_MEAN: f32 = 0.1307;
pub const MNIST_STD: f32 = 0.3081;

/// ImageNet's per-channel (RGB) mean and standard deviation, as torchvision's
/// pretrained models expect their inputs normalised.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Random augmentation, each part optional (zero disables it).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Augment {
    /// Largest shift, in pixels, along each axis.
    pub shift: f32,
    /// Largest rotation, in degrees, either way.
    pub rotate: f32,
    /// Largest relative zoom (0.1: scale in [0.9, 1.1]).
    pub zoom: f32,
    /// Largest shear, in degrees.
    pub shear: f32,
    /// Mirror half the images horizontally (not for digits, but for natural images).
    pub hflip: bool,
    /// Mixup's Beta(α, α) parameter; 0 disables mixup.
    pub mixup: f32,
}

impl Augment {
    pub fn is_off(&self) -> bool {
        *self == Augment::default()
    }

    /// Every amount finite and in range: shift, rotation, shear and mixup's
    /// α non-negative; zoom in [0, 1) (a scale of 1 ± zoom); rotation and
    /// shear below 90 degrees.
    pub fn check(&self) -> Result<()> {
        let fields = [
            ("shift", self.shift, f32::MAX),
            ("rotate", self.rotate, 90.0),
            ("zoom", self.zoom, 1.0),
            ("shear", self.shear, 90.0),
            ("mixup", self.mixup, 1e6),
        ];
        for (name, v, below) in fields {
            if !(v.is_finite() && v >= 0.0 && v < below) {
                return Err(Error::invalid(
                    "augment",
                    name,
                    format!("expected a finite amount in [0, {below}), got {v}"),
                ));
            }
        }
        Ok(())
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> Affine {
        if self.shift == 0.0
            && self.rotate == 0.0
            && self.zoom == 0.0
            && self.shear == 0.0
            && !self.hflip
        {
            return Affine::IDENTITY;
        }
        let sym = |rng: &mut ChaCha8Rng, m: f32| {
            if m > 0.0 {
                rng.random_range(-m..=m)
            } else {
                0.0
            }
        };
        let angle = sym(rng, self.rotate).to_radians();
        let zoom = 1.0 + sym(rng, self.zoom);
        let shear = sym(rng, self.shear).to_radians().tan();
        let flip = self.hflip && rng.random_bool(0.5);
        let (dx, dy) = (sym(rng, self.shift), sym(rng, self.shift));
        Affine::augmentation(angle, zoom, shear, flip, dx, dy)
    }
}

/// A batch on the device.
pub struct Batch {
    /// `[N, C, rows, cols]` normalised images.
    pub images: Tensor,
    /// `[N]` I32 class indices.
    pub targets: Tensor,
    /// The same labels on the host.
    pub labels: Vec<u8>,
    /// With mixup: the partners' labels `[N]` (I32) and the weight of `targets`.
    pub mixup: Option<(Tensor, f32)>,
}

impl From<Batch> for weft_graph::Batch {
    fn from(b: Batch) -> weft_graph::Batch {
        weft_graph::Batch {
            inputs: vec![b.images],
            targets: b.targets,
            mixup: b
                .mixup
                .map(|(partners, lambda)| weft_graph::Mixup { partners, lambda }),
        }
    }
}

/// Iterates a split in batches.
pub struct Loader {
    set: ImageSet,
    labels: Vec<u8>,
    batch: usize,
    shuffle: bool,
    /// Seed of every epoch's stream: epoch `e` draws its order, augmentation
    /// and mixup from stream `e` of `seed`, so any epoch can be replayed
    /// (resuming from a checkpoint gives the uninterrupted run's batches).
    seed: u64,
    /// The epoch the next [`epoch_order`](Self::epoch_order) starts (0-based).
    next_epoch: u64,
    rng: ChaCha8Rng,
    pub augment: Augment,
    dtype: DType,
    drop_last: bool,
    /// Per-channel normalisation of `v/255` (one value: every channel).
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Loader {
    /// Uploads `split` to the device. `shuffle` reorders every epoch from `seed`;
    /// `drop_last` skips a final partial batch (for training).
    pub fn new(
        dev: &Device,
        split: &Split,
        batch: usize,
        shuffle: bool,
        seed: u64,
        dtype: DType,
    ) -> Result<Loader> {
        if batch == 0 {
            return Err(Error::invalid(
                "loader",
                "batch",
                "batch size must be at least 1",
            ));
        }
        Ok(Loader {
            set: ImageSet::upload_planar(
                dev,
                &split.images,
                split.count,
                split.channels,
                split.rows,
                split.cols,
            )?,
            labels: split.labels.clone(),
            batch,
            shuffle,
            seed,
            next_epoch: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            augment: Augment::default(),
            dtype,
            drop_last: shuffle,
            mean: vec![MNIST_MEAN],
            std: vec![MNIST_STD],
        })
    }

    /// Normalises channel `c` as `(v/255 − mean[c])/std[c]` (one value: every
    /// channel) instead of with MNIST's statistics; ImageNet-pretrained
    /// networks want [`IMAGENET_MEAN`] and [`IMAGENET_STD`].
    pub fn normalize(mut self, mean: &[f32], std: &[f32]) -> Loader {
        self.mean = mean.to_vec();
        self.std = std.to_vec();
        self
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Batches per epoch.
    pub fn batches(&self) -> usize {
        if self.drop_last && self.len() >= self.batch {
            self.len() / self.batch
        } else {
            self.len().div_ceil(self.batch)
        }
    }

    /// Makes `epoch` (0-based) the next one: its order and augmentation are
    /// those an uninterrupted run draws for it.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.next_epoch = epoch;
    }

    /// The epoch (0-based) the next [`epoch_order`](Self::epoch_order) starts.
    pub fn next_epoch(&self) -> u64 {
        self.next_epoch
    }

    /// The sample order of the next epoch; the batches built after it draw
    /// their augmentation from the same epoch's stream.
    pub fn epoch_order(&mut self) -> Vec<u32> {
        self.rng = ChaCha8Rng::seed_from_u64(self.seed);
        self.rng.set_stream(self.next_epoch);
        self.next_epoch += 1;
        let mut order: Vec<u32> = (0..self.labels.len() as u32).collect();
        if self.shuffle {
            order.shuffle(&mut self.rng);
        }
        order
    }

    /// Builds the batch of `indices` (with augmentation when enabled).
    pub fn batch(&mut self, indices: &[u32]) -> Result<Batch> {
        self.augment.check()?;
        let dev = self.set.data.device().clone();
        let mix = if self.augment.mixup > 0.0 {
            Some(beta_sample(&mut self.rng, self.augment.mixup))
        } else {
            None
        };
        let mut partners: Vec<u32> = indices.to_vec();
        if mix.is_some() {
            partners.shuffle(&mut self.rng);
        }
        let specs: Vec<SampleSpec> = indices
            .iter()
            .zip(&partners)
            .map(|(&i, &j)| SampleSpec {
                index: i,
                mix_with: j,
                lambda: mix.unwrap_or(1.0),
                transform: self.augment.draw(&mut self.rng),
            })
            .collect();
        let images = augment::gather(&self.set, &specs, &self.mean, &self.std, self.dtype)?;
        let labels: Vec<u8> = indices.iter().map(|&i| self.labels[i as usize]).collect();
        let targets = dev.tensor_i32(
            &[labels.len()],
            &labels.iter().map(|&l| l as i32).collect::<Vec<_>>(),
        )?;
        let mixup = match mix {
            Some(lambda) => {
                let b: Vec<i32> = partners
                    .iter()
                    .map(|&j| self.labels[j as usize] as i32)
                    .collect();
                Some((dev.tensor_i32(&[b.len()], &b)?, lambda))
            }
            None => None,
        };
        Ok(Batch {
            images,
            targets,
            labels,
            mixup,
        })
    }

    /// The batches of the next epoch in the loader's order (reshuffled when it
    /// shuffles), at most `limit` of them, ready for [`weft_graph::Trainer`].
    pub fn epoch(
        &mut self,
        limit: Option<usize>,
    ) -> impl Iterator<Item = Result<weft_graph::Batch>> + '_ {
        let order = self.epoch_order();
        let chunks: Vec<Vec<u32>> = self
            .chunks(&order)
            .into_iter()
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        chunks
            .into_iter()
            .map(move |c| self.batch(&c).map(Into::into))
    }

    /// [`epoch`](Self::epoch) for data-parallel worker `rank` of `workers`:
    /// the epoch's order (the same on every worker: same seed, same epoch)
    /// is cut into global batches of `batch × workers` samples, and this
    /// worker gets its `batch` of each, at most `limit` of them. Together
    /// the workers see what one loader of the global batch sees (a last
    /// partial global batch is skipped, so that every worker steps alike).
    pub fn epoch_shard(
        &mut self,
        limit: Option<usize>,
        rank: usize,
        workers: usize,
    ) -> impl Iterator<Item = Result<weft_graph::Batch>> + '_ {
        let order = self.epoch_order();
        let (batch, workers) = (self.batch, workers.max(1));
        let rank = rank.min(workers - 1);
        let chunks: Vec<Vec<u32>> = order
            .chunks(batch * workers)
            .filter(|c| c.len() == batch * workers)
            .map(|c| c[rank * batch..(rank + 1) * batch].to_vec())
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        chunks
            .into_iter()
            .map(move |c| self.batch(&c).map(Into::into))
    }

    /// Index chunks of one epoch.
    pub fn chunks(&self, order: &[u32]) -> Vec<Vec<u32>> {
        order
            .chunks(self.batch)
            .filter(|c| !self.drop_last || c.len() == self.batch || order.len() < self.batch)
            .map(<[u32]>::to_vec)
            .collect()
    }
}

/// A draw from Beta(α, α) (ratio of gammas), for mixup's λ.
fn beta_sample(rng: &mut ChaCha8Rng, alpha: f32) -> f32 {
    use rand::distr::Distribution;
    let g = rand_distr_gamma(alpha);
    let x = g.sample(rng);
    let y = g.sample(rng);
    if x + y > 0.0 { x / (x + y) } else { 0.5 }
}

/// Gamma(α, 1) by Marsaglia–Tsang (with the α < 1 boost).
fn rand_distr_gamma(alpha: f32) -> impl rand::distr::Distribution<f32> {
    struct Gamma(f32);
    impl rand::distr::Distribution<f32> for Gamma {
        fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
            let (a, boost) = if self.0 < 1.0 {
                (self.0 + 1.0, true)
            } else {
                (self.0, false)
            };
            let d = a - 1.0 / 3.0;
            let c = 1.0 / (9.0 * d).sqrt();
            let v = loop {
                let x: f32 = {
                    // Box–Muller normal.
                    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
                    let u2: f32 = rng.random();
                    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
                };
                let v = (1.0 + c * x).powi(3);
                if v <= 0.0 {
                    continue;
                }
                let u: f32 = rng.random_range(f32::EPSILON..1.0);
                if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                    break d * v;
                }
            };
            if boost {
                v * rng.random_range(f32::EPSILON..1.0f32).powf(1.0 / self.0)
            } else {
                v
            }
        }
    }
    Gamma(alpha)
}
