//! Batch stage: windows of many lines → length-sorted batches under a token budget → model →
//! per-window label probabilities, returned in input order.

use rayon::prelude::*;

use crate::decode::aggregate;
use crate::error::{Error, Result};
use crate::model::TokenClassifier;
use crate::tokenize::Window;

/// How windows are grouped into forward passes.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    pub batch_size: usize,
    /// Tokens per forward pass (padded ones included where the backend pads), so a batch of long
    /// windows does not take more memory than a batch of short ones.
    pub max_batch_tokens: usize,
    /// Run whole batches in parallel (CPU), instead of one at a time (GPU).
    pub parallel_batches: bool,
}

/// The windows of one line and, once the model has run, their probabilities.
pub struct TaggedLine {
    pub windows: Vec<Window>,
    pub probs: Vec<Vec<f32>>,
}

impl TaggedLine {
    /// Each window with its (tokens × labels) probabilities.
    pub fn pairs(&self) -> Vec<(&Window, &[f32])> {
        self.windows
            .iter()
            .zip(self.probs.iter().map(Vec::as_slice))
            .collect()
    }
}

/// Runs every window through the model, sorted by length so padding stays small; the
/// probabilities come back grouped by line, in input order.
///
/// `stop` is asked before each batch on CPU: once it says so, the run ends with
/// [`Error::Interrupted`] (one enormous line is thousands of batches; a signal must not wait for
/// all of them).
pub fn run_model(
    model: &TokenClassifier,
    policy: &BatchPolicy,
    windows: Vec<Vec<Window>>,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<TaggedLine>> {
    let n_labels = model.config().labels.len();
    // A line with no tokens at all (an empty line, with a tokenizer that adds no special tokens)
    // has nothing to run: its window is dropped here, so no kernel sees a zero-token window, and
    // the line decodes to no entities.
    let windows: Vec<Vec<Window>> = windows
        .into_iter()
        .map(|mut ws| {
            ws.retain(|w| !w.ids.is_empty());
            ws
        })
        .collect();
    let mut jobs: Vec<(usize, usize, usize)> = windows
        .iter()
        .enumerate()
        .flat_map(|(l, ws)| {
            ws.iter()
                .enumerate()
                .map(move |(w, win)| (win.ids.len(), l, w))
        })
        .collect();
    jobs.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut out: Vec<TaggedLine> = windows
        .into_iter()
        .map(|ws| TaggedLine {
            probs: vec![Vec::new(); ws.len()],
            windows: ws,
        })
        .collect();
    if jobs.is_empty() {
        return Ok(out);
    }
    // Cut the sorted jobs into batches: at most batch_size windows and max_batch_tokens tokens.
    let mut groups = Vec::new();
    let mut start = 0;
    while start < jobs.len() {
        let len = jobs[start].0.max(1);
        let rows = policy
            .batch_size
            .min((policy.max_batch_tokens / len).max(1))
            .min(jobs.len() - start);
        groups.push(&jobs[start..start + rows]);
        start += rows;
    }
    let windows: Vec<&Vec<Window>> = out.iter().map(|t| &t.windows).collect();
    let run = |group: &&[(usize, usize, usize)]| match stop() {
        true => Err(Error::Interrupted),
        false => forward_group(model, group, &windows, n_labels),
    };
    // On CPU, whole batches run side by side, each single-threaded inside: that keeps both cores
    // busy without per-operation synchronisation, and makes results independent of the thread count.
    // On a GPU the batches are queued all at once and read back after (the device never waits
    // on the host between them).
    let results: Vec<Vec<Vec<f32>>> = if policy.parallel_batches {
        groups.par_iter().map(run).collect::<Result<_>>()?
    } else {
        let ids: Vec<Vec<&[u32]>> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&(_, l, w)| windows[l][w].ids.as_slice())
                    .collect()
            })
            .collect();
        model
            .forward_batches(&ids)?
            .iter()
            .map(|logits| probabilities(logits, n_labels))
            .collect::<Result<_>>()?
    };
    for (group, probs) in groups.iter().zip(results) {
        for (&(_, l, w), p) in group.iter().zip(probs) {
            out[l].probs[w] = p;
        }
    }
    Ok(out)
}

/// One forward pass over a batch of windows; their probabilities, in batch order.
fn forward_group(
    model: &TokenClassifier,
    group: &[(usize, usize, usize)],
    windows: &[&Vec<Window>],
    n_labels: usize,
) -> Result<Vec<Vec<f32>>> {
    let ids: Vec<&[u32]> = group
        .iter()
        .map(|&(_, l, w)| windows[l][w].ids.as_slice())
        .collect();
    probabilities(&model.forward(&ids)?, n_labels)
}

/// Each window's (tokens × labels) probabilities from its logits; NaN/inf logits are an error.
fn probabilities(logits: &[Vec<f32>], n_labels: usize) -> Result<Vec<Vec<f32>>> {
    logits
        .iter()
        .map(|row| {
            if row.iter().any(|x| !x.is_finite()) {
                return Err(Error::Model {
                    model: "forward pass".into(),
                    msg: "produced NaN/inf logits".into(),
                });
            }
            Ok(aggregate::softmax_rows(row, n_labels))
        })
        .collect()
}
