//! Which kernel variant a device runs for a kind of problem, once someone has
//! measured it: the [`Tuner`] the kernels consult, and [`MemoryTuner`], the
//! in-memory one every device gets by default.
//!
//! The library keeps no files and reads no environment: an application that
//! wants choices to outlive the process (weft's command-line tool keeps a JSON
//! file per adapter) implements [`Tuner`] and hands it in through
//! [`DeviceOptions::tuner`](crate::DeviceOptions::tuner); [`TuneRecords`] is
//! that file's form, parsed and written here so that every application
//! reads it the same way.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;

use crate::device::lock;

/// When the kernels time variants themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TuneMode {
    /// Fixed defaults only: recorded choices are ignored.
    Off,
    /// Recorded choices where they exist, fixed defaults otherwise.
    #[default]
    Cache,
    /// As [`Cache`](TuneMode::Cache); and at the first use of a problem class
    /// with no recorded choice, time every variant that can run it and record
    /// the fastest.
    OnFirstUse,
}

/// What a choice is recorded under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TuneKey {
    /// Adapter, backend and driver ([`AdapterSummary::key`](crate::AdapterSummary::key)):
    /// a choice measured on one does not carry over to another.
    pub adapter: String,
    /// The op's table, e.g. `conv2d`.
    pub op: String,
    /// The op's class of problems that behave alike (log₂ buckets of sizes,
    /// layouts, kernel shape).
    pub class: String,
    /// `f32`, `f16` or `f16-packed`.
    pub precision: String,
}

impl TuneKey {
    /// The key without the adapter: `op | class | precision`.
    pub fn op_key(&self) -> String {
        format!("{} | {} | {}", self.op, self.class, self.precision)
    }
}

/// Remembers the fastest variant per [`TuneKey`]. Implementations must be
/// cheap to query (every launch without an explicit variant asks) and must
/// never fail: a store they cannot read or write degrades to no choice.
pub trait Tuner: Send + Sync + fmt::Debug {
    /// Whether recorded choices are used, and whether unrecorded ones are timed.
    fn mode(&self) -> TuneMode;
    /// The recorded variant name for `key`, if any. Names that no longer
    /// exist, or that cannot run the problem at hand, are ignored by the caller.
    fn lookup(&self, key: &TuneKey) -> Option<String>;
    /// Records `variant` as the choice for `key`.
    fn record(&self, key: &TuneKey, variant: &str);
}

/// Recorded choices in their file form, JSON:
/// `{"<adapter key>": {"<op> | <class> | <precision>": "<variant>"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TuneRecords(BTreeMap<String, BTreeMap<String, String>>);

impl TuneRecords {
    /// Reads the file form; the error says why the text is not one.
    pub fn parse(text: &str) -> Result<TuneRecords, String> {
        serde_json::from_str(text)
            .map(TuneRecords)
            .map_err(|e| format!("it is not a JSON object of the expected form ({e})"))
    }

    /// The file form, one choice per line, sorted.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.0).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }

    /// The variant recorded for `key`.
    pub fn lookup(&self, key: &TuneKey) -> Option<&str> {
        self.0
            .get(&key.adapter)
            .and_then(|m| m.get(&key.op_key()))
            .map(String::as_str)
    }

    /// Records `variant` for `key`, replacing an earlier choice.
    pub fn record(&mut self, key: &TuneKey, variant: &str) {
        self.0
            .entry(key.adapter.clone())
            .or_default()
            .insert(key.op_key(), variant.to_string());
    }

    /// Number of recorded choices, over every adapter.
    pub fn len(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A [`Tuner`] that keeps its choices in memory for the device's lifetime.
#[derive(Default)]
pub struct MemoryTuner {
    mode: TuneMode,
    choices: Mutex<HashMap<TuneKey, String>>,
}

impl MemoryTuner {
    pub fn new(mode: TuneMode) -> MemoryTuner {
        MemoryTuner {
            mode,
            choices: Mutex::new(HashMap::new()),
        }
    }

    /// Every recorded choice, sorted by key.
    pub fn choices(&self) -> Vec<(TuneKey, String)> {
        let mut all: Vec<_> = lock(&self.choices)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort();
        all
    }
}

impl fmt::Debug for MemoryTuner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTuner")
            .field("mode", &self.mode)
            .field("choices", &lock(&self.choices).len())
            .finish()
    }
}

impl Tuner for MemoryTuner {
    fn mode(&self) -> TuneMode {
        self.mode
    }

    fn lookup(&self, key: &TuneKey) -> Option<String> {
        lock(&self.choices).get(key).cloned()
    }

    fn record(&self, key: &TuneKey, variant: &str) {
        lock(&self.choices).insert(key.clone(), variant.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_tuner_records_and_looks_up() {
        let t = MemoryTuner::new(TuneMode::OnFirstUse);
        let key = TuneKey {
            adapter: "a".into(),
            op: "gemm".into(),
            class: "m1".into(),
            precision: "f32".into(),
        };
        assert_eq!(t.lookup(&key), None);
        t.record(&key, "tiled");
        assert_eq!(t.lookup(&key).as_deref(), Some("tiled"));
        assert_eq!(t.mode(), TuneMode::OnFirstUse);
        assert_eq!(key.op_key(), "gemm | m1 | f32");
        assert_eq!(t.choices().len(), 1);
    }
}
