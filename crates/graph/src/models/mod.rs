//! Reference networks built with the graph API, named like their usual PyTorch
//! implementations so that their `state_dict`s line up.

mod lenet;
mod mobilenet;
mod resnet;
mod unet;
mod vgg;

pub use lenet::lenet5;
pub use mobilenet::{depthwise_separable, mobilenet_v1};
pub use resnet::resnet18;
pub use unet::unet;
pub use vgg::vgg16;
