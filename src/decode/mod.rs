//! Decode stage: model probabilities → labelled entity spans.

pub mod aggregate;
pub mod tags;

pub use aggregate::{Aggregation, DecodeContext, Entity};
pub use tags::Scheme;
