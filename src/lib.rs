//! ner-tag: batch named-entity tagging with Hugging Face token-classification checkpoints.
//!
//! The pipeline, one module per stage:
//! [`input`] → [`records`] → [`split`] (raw text → words, word mode) → [`job`] (one shape per
//! record) → [`tokenize`] (windows) → [`batch`] → [`model`] → [`decode`] → [`output`];
//! [`tagger`] takes jobs through tokenize → decode, [`pipeline`] drives the run; [`hub`] resolves
//! `--model`, [`config`] is the checked run configuration, [`runtime`] the device, backend,
//! precision and thread policy the model runs with, [`eval`] scores against gold files.

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
pub mod output_html;
pub mod pipeline;
pub mod records;
pub mod resume;
pub mod runtime;
pub mod split;
pub mod tagger;
pub mod tokenize;

pub use error::{Error, Result};
