//! Memory reports: what a step of a network needs on the device.

use std::fmt;

/// Device memory of one inference or training step, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReport {
    pub batch: usize,
    pub training: bool,
    /// Parameters and buffers.
    pub weights_bytes: u64,
    /// Optimizer state (momentum, Adam moments).
    pub optimizer_bytes: u64,
    /// The input batch (and targets, when training).
    pub input_bytes: u64,
    /// Peak predicted by the schedule's liveness analysis, including all of the above.
    pub planned_peak: u64,
    /// Peak if nothing were released before the end of the step.
    pub keep_everything_peak: u64,
    /// Peak measured by the device pool during a real step.
    pub measured_peak: Option<u64>,
    /// Other device memory live throughout the step (a data set kept on the
    /// device, say), included in the planned and measured peaks.
    pub resident_bytes: u64,
}

impl MemoryReport {
    /// Records a measurement: `live_at_start` bytes were live on the device when
    /// the step began and the pool's peak during it was `peak`. Memory live at the
    /// start beyond the step's own baseline (weights, optimizer state, inputs) is
    /// resident and is added to the planned figures.
    pub fn with_measurement(mut self, live_at_start: u64, peak: u64) -> MemoryReport {
        let baseline = self.weights_bytes + self.optimizer_bytes + self.input_bytes;
        self.resident_bytes = live_at_start.saturating_sub(baseline);
        self.planned_peak += self.resident_bytes;
        self.keep_everything_peak += self.resident_bytes;
        self.measured_peak = Some(peak);
        self
    }

    /// `planned / keep_everything`.
    pub fn savings_ratio(&self) -> f64 {
        self.planned_peak as f64 / self.keep_everything_peak.max(1) as f64
    }
}

/// Bytes as a short human figure.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.training {
            "training"
        } else {
            "inference"
        };
        writeln!(f, "memory, {mode} step, batch {}:", self.batch)?;
        writeln!(
            f,
            "  weights          {:>14} B  ({})",
            self.weights_bytes,
            human(self.weights_bytes)
        )?;
        if self.training {
            writeln!(
                f,
                "  optimizer state  {:>14} B  ({})",
                self.optimizer_bytes,
                human(self.optimizer_bytes)
            )?;
        }
        writeln!(
            f,
            "  inputs           {:>14} B  ({})",
            self.input_bytes,
            human(self.input_bytes)
        )?;
        if self.resident_bytes > 0 {
            writeln!(
                f,
                "  other resident   {:>14} B  ({})",
                self.resident_bytes,
                human(self.resident_bytes)
            )?;
        }
        writeln!(
            f,
            "  planned peak     {:>14} B  ({})",
            self.planned_peak,
            human(self.planned_peak)
        )?;
        match self.measured_peak {
            Some(m) => writeln!(f, "  measured peak    {:>14} B  ({})", m, human(m))?,
            None => writeln!(f, "  measured peak    {:>14}", "not measured")?,
        }
        write!(
            f,
            "  keep-everything  {:>14} B  ({}; planned is {:.0}% of it)",
            self.keep_everything_peak,
            human(self.keep_everything_peak),
            100.0 * self.savings_ratio()
        )
    }
}
