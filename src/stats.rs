//! The run's summary, beside the run loop: counts kept while writing, printed by `--stats` on
//! stderr and written by `--stats-json` for CI jobs ([`StatsFile`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::output::lock::{self, Locked};

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
            "cpu_kernels": crate::model::kernels::describe(),
            "peak_rss_bytes": peak_rss(),
        })
    }

    /// One entity written: counted, and per label.
    pub fn count_entity(&mut self, e: &crate::decode::Entity) {
        self.entities += 1;
        *self.labels.entry(e.label.clone()).or_default() += 1;
    }

    pub fn records_per_sec(&self) -> f64 {
        self.lines as f64 / self.wall_secs.max(1e-9)
    }

    /// The `--stats` lines: throughput and where the time went, entities per label, then the CPU
    /// kernels dispatch chose at start-up.
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
            "ner-tag: {} records ({} error records), {} windows, {} tokens in {:.2}s: {:.1} records/s; model stage {:.2}s, {:.0}% of the wall time{}\n\
             ner-tag: {} entities: {labels}\n\
             ner-tag: CPU kernels: {}",
            self.lines,
            self.errors,
            self.windows,
            self.tokens,
            self.wall_secs,
            self.records_per_sec(),
            self.model_secs,
            100.0 * self.model_secs / self.wall_secs.max(1e-9),
            peak_rss().map_or(String::new(), |b| format!("; peak RSS {} MB", b >> 20)),
            self.entities,
            crate::model::kernels::describe(),
        )
    }
}

/// The process's peak resident memory so far (bytes): `VmHWM` of `/proc/self/status`, where
/// there is one (Linux). Unlike `getrusage`'s, it starts at this program's start, not at the
/// parent's size when it forked.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The `--stats-json` file, locked from the start of the run (created empty if missing, so a
/// second run on it stops at once) and replaced whole at the end: written to a temporary file of
/// its own in the same folder, synced, then renamed over it, so a reader never sees half a
/// summary. A run that ends without writing it removes the empty file it created.
pub struct StatsFile {
    path: PathBuf,
    locked: Option<Locked>,
}

impl StatsFile {
    pub fn lock(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            locked: Some(lock::lock(path)?),
        })
    }

    pub fn write(mut self, stats: &RunStats) -> Result<()> {
        let io = |e| Error::io(self.path.display(), e);
        let text = serde_json::to_string_pretty(&stats.to_json()).map_err(|e| io(e.into()))? + "\n";
        let mut locked = self.locked.take().expect("written once");
        if !locked.regular {
            // A device or a pipe (`/dev/stdout`) is written to, not replaced.
            return locked.file.write_all(text.as_bytes()).map_err(io);
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = self
            .path
            .file_name()
            .map_or("stats".into(), |n| n.to_string_lossy().into_owned());
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(io)?;
        let permissions = locked.file.metadata().map_err(io)?.permissions();
        tmp.as_file().set_permissions(permissions).map_err(io)?;
        tmp.write_all(text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        // Dropped (unlocked) only now: until the rename, a second run is refused.
        drop(locked);
        Ok(())
    }
}

impl Drop for StatsFile {
    fn drop(&mut self) {
        if let Some(l) = &self.locked {
            if l.created && l.regular && l.file.metadata().is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}
