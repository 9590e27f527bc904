//! Reference networks built with the graph API, named like their usual PyTorch
//! implementations so that their `state_dict`s line up.

mod lenet;
mod mobilenet;
mod resnet;
mod unet;

pub use lenet::lenet5;
pub use mobilenet::depthwise_separable;
pub use resnet::resnet18;
pub use unet::unet;
