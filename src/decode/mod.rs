//! Decode stage: model probabilities → labelled entity spans.

pub mod aggregate;
pub mod spill;
pub mod stream;
pub mod tags;
pub mod words;

pub use aggregate::{Aggregation, DecodeContext, Entity};
pub use tags::Scheme;
pub use words::WordLabel;
