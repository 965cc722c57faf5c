//! Decode stage for pre-tokenized input (`is_split_into_words`): one label per given word, from
//! its first sub-token (or the mean / most confident of its sub-tokens with `average` / `max`).

use super::aggregate::{word_label, DecodeContext, Entity};
use super::tags;
use crate::tokenize::Window;

/// The label a word gets, as an index into the model's labels, with its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordLabel {
    pub tag: usize,
    pub score: f32,
}

/// Labels of `n_words` words. A word the tokenizer dropped entirely (e.g. only control
/// characters) gets `None`. When overlapping windows both hold a word, the one where its first
/// sub-token sits furthest from the window's edges decides, as it saw the most context.
pub fn word_labels(
    ctx: &DecodeContext,
    n_words: usize,
    windows: &[(&Window, &[f32])],
) -> Vec<Option<WordLabel>> {
    let n = ctx.labels.len();
    // For each word: (context, window index, token positions in that window).
    let mut best: Vec<Option<(usize, usize, Vec<usize>)>> = vec![None; n_words];
    for (wi, (window, _)) in windows.iter().enumerate() {
        let mut positions: Vec<Vec<usize>> = vec![Vec::new(); n_words];
        for (pos, word) in window.words.iter().enumerate() {
            if let Some(w) = word
                .map(|w| w as usize)
                .filter(|&w| w < n_words && !window.special[pos])
            {
                positions[w].push(pos);
            }
        }
        let len = window.ids.len();
        for (w, pos) in positions
            .into_iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
        {
            let context = pos[0].min(len - 1 - pos[0]);
            if best[w].as_ref().is_none_or(|b| context > b.0) {
                best[w] = Some((context, wi, pos));
            }
        }
    }
    best.into_iter()
        .map(|b| {
            let (_, wi, pos) = b?;
            let probs = windows[wi].1;
            let row = |p: usize| &probs[p * n..(p + 1) * n];
            let rows: Vec<&[f32]> = pos.iter().map(|&p| row(p)).collect();
            let (tag, score) = word_label(&rows, ctx.aggregation);
            let label = WordLabel { tag, score };
            Some(label)
        })
        .collect()
}

/// The predicted tag of each word (`O` for words without a label).
pub fn word_tags<'a>(labels: &'a [String], words: &[Option<WordLabel>]) -> Vec<&'a str> {
    words
        .iter()
        .map(|w| w.map_or("O", |w| labels[w.tag].as_str()))
        .collect()
}

/// Entities over words at the given character spans of a text; each entity runs from its first
/// word's start to its last word's end, scored by the mean of its words' scores.
pub fn word_entities(
    ctx: &DecodeContext,
    spans: &[(usize, usize)],
    words: &[Option<WordLabel>],
) -> Vec<Entity> {
    let tags = word_tags(ctx.labels, words);
    tags::spans(&tags, ctx.scheme)
        .into_iter()
        .map(|(kind, a, b)| {
            let scores: Vec<f64> = words[a..=b]
                .iter()
                .map(|w| w.map_or(0.0, |w| f64::from(w.score)))
                .collect();
            Entity {
                label: kind.to_string(),
                start: spans[a].0,
                end: spans[b].1,
                score: (scores.iter().sum::<f64>() / scores.len() as f64) as f32,
            }
        })
        .collect()
}
