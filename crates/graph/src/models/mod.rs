//! Reference networks built with the graph API, named like their usual PyTorch
//! implementations (torchvision's for the ImageNet classifiers) so that their
//! `state_dict`s line up and pretrained weights load unchanged.

mod alexnet;
mod googlenet;
mod lenet;
mod mobilenet;
mod mobilenet_v2;
mod resnet;
mod unet;
mod vgg;
mod zoo;

pub use alexnet::alexnet;
pub use googlenet::{InceptionWidths, googlenet, inception};
pub use lenet::lenet5;
pub use mobilenet::{depthwise_separable, mobilenet_v1};
pub use mobilenet_v2::mobilenet_v2;
pub use resnet::{resnet, resnet18};
pub use unet::{UnetConfig, unet};
pub use vgg::{vgg, vgg16};
pub use zoo::{ZOO, ZooEntry, build, entry};
