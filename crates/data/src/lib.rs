//! weft's data sets: MNIST in its standard IDX form (gzipped or raw) from a
//! directory, the user's cache, a verified download, or the subset embedded in
//! weft; and batches built on the GPU with optional augmentation.

pub mod download;
pub mod idx;
pub mod loader;
pub mod mnist;

pub use loader::{Augment, Batch, Loader, MNIST_MEAN, MNIST_STD};
pub use mnist::{Mnist, Source, Split};
