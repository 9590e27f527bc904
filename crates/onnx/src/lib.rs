//! ONNX import: a model trained elsewhere (PyTorch's exporter, the ONNX model
//! zoo) as a weft [`Graph`] with named layers and its weights.
//!
//! ```no_run
//! # fn main() -> weft_device::Result<()> {
//! let device = weft_device::Device::from_env()?;
//! let imported = weft_onnx::import_file(std::path::Path::new("model.onnx"), &Default::default())?;
//! let mut model = imported.into_model(&device)?;
//! let x = device.upload_f32(&[1, 3, 224, 224], weft_device::DType::F32, &vec![0.0; 3 * 224 * 224])?;
//! let y = model.forward(&[&x])?;
//! # Ok(()) }
//! ```
//!
//! # What is imported
//! Each ONNX node becomes one weft layer (convolution, batch norm, pooling,
//! activations, linear, add, concat, softmax, reshape views), or nothing at
//! all: `Dropout` and `Identity` alias their input, and nodes whose inputs
//! are all constants (`Constant`, `ConstantOfShape`, shape arithmetic) are
//! evaluated on the host while importing. The batch dimension stays symbolic:
//! weft's shapes are per sample, so a model exported at batch 1 runs at any
//! batch. Anything weft cannot run exactly is refused with
//! [`Error::Unsupported`](weft_device::Error::Unsupported) naming the node,
//! its operator and the attribute or input: never a silent approximation.
//!
//! Layers keep PyTorch's `state_dict` names where the exporter kept them
//! (`layer1.0.conv1.weight` names the layer `layer1.0.conv1`), so imported
//! weights line up with a weft network built by hand.
//!
//! # The parser
//! The protobuf is read by [`onnx_rs`], pinned exactly: it has no
//! dependencies and borrows weights from the file's bytes instead of copying
//! them. The alternative, `onnx-ir` from the burn project, normalises
//! attributes across opsets but brings burn's tensor crate with it; the
//! normalisation weft needs (pads, axes, opset defaults) is a few lines per
//! operator here.

mod attrs;
mod convert;
mod fold;
mod tensor;

use std::path::Path;

use weft_device::{Device, Error, Result};
use weft_graph::{Graph, Model};

pub use tensor::{Const, read_tensor};

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The first input's per-sample shape (without the batch), for models
    /// whose input has symbolic sizes besides the batch.
    pub input_shape: Option<Vec<usize>>,
}

/// A parameter's values, named as the graph names it (`conv1.weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub name: String,
    pub dims: Vec<usize>,
    pub values: Vec<f32>,
}

/// An imported model: the graph, its weights and where its tensors came from.
#[derive(Debug, Clone)]
pub struct Imported {
    pub graph: Graph,
    /// Every parameter and buffer of `graph`, with its values.
    pub weights: Vec<Weight>,
    /// ONNX names of the graph's inputs, in order.
    pub inputs: Vec<String>,
    /// Per-sample shapes of the inputs (the batch is added when running).
    pub input_shapes: Vec<Vec<usize>>,
    /// ONNX names of the graph's outputs, in order.
    pub outputs: Vec<String>,
    /// The default domain's operator set version.
    pub opset: i64,
    /// The exporter (`pytorch 2.5.0`), when the file says.
    pub producer: String,
}

impl Imported {
    /// Writes the weights into `model`, a model of [`graph`](Self::graph).
    pub fn load_into(&self, model: &mut Model) -> Result<()> {
        for w in &self.weights {
            model.set_param(&w.name, &w.values)?;
        }
        Ok(())
    }

    /// The imported network on `device` with its weights, in evaluation mode.
    pub fn into_model(self, device: &Device) -> Result<Model> {
        let weights = self.weights;
        let mut model = Model::new(device, self.graph, 0)?;
        for w in &weights {
            model.set_param(&w.name, &w.values)?;
        }
        model.eval();
        Ok(model)
    }
}

/// Imports an ONNX model from its bytes.
pub fn import(bytes: &[u8], options: &ImportOptions) -> Result<Imported> {
    let model = onnx_rs::parse(bytes)
        .map_err(|e| Error::format("ONNX model", format!("not a valid ONNX protobuf: {e}")))?;
    convert::import(&model, options)
}

/// Imports the ONNX model at `path`.
pub fn import_file(path: &Path, options: &ImportOptions) -> Result<Imported> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    import(&bytes, options).map_err(|e| match e {
        Error::Format { message, .. } => Error::format(path, message),
        // An empty or graph-less file: the file is at fault, so name it.
        Error::InvalidArgument { op, param, message } if op == "model" => {
            Error::format(path, format!("{param}: {message}"))
        }
        other => other,
    })
}
