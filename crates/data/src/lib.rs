//! weft's data sets: MNIST in its standard IDX form (gzipped or raw) from a
//! directory, a cache directory, a verified download (the `download` feature,
//! on by default: HTTP and a progress bar), or the subset embedded in weft;
//! image folders of PNG and JPEG files (one sub-folder per class); and
//! batches built on the GPU with optional augmentation, ready for
//! [`weft_graph::Trainer`].

#[cfg(feature = "download")]
pub mod download;
pub mod folder;
pub mod idx;
pub mod loader;
pub mod mnist;

pub use folder::{FolderOptions, ImageFolder};
pub use loader::{Augment, Batch, IMAGENET_MEAN, IMAGENET_STD, Loader, MNIST_MEAN, MNIST_STD};
pub use mnist::{Mnist, Source, Split, fit_digit};
