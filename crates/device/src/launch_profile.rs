//! Device time per kernel launch, for finding where a step spends its time
//! below the layer level (which pass of a convolution, which GEMM variant).
//!
//! With [`DeviceOptions::profile_launches`](crate::DeviceOptions) every launch
//! is submitted on its own and waited for, so the host clock around the wait
//! measures that launch alone (plus ~0.1 ms of submission on lavapipe). That
//! serialises the device: use it to rank kernels, not to time a network.

use std::collections::BTreeMap;

/// Accumulated device time of one kernel: one shader entry point with one set
/// of override constants, launched by one op.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchTime {
    /// The op that launched it, e.g. `"conv2d"`.
    pub op: String,
    /// The shader's path under `shaders/`.
    pub shader: &'static str,
    /// Its override constants, `NAME=value` separated by spaces.
    pub constants: String,
    pub launches: u64,
    pub seconds: f64,
}

#[derive(Debug, Default)]
pub(crate) struct LaunchProfile {
    times: BTreeMap<(String, &'static str, String), (u64, f64)>,
}

impl LaunchProfile {
    pub fn record(
        &mut self,
        op: &str,
        shader: &'static str,
        constants: &[(&'static str, f64)],
        seconds: f64,
    ) {
        let constants = constants
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let entry = self
            .times
            .entry((op.to_string(), shader, constants))
            .or_default();
        entry.0 += 1;
        entry.1 += seconds;
    }

    /// The kernels recorded since the last take, longest total first.
    pub fn take(&mut self) -> Vec<LaunchTime> {
        let mut out: Vec<LaunchTime> = std::mem::take(&mut self.times)
            .into_iter()
            .map(
                |((op, shader, constants), (launches, seconds))| LaunchTime {
                    op,
                    shader,
                    constants,
                    launches,
                    seconds,
                },
            )
            .collect();
        out.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        out
    }
}
