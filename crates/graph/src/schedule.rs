//! Schedules: the order of forward, loss and backward launches for a network,
//! and liveness over it — after which step every activation, saved tensor and
//! gradient is released.
//!
//! A schedule is a list of steps, each reading and producing *values*: node
//! outputs, the extras a layer keeps for backward, and gradients. A value is
//! released right after the last step that reads it (or right after it is
//! produced, if nothing reads it). Recomputed segments (gradient checkpointing)
//! produce a node's output a second time, inside backward; liveness handles
//! each production separately.

use crate::graph::{Graph, NodeId};
use crate::layer::Saves;

/// A value of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Val {
    /// Output of a node.
    Act(usize),
    /// Extra tensor `k` a node keeps for its backward.
    Extra(usize, usize),
    /// Gradient of the loss with respect to a node's output (accumulated over
    /// the node's consumers).
    Grad(usize),
}

/// One launch of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Forward of a node. `recompute` marks a re-run inside backward.
    Forward { node: NodeId, recompute: bool },
    /// The loss on the first output: produces `Grad(output)`.
    Loss,
    /// Backward of a node, then the optimizer update of its parameters.
    Backward(NodeId),
    /// End of the run: reads what the caller gets back.
    Return,
}

/// A run of a network: steps, and what to release after each.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub train: bool,
    pub steps: Vec<Step>,
    /// Values read by each step.
    pub reads: Vec<Vec<Val>>,
    /// Values produced by each step (gradients count as produced by each
    /// contributing backward step).
    pub writes: Vec<Vec<Val>>,
    /// Values to drop after each step.
    pub release_after: Vec<Vec<Val>>,
    /// Whether each node's output needs a gradient.
    pub requires_grad: Vec<bool>,
    /// What each node's backward reads (empty when not training).
    pub saves: Vec<Saves>,
    /// Number of extras each node keeps in training.
    pub extras: Vec<usize>,
    /// Nodes whose forward is re-run in backward instead of keeping what their
    /// backward reads.
    pub recomputed: Vec<bool>,
    /// Training runs that return the gradient with respect to each graph
    /// input (kept to the end, read by [`Step::Return`]).
    pub input_grads: bool,
    /// Nodes whose output and gradient a training run returns (after the
    /// input gradients): Grad-CAM's activations and their gradients.
    pub keep: Vec<NodeId>,
}

impl Schedule {
    /// Forward only: every activation is released after its last consumer; the
    /// outputs are kept for the caller.
    pub fn inference(g: &Graph) -> Schedule {
        let n = g.nodes().len();
        let mut steps: Vec<Step> = (0..n)
            .filter(|&i| g.nodes()[i].layer.is_some())
            .map(|i| Step::Forward {
                node: NodeId(i),
                recompute: false,
            })
            .collect();
        steps.push(Step::Return);
        let saves = vec![Saves::default(); n];
        Self::finish(
            g,
            false,
            steps,
            vec![false; n],
            saves,
            vec![0; n],
            vec![false; n],
            (false, Vec::new()),
        )
    }

    /// Forward, loss on the first output, backward in reverse order with each
    /// layer's parameters updated as soon as their gradients exist. Nodes in
    /// `recompute` keep nothing for backward; each maximal run of them is re-run
    /// forward just before its backward.
    ///
    /// `extras[i]` is the number of extra tensors node `i` keeps in training.
    pub fn training(g: &Graph, extras: Vec<usize>, recompute: &[bool]) -> Schedule {
        Schedule::training_with(g, extras, recompute, false, &[])
    }

    /// [`training`](Self::training), also producing the gradient with respect
    /// to every graph input when `input_grads` (saliency maps, adversarial
    /// examples), returned by the run in input order, then the output and
    /// the gradient of each node of `keep`.
    pub fn training_with(
        g: &Graph,
        extras: Vec<usize>,
        recompute: &[bool],
        input_grads: bool,
        keep: &[NodeId],
    ) -> Schedule {
        let n = g.nodes().len();
        let nodes = g.nodes();
        let mut requires_grad = vec![false; n];
        for (i, node) in nodes.iter().enumerate() {
            if node.layer.is_none() {
                requires_grad[i] = input_grads;
                continue;
            }
            let has_params = node.params.iter().any(|&p| g.param(p).is_trained());
            let diff = node
                .layer
                .as_ref()
                .map(|l| l.differentiable_inputs(node.inputs.len()))
                .unwrap_or_default();
            requires_grad[i] = node.layer.is_some()
                && (has_params
                    || node
                        .inputs
                        .iter()
                        .zip(&diff)
                        .any(|(inp, &d)| d && requires_grad[inp.0]));
        }
        // Only what the loss (on the first output) depends on gets a
        // gradient: a branch that no output reads, or that feeds only the
        // other outputs (an auxiliary head), runs forward and is skipped
        // backward, its parameters left without a gradient, as in PyTorch.
        let mut feeds_loss = vec![false; n];
        if let Some(&out) = g.outputs().first() {
            feeds_loss[out.0] = true;
        }
        for i in (0..n).rev() {
            if feeds_loss[i] {
                for inp in &nodes[i].inputs {
                    feeds_loss[inp.0] = true;
                }
            }
        }
        for (r, &f) in requires_grad.iter_mut().zip(&feeds_loss) {
            *r &= f;
        }
        let saves: Vec<Saves> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| match &node.layer {
                Some(l) => l.saves_trained(node.inputs.len(), &g.trained(NodeId(i))),
                None => Saves::default(),
            })
            .collect();

        let mut steps: Vec<Step> = (0..n)
            .filter(|&i| nodes[i].layer.is_some())
            .map(|i| Step::Forward {
                node: NodeId(i),
                recompute: false,
            })
            .collect();
        steps.push(Step::Loss);
        let mut i = n;
        while i > 0 {
            i -= 1;
            if !requires_grad[i] || nodes[i].layer.is_none() {
                continue;
            }
            if recompute[i] {
                // The maximal run of recomputed nodes ending here, re-run forward.
                let mut start = i;
                while start > 0 && recompute[start - 1] && nodes[start - 1].layer.is_some() {
                    start -= 1;
                }
                for (j, node) in nodes.iter().enumerate().take(i + 1).skip(start) {
                    if node.layer.is_some() {
                        steps.push(Step::Forward {
                            node: NodeId(j),
                            recompute: true,
                        });
                    }
                }
                for j in (start..=i).rev() {
                    if requires_grad[j] && nodes[j].layer.is_some() {
                        steps.push(Step::Backward(NodeId(j)));
                    }
                }
                i = start;
                continue;
            }
            steps.push(Step::Backward(NodeId(i)));
        }
        steps.push(Step::Return);
        Self::finish(
            g,
            true,
            steps,
            requires_grad,
            saves,
            extras,
            recompute.to_vec(),
            (input_grads, keep.to_vec()),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        g: &Graph,
        train: bool,
        steps: Vec<Step>,
        requires_grad: Vec<bool>,
        saves: Vec<Saves>,
        extras: Vec<usize>,
        recomputed: Vec<bool>,
        (input_grads, keep): (bool, Vec<NodeId>),
    ) -> Schedule {
        let nodes = g.nodes();
        let outputs = g.outputs();
        let mut reads = Vec::with_capacity(steps.len());
        let mut writes = Vec::with_capacity(steps.len());
        for step in &steps {
            let (r, w) = match *step {
                Step::Forward { node, recompute } => {
                    let i = node.0;
                    let r: Vec<Val> = nodes[i].inputs.iter().map(|x| Val::Act(x.0)).collect();
                    let _ = recompute;
                    let mut w = vec![Val::Act(i)];
                    if train {
                        w.extend((0..extras[i]).map(|k| Val::Extra(i, k)));
                    }
                    (r, w)
                }
                Step::Loss => {
                    let o = outputs[0].0;
                    (vec![Val::Act(o)], vec![Val::Grad(o)])
                }
                Step::Backward(node) => {
                    let i = node.0;
                    let s = &saves[i];
                    let mut r = vec![Val::Grad(i)];
                    for (k, inp) in nodes[i].inputs.iter().enumerate() {
                        if s.inputs.get(k).copied().unwrap_or(false) {
                            r.push(Val::Act(inp.0));
                        }
                    }
                    if s.output {
                        r.push(Val::Act(i));
                    }
                    r.extend((0..extras[i]).map(|k| Val::Extra(i, k)));
                    let diff = nodes[i]
                        .layer
                        .as_ref()
                        .map(|l| l.differentiable_inputs(nodes[i].inputs.len()))
                        .unwrap_or_default();
                    let w = nodes[i]
                        .inputs
                        .iter()
                        .zip(&diff)
                        .filter(|(inp, d)| **d && requires_grad[inp.0])
                        .map(|(inp, _)| Val::Grad(inp.0))
                        .collect();
                    (r, w)
                }
                Step::Return => {
                    let r = if !train {
                        outputs.iter().map(|o| Val::Act(o.0)).collect()
                    } else {
                        let inputs = g.inputs();
                        let grads = inputs
                            .iter()
                            .filter(|_| input_grads)
                            .map(|i| Val::Grad(i.0));
                        let kept = keep.iter().flat_map(|k| [Val::Act(k.0), Val::Grad(k.0)]);
                        grads.chain(kept).collect()
                    };
                    (r, Vec::new())
                }
            };
            reads.push(r);
            writes.push(w);
        }
        let release_after = liveness(&reads, &writes);
        Schedule {
            train,
            steps,
            reads,
            writes,
            release_after,
            requires_grad,
            saves,
            extras,
            recomputed,
            input_grads,
            keep,
        }
    }
}

/// After which step each value is released.
///
/// Activations and extras: each production lives until the last read before
/// the value is produced again (or is dropped at once if nothing reads it).
/// Gradients accumulate over several producing steps and are read once, by
/// their node's backward; a gradient nobody reads is dropped where produced.
fn liveness(reads: &[Vec<Val>], writes: &[Vec<Val>]) -> Vec<Vec<Val>> {
    use std::collections::HashMap;
    let n = reads.len();
    let mut release = vec![Vec::new(); n];
    let mut produced: HashMap<Val, Vec<usize>> = HashMap::new();
    let mut read_at: HashMap<Val, Vec<usize>> = HashMap::new();
    for s in 0..n {
        for v in &writes[s] {
            produced.entry(*v).or_default().push(s);
        }
        for v in &reads[s] {
            read_at.entry(*v).or_default().push(s);
        }
    }
    for (v, prods) in &produced {
        let reads = read_at.get(v).map(Vec::as_slice).unwrap_or(&[]);
        if matches!(v, Val::Grad(_)) {
            match reads.last() {
                Some(&r) => release[r].push(*v),
                None => {
                    for &p in prods {
                        release[p].push(*v);
                    }
                }
            }
            continue;
        }
        for (k, &p) in prods.iter().enumerate() {
            let next = prods.get(k + 1).copied().unwrap_or(n);
            let last = reads.iter().copied().filter(|&r| r > p && r < next).max();
            release[last.unwrap_or(p)].push(*v);
        }
    }
    for r in &mut release {
        r.sort();
        r.dedup();
    }
    release
}
