//! Error types of the library: one enum, one line of text per failure, no panics.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or tagging text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {msg}")]
    ModelFile { path: PathBuf, msg: String },

    #[error("model {model}: {msg}")]
    Model { model: String, msg: String },

    #[error("{0}")]
    Usage(String),

    /// A problem with one input record, named by file and line.
    #[error("{name}:{line}: {msg}")]
    Input {
        name: String,
        line: usize,
        msg: String,
    },

    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },

    #[error("tensor computation failed: {0}")]
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

pub type Result<T> = std::result::Result<T, Error>;
