//! A whole network in f64 on the host, with training-mode semantics: the
//! ground truth that weft's GPU gradients are checked against by finite
//! differences.

use weft_device::{Error, Result};
use weft_kernels::loss::Reduction;
use weft_kernels::reference::loss::cross_entropy_f64;

use crate::graph::Graph;
use crate::layer::HostArray;

/// Runs `graph` forward on the host. `params` holds every parameter and buffer
/// in [`Graph::params`] order; `inputs` the batched graph inputs. Returns the
/// graph outputs.
pub fn forward(graph: &Graph, params: &[Vec<f64>], inputs: &[HostArray]) -> Result<Vec<HostArray>> {
    if params.len() != graph.params().len() {
        return Err(Error::invalid(
            "reference",
            "params",
            format!(
                "{} parameter arrays for {} parameters",
                params.len(),
                graph.params().len()
            ),
        ));
    }
    let mut values: Vec<Option<HostArray>> = vec![None; graph.nodes().len()];
    for (id, x) in graph.inputs().into_iter().zip(inputs) {
        values[id.index()] = Some(x.clone());
    }
    for (i, node) in graph.nodes().iter().enumerate() {
        let Some(layer) = &node.layer else { continue };
        let ins: Vec<HostArray> = node
            .inputs
            .iter()
            .map(|x| values[x.index()].clone().expect("inputs run first"))
            .collect();
        let ps: Vec<&[f64]> = node
            .params
            .iter()
            .map(|p| params[p.index()].as_slice())
            .collect();
        values[i] = Some(layer.reference(&ins, &ps)?);
    }
    Ok(graph
        .outputs()
        .iter()
        .map(|o| values[o.index()].clone().expect("outputs computed"))
        .collect())
}

/// Mean softmax cross-entropy (with label smoothing) of `logits` `[N, C]`.
pub fn cross_entropy(logits: &HostArray, targets: &[i64], label_smoothing: f64) -> f64 {
    let c = logits.shape[1];
    let (losses, _) = cross_entropy_f64(&logits.data, c, targets, label_smoothing, Reduction::Mean);
    losses.iter().sum::<f64>() / targets.len() as f64
}
