//! ner-tag: batch named-entity tagging with Hugging Face token-classification checkpoints.
//!
//! The pipeline, one module per stage:
//! [`input`] ([`sources`]: files and walked folders) → [`records`] → [`chunker`] → [`split`] (raw text →
//! words, word mode) → [`job`] (one shape per record) → [`tokenize`] (windows) → [`batch`] →
//! [`model`] → [`decode`] → [`output`] (printers, targets, resuming); [`tagger`] takes jobs
//! through tokenize → decode, [`long_line`] one enormous line a group of windows at a time
//! ([`segment`]: safe cut points, [`windows`]: windows a segment at a time, [`chars`]: character
//! offsets without a per-character table), [`pipeline`] drives the run with [`progress`] and [`stats`] beside
//! it; [`hub`] resolves `--model`, [`config`] is the checked run configuration, [`runtime`] the
//! device, backend, precision and thread policy the model runs with (every thread it starts
//! calls [`altstack`] first), [`eval`] scores against gold files.

pub mod altstack;
pub mod batch;
pub mod chars;
pub mod chunker;
pub mod config;
pub mod decode;
pub mod error;
pub mod eval;
pub mod hub;
pub mod input;
pub mod job;
pub mod long_line;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod records;
pub mod runtime;
pub mod segment;
pub mod sources;
pub mod split;
pub mod stages;
pub mod stats;
pub mod tagger;
pub mod tokenize;
pub mod tokenizer_files;
pub mod windows;

pub use error::{Error, Result};
