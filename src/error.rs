//! Error types of the library: one enum, one line of text per failure, no panics.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or tagging text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A signal stopped the model stage in the middle of a chunk (the pipeline reports the
    /// signal; nothing of the chunk is written).
    #[error("interrupted")]
    Interrupted,

    #[error("{path}: {msg}")]
    ModelFile { path: PathBuf, msg: String },

    #[error("model {model}: {msg}")]
    Model { model: String, msg: String },

    #[error("{0}")]
    Usage(String),

    /// A problem with one input record, named by file and line.
    #[error("{}", location(name, *line, msg))]
    Input {
        name: String,
        line: usize,
        msg: String,
    },

    /// A JSON object that parsed but cannot be tagged (no text field, or not a string): its
    /// error record keeps the object's fields.
    #[error("{}", location(name, *line, msg))]
    UntaggableObject {
        name: String,
        line: usize,
        msg: String,
        object: Box<serde_json::Map<String, serde_json::Value>>,
    },

    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },

    #[error("tensor computation failed: {}", first_line(.0))]
    Candle(#[from] candle_core::Error),

    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl Error {
    pub fn model_file(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Error::ModelFile {
            path: path.into(),
            msg: msg.to_string(),
        }
    }

    pub fn io(name: impl std::fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            name: name.to_string(),
            source,
        }
    }

    /// True when the error is a closed output pipe: the reader went away, which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// The first line of an error's message: candle appends a backtrace when RUST_BACKTRACE is set,
/// and ner-tag's messages are one line.
pub fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// `file:line: message`, or `file: message` for a problem with the whole file (line 0).
pub fn location(name: &str, line: usize, msg: &str) -> String {
    if line == 0 {
        format!("{name}: {msg}")
    } else {
        format!("{name}:{line}: {msg}")
    }
}

pub type Result<T> = std::result::Result<T, Error>;
