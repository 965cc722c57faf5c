//! Evaluate stage: scores predicted tags against gold tags like conlleval and seqeval.

pub mod chunks;
pub mod corpus;
pub mod metrics;
pub mod raw;
pub mod report;

pub use corpus::{evaluate, score_predictions, EvalStats};
pub use metrics::{Counts, Evaluation};
pub use raw::{detokenize, evaluate_raw};
