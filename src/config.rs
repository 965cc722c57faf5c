//! The checked run configuration the library runs on, built once from the command line.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::decode::Aggregation;
use crate::hub::ModelSource;
use crate::input::Source;
use crate::output::target::Target;
use crate::output::Format;
use crate::records::InputFormat;
pub use crate::records::Shard;
use crate::runtime::Runtime;

pub struct Config {
    pub model: ModelSource,
    pub inputs: Vec<Source>,
    pub input_format: InputFormat,
    pub format: Format,
    pub byte_offsets: bool,
    pub tag: TagOptions,
    pub runtime: Runtime,
    /// Lines read and tagged together; bounds memory.
    pub read_ahead: usize,
    /// Print the run's summary on stderr at the end (`--stats`).
    pub stats: bool,
    /// Draw a progress bar on stderr (a terminal, and no `-q`).
    pub progress: bool,
    /// No informational messages on stderr (`-q`); problems are still reported.
    pub quiet: bool,
    /// Replace invalid UTF-8 with U+FFFD instead of writing an error record.
    pub lossy: bool,
    pub on_error: OnError,
    /// Signals that stop the run after the records already read are written.
    pub interrupt: Option<Interrupt>,
    /// Tag only this shard of the records (`--shard I/N`).
    pub shard: Option<Shard>,
    /// Where the records go: stdout, a file (`-o`), a file per input (`--output-dir`).
    pub target: Target,
    /// Go on after the records an earlier run already wrote to the target's file(s).
    pub resume: bool,
    /// Which decoded entities are kept (`--labels`, `--ignore-labels`, `--min-score`).
    pub filter: Filter,
    /// What `-f redact` replaces entities by.
    pub redact: crate::output::redact::Redaction,
    /// `-f redact` of JSONL input: add `entities` with offsets into the redacted text.
    pub redact_entities: bool,
    /// `-f label-studio`: the `<Labels name>` and `<Text name>` of the labeling config.
    pub ls_from_name: String,
    pub ls_to_name: String,
    /// Where the run manifest goes (`-o FILE` to a regular file, `--output-dir`): what
    /// `--resume` checks it continues the same settings ([`crate::output::manifest`]).
    pub manifest: Option<std::path::PathBuf>,
}

impl Config {
    /// Everything that shapes the output bytes, for the run manifest: the model (its files'
    /// fingerprints), the strategy, window, batch, precision and device kind, the format and its
    /// options, the filters, the shard and the input format. Not the thread count (output does
    /// not depend on it) nor the redaction key itself (only a fingerprint of it).
    pub fn output_settings(&self, checkpoint: &crate::model::Checkpoint) -> serde_json::Value {
        use crate::output::manifest::{checkpoint_identity, fingerprint};
        use crate::output::redact::Redaction;
        let model = match checkpoint {
            crate::model::Checkpoint::Dir(d) => checkpoint_identity(d),
            crate::model::Checkpoint::BuiltIn => {
                format!("built-in {}", crate::model::bundled::BUILT_IN).into()
            }
        };
        let redact = match &self.redact {
            Redaction::Hash(key) => format!("Hash (key {})", fingerprint(key)),
            other => format!("{other:?}"),
        };
        serde_json::json!({
            "ner-tag": env!("CARGO_PKG_VERSION"),
            "model": model,
            "aggregation": format!("{:?}", self.tag.aggregation),
            "max_length": self.tag.max_length,
            "stride": self.tag.stride,
            "batch_size": self.tag.batch_size,
            "device": if self.runtime.device.is_cpu() { "cpu" } else { "cuda" },
            "backend": format!("{:?}", self.runtime.backend),
            "quantize": format!("{:?}", self.runtime.quantize),
            "dtype": format!("{:?}", self.runtime.dtype),
            "input_format": format!("{:?}", self.input_format),
            "lossy": self.lossy,
            "format": format!("{:?}", self.format),
            "byte_offsets": self.byte_offsets,
            "filter": format!("{:?}", self.filter),
            "redact": redact,
            "redact_entities": self.redact_entities,
            "label_studio_names": [&self.ls_from_name, &self.ls_to_name],
            "shard": self.shard.map(|s| format!("{}/{}", s.index, s.count)),
        })
    }
}

/// Which decoded entities a run keeps, applied before any output and before the counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Keep only these entity types (`--labels`); `None` keeps every type.
    pub labels: Option<Vec<String>>,
    /// Drop these entity types (`--ignore-labels`).
    pub ignore: Vec<String>,
    /// Drop entities scored below this (`--min-score`).
    pub min_score: Option<f32>,
}

impl Filter {
    /// Whether it keeps every entity.
    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.ignore.is_empty() && self.min_score.is_none()
    }

    /// Refuses (a usage error) a type the model does not have, naming the ones it has.
    pub fn check(&self, model_labels: &[String]) -> crate::error::Result<()> {
        let mut types: Vec<&str> = model_labels
            .iter()
            .filter(|l| l.as_str() != "O")
            .map(|l| crate::decode::tags::entity_type(l))
            .collect();
        types.sort_unstable();
        types.dedup();
        let named = self.labels.iter().flatten().chain(&self.ignore);
        for name in named {
            if !types.contains(&name.as_str()) {
                return Err(crate::error::Error::Usage(format!(
                    "unknown entity type `{name}` in --labels/--ignore-labels: the model's types are {}",
                    types.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether `e` is kept. With `none` aggregation its label is the raw tag (`B-PER`): the
    /// type after the prefix is matched.
    pub fn keeps(&self, e: &crate::decode::Entity, aggregation: Aggregation) -> bool {
        let kind = if aggregation == Aggregation::None {
            crate::decode::tags::entity_type(&e.label)
        } else {
            &e.label
        };
        self.labels
            .as_ref()
            .is_none_or(|l| l.iter().any(|t| t == kind))
            && !self.ignore.iter().any(|t| t == kind)
            && self.min_score.is_none_or(|m| e.score >= m)
    }
}

/// Settings that shape how a model is run, independent of where its input comes from.
#[derive(Debug, Clone)]
pub struct TagOptions {
    pub aggregation: Aggregation,
    pub max_length: Option<usize>,
    /// Overlap of windows; `None`: 128 tokens, or half a window for models with short windows.
    pub stride: Option<usize>,
    pub batch_size: usize,
}

impl Default for TagOptions {
    fn default() -> Self {
        Self {
            aggregation: Aggregation::Word,
            max_length: None,
            stride: None,
            batch_size: 32,
        }
    }
}

/// What to do with a record that cannot be tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Write an error record in its place, report it, go on, and exit 3 at the end.
    Skip,
    /// Stop at the first one (exit 1), everything before it written.
    Fail,
}

/// Set by the binary's signal handlers; the run loop stops reading once one is set.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    pub sigint: Arc<AtomicBool>,
    pub sigterm: Arc<AtomicBool>,
    /// SIGINT and SIGTERM set the flags once [`Interrupt::arm`] is called (after the model has
    /// loaded); until then they keep their default effect. A second one exits at once.
    pub on_signals: bool,
}

impl Interrupt {
    /// Flags set by SIGINT and SIGTERM once armed.
    pub fn on_signals() -> Self {
        Self {
            on_signals: true,
            ..Self::default()
        }
    }

    /// Registers the signal handlers (a no-op without `on_signals`); once per run.
    pub fn arm(&self) -> crate::error::Result<()> {
        if !self.on_signals {
            return Ok(());
        }
        use signal_hook::consts::{SIGINT, SIGTERM};
        let io = |e| crate::error::Error::io("signal handlers", e);
        for (sig, own) in [(SIGINT, &self.sigint), (SIGTERM, &self.sigterm)] {
            // A second SIGINT or SIGTERM, once either has been received, exits at once with
            // 128 + signal: handlers run in registration order, so these see the flags as the
            // earlier signal left them, before `own` is set below.
            for flag in [&self.sigint, &self.sigterm] {
                signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flag.clone())
                    .map_err(io)?;
            }
            signal_hook::flag::register(sig, own.clone()).map_err(io)?;
        }
        Ok(())
    }

    pub fn signal(&self) -> Option<i32> {
        if self.sigint.load(Ordering::Relaxed) {
            Some(2)
        } else if self.sigterm.load(Ordering::Relaxed) {
            Some(15)
        } else {
            None
        }
    }
}
