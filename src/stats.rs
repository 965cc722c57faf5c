//! The run's summary, beside the run loop: counts kept while writing, printed by `--stats` on
//! stderr and written by `--stats-json` for CI jobs.

use std::collections::BTreeMap;

/// Summary of a run, for the stats and the exit status.
#[derive(Debug, Default)]
pub struct RunStats {
    pub lines: usize,
    pub entities: usize,
    /// Records that could not be tagged and got an error record instead.
    pub errors: usize,
    /// The signal that stopped the run early (SIGINT, SIGTERM), if one did.
    pub interrupted: Option<i32>,
    /// Seconds spent in the model stage (forward passes, the device synchronised at the end of
    /// each chunk): next to the wall time, how busy the device was kept.
    pub model_secs: f64,
    /// Windows and tokens (special tokens included) the model ran over.
    pub windows: usize,
    pub tokens: usize,
    /// Entities found, per label.
    pub labels: BTreeMap<String, usize>,
    /// Wall time of the run loop (reading to the last write), seconds.
    pub wall_secs: f64,
}

impl RunStats {
    /// The `--stats-json` document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "records": self.lines,
            "error_records": self.errors,
            "windows": self.windows,
            "tokens": self.tokens,
            "entities": self.entities,
            "entities_per_label": self.labels,
            "wall_secs": self.wall_secs,
            "records_per_sec": self.records_per_sec(),
            "model_secs": self.model_secs,
            "interrupted_by_signal": self.interrupted,
        })
    }

    pub fn records_per_sec(&self) -> f64 {
        self.lines as f64 / self.wall_secs.max(1e-9)
    }

    /// The `--stats` lines: throughput and where the time went, then entities per label.
    pub fn summary(&self) -> String {
        let labels = if self.labels.is_empty() {
            "none".to_string()
        } else {
            self.labels
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "ner-tag: {} records ({} error records), {} windows, {} tokens in {:.2}s: {:.1} records/s; model stage {:.2}s, {:.0}% of the wall time\n\
             ner-tag: {} entities: {labels}",
            self.lines,
            self.errors,
            self.windows,
            self.tokens,
            self.wall_secs,
            self.records_per_sec(),
            self.model_secs,
            100.0 * self.model_secs / self.wall_secs.max(1e-9),
            self.entities,
        )
    }
}
