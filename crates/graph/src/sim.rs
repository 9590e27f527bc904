//! The memory simulation: a [`Backend`] whose "tensors" are byte counts that
//! add to a counter when created and subtract when the last handle drops —
//! the same reference counting the device pool sees. Run through the same
//! driver as the real backend, its peak is the device's planned peak.

use std::cell::RefCell;
use std::rc::Rc;

use weft_device::{DType, Device, Result};

use crate::graph::{Graph, NodeId, ParamId};
use crate::layer::AllocCtx;
use crate::loss::Loss;
use crate::run::{Backend, BackwardArgs};

#[derive(Debug, Default)]
pub(crate) struct Counter {
    pub cur: u64,
    pub peak: u64,
}

impl Counter {
    fn alloc(&mut self, bytes: u64) {
        self.cur += bytes;
        self.peak = self.peak.max(self.cur);
    }
}

#[derive(Debug)]
struct SimBuf {
    bytes: u64,
    counter: Rc<RefCell<Counter>>,
}

impl Drop for SimBuf {
    fn drop(&mut self) {
        self.counter.borrow_mut().cur -= self.bytes;
    }
}

/// A simulated tensor: shared storage of some bytes.
#[derive(Debug, Clone)]
pub(crate) struct SimT(Rc<SimBuf>);

impl SimT {
    pub fn bytes(&self) -> u64 {
        self.0.bytes
    }
}

pub(crate) struct Sim<'a> {
    pub graph: &'a Graph,
    pub device: &'a Device,
    pub batch: usize,
    pub dtype: DType,
    pub train: bool,
    pub loss: Option<Loss>,
    pub counter: Rc<RefCell<Counter>>,
    /// Tensors the caller keeps after the step (loss, accuracy count).
    pub kept: Vec<SimT>,
    /// Keep parameter gradients to the end instead of consuming them at once.
    pub keep_everything: bool,
}

impl Sim<'_> {
    /// A new simulated tensor of `bytes`.
    pub fn tensor(&self, bytes: u64) -> SimT {
        self.counter.borrow_mut().alloc(bytes);
        SimT(Rc::new(SimBuf {
            bytes,
            counter: self.counter.clone(),
        }))
    }

    /// A launch that peaks at `peak` bytes and keeps `tensors` afterwards.
    fn launch(&self, peak: u64, kept: &[u64]) -> Vec<SimT> {
        let retained: u64 = kept.iter().sum();
        debug_assert!(peak >= retained, "a launch's peak includes what it keeps");
        let transient = peak.saturating_sub(retained);
        self.counter.borrow_mut().alloc(transient);
        let out: Vec<SimT> = kept.iter().map(|&b| self.tensor(b)).collect();
        self.counter.borrow_mut().cur -= transient;
        out
    }

    fn ctx<'b>(
        &'b self,
        node: NodeId,
        need: &'b [bool],
        trained: &'b [bool],
        shapes: &'b [Vec<usize>],
    ) -> AllocCtx<'b> {
        AllocCtx {
            device: self.device,
            batch: self.batch,
            inputs: shapes,
            output: &self.graph.node(node).shape,
            dtype: self.dtype,
            train: self.train,
            need_input_grad: need,
            need_param_grad: trained,
        }
    }

    fn input_shapes(&self, node: NodeId) -> Vec<Vec<usize>> {
        let g = self.graph;
        g.node(node)
            .inputs
            .iter()
            .map(|&i| g.shape(i).to_vec())
            .collect()
    }
}

impl Backend for Sim<'_> {
    type T = SimT;

    fn forward(
        &mut self,
        node: NodeId,
        inputs: &[SimT],
        _recompute: bool,
    ) -> Result<(SimT, Vec<SimT>)> {
        let layer = self.graph.node(node).layer.as_ref().expect("layer node");
        let shapes = self.input_shapes(node);
        let need = vec![false; shapes.len()];
        let trained = self.graph.trained(node);
        let alloc = layer.forward_alloc(&self.ctx(node, &need, &trained, &shapes));
        let alias = layer.output_aliases_input();
        let out_bytes = if alias.is_some() {
            0
        } else {
            AllocCtx::bytes(
                &self.ctx(node, &need, &trained, &shapes),
                &self.graph.node(node).shape,
            )
        };
        let mut kept = vec![out_bytes];
        kept.extend(&alloc.extras);
        let mut made = self.launch(alloc.peak, &kept).into_iter();
        let out = made.next().expect("output");
        let out = match alias {
            Some(i) => inputs[i].clone(),
            None => out,
        };
        Ok((out, made.collect()))
    }

    fn backward(
        &mut self,
        args: BackwardArgs<'_, SimT>,
    ) -> Result<(Vec<Option<SimT>>, Vec<Option<SimT>>)> {
        let layer = self
            .graph
            .node(args.node)
            .layer
            .as_ref()
            .expect("layer node");
        let shapes = self.input_shapes(args.node);
        let trained = self.graph.trained(args.node);
        let alloc =
            layer.backward_alloc(&self.ctx(args.node, args.need_input_grad, &trained, &shapes));
        let aliased = layer.grad_aliases_dy(shapes.len());
        let mut kept: Vec<u64> = alloc.input_grads.clone();
        kept.extend(&alloc.param_grads);
        let made = self.launch(alloc.peak, &kept);
        let (ig, pg) = made.split_at(alloc.input_grads.len());
        let input_grads = ig
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if !args.need_input_grad[i] {
                    None
                } else if aliased.contains(&i) {
                    Some(args.dy.clone())
                } else {
                    Some(t.clone())
                }
            })
            .collect();
        let param_grads = pg
            .iter()
            .zip(&alloc.param_grads)
            .map(|(t, &b)| (b > 0).then(|| t.clone()))
            .collect();
        Ok((input_grads, param_grads))
    }

    fn loss(&mut self, output: &SimT) -> Result<SimT> {
        let loss = self.loss.expect("training runs have a loss");
        let out_shape = &self.graph.node(self.graph.outputs()[0]).shape;
        let a = loss.alloc(self.batch, out_shape, self.dtype);
        let mut kept = vec![a.grad];
        kept.extend(&a.kept);
        let mut made = self.launch(a.peak, &kept).into_iter();
        let grad = made.next().expect("gradient");
        self.kept.extend(made);
        let _ = output;
        Ok(grad)
    }

    fn accumulate(&mut self, a: SimT, b: SimT) -> Result<SimT> {
        let sum = self.tensor(a.bytes());
        drop((a, b));
        Ok(sum)
    }

    fn memory(&self) -> (u64, u64) {
        let c = self.counter.borrow();
        (c.cur, c.peak)
    }

    fn update(&mut self, _param: ParamId, grad: SimT) -> Result<()> {
        if self.keep_everything {
            self.kept.push(grad);
        }
        Ok(())
    }
}
