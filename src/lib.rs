//! ner-tag: batch named-entity tagging with Hugging Face token-classification checkpoints on candle.
//!
//! The pipeline, one module per stage:
//! [`input`] → [`tokenize`] (windows) → [`batch`] → [`model`] → [`decode`] → [`output`],
//! driven by [`pipeline`]; [`hub`] resolves `--model`, [`config`] is the checked run configuration,
//! [`runtime`] the device, backend, precision and thread policy the model runs with.

pub mod batch;
pub mod config;
pub mod decode;
pub mod error;
pub mod eval;
pub mod hub;
pub mod input;
pub mod job;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod records;
pub mod runtime;
pub mod split;
pub mod tagger;
pub mod tokenize;

pub use error::{Error, Result};
