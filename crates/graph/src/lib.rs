//! weft's graph layer: networks as graphs of named layers with inferred shapes,
//! backward passes derived from them, schedules that release every activation
//! and gradient as soon as nothing needs it (with the planned and measured
//! peak memory to show for it), optimizers, and checkpoints.

pub mod cam;
pub mod checkpoint;
pub mod collective;
pub mod graph;
pub mod init;
pub mod layer;
pub mod layers;
pub mod loss;
pub mod memory;
pub mod model;
pub mod models;
pub mod optim;
pub mod patterns;
pub mod reference;
mod run;
pub mod schedule;
mod sim;
pub mod trainer;

#[cfg(feature = "mpi")]
pub use collective::MpiCollective;
pub use collective::{Collective, LocalCollective, LocalGroup};
pub use graph::{Graph, Node, NodeId, Param, ParamId};
pub use init::Init;
pub use layer::{HostArray, Layer, ParamDecl, ParamKind, Shape};
pub use loss::Loss;
pub use memory::MemoryReport;
pub use model::{
    EventSink, ExecEvent, ExecOptions, Gradients, Model, NodeGradient, Objective, Phase, StepOutput,
};
pub use optim::{LrSchedule, Optimizer, OptimizerKind};
pub use patterns::NamePatterns;
pub use trainer::{
    Batch, DEFAULT_BUCKET_BYTES, EpochReport, Evaluation, ExchangeReport, Mixup, StepReport,
    Trainer,
};
