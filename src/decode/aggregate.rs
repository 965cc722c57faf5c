//! Decode stage: token probabilities → entity spans, with the five aggregation strategies of the
//! `transformers` TokenClassificationPipeline (`none`, `simple`, `first`, `average`, `max`).
//!
//! Mirrors `gather_pre_entities`, `aggregate_words`, `group_entities` and
//! `aggregate_overlapping_entities` of
//! <https://github.com/huggingface/transformers/blob/main/src/transformers/pipelines/token_classification.py>.

use super::tags::{self, Scheme};
pub use crate::chars::LineChars;
use crate::tokenize::Window;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Raw text split into treebank words ([`crate::split`]), one label per word from its first
    /// sub-token, as CoNLL-trained models are trained and scored. Not a pipeline strategy: where
    /// no words were given, decoding falls back to `First`.
    Word,
    None,
    Simple,
    First,
    Average,
    Max,
}

/// An entity span in character offsets of the line. `label` is the raw tag with `none`, the type otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub label: String,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// How one window's tokens relate to the text (the parts of the tokenizer the decoder needs).
pub struct DecodeContext<'a> {
    pub labels: &'a [String],
    pub scheme: Scheme,
    pub subword_prefix: Option<&'a str>,
    pub unk_id: Option<u32>,
    pub aggregation: Aggregation,
}

/// A non-special token with its label distribution.
struct PreEntity<'p> {
    probs: &'p [f32],
    start: usize,
    end: usize,
    is_subword: bool,
}

/// A labelled token or word before grouping.
struct Labelled {
    tag: usize,
    score: f32,
    start: usize,
    end: usize,
}

/// Index of the first maximum, as numpy's argmax.
pub fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

/// Softmax over each row of logits, in f32 like the pipeline's numpy code.
pub fn softmax_rows(logits: &[f32], n_labels: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(n_labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        out.extend(exps.iter().map(|e| e / sum));
    }
    out
}

/// Entities of one line from its windows and their (tokens × labels) probabilities.
/// `chars` is the line as characters, which offsets index.
pub fn decode_line(
    ctx: &DecodeContext,
    chars: &[char],
    windows: &[(&Window, &[f32])],
) -> Vec<Entity> {
    let line = LineChars {
        chars,
        base: 0,
        len: chars.len(),
    };
    let mut all = Vec::new();
    for (window, probs) in windows {
        all.extend(decode_window(ctx, &line, window, probs));
    }
    if windows.len() > 1 {
        resolve_overlaps(all)
    } else {
        all
    }
}

/// Entities of one window, before overlapping windows' entities are resolved.
pub fn decode_window(
    ctx: &DecodeContext,
    chars: &LineChars,
    window: &Window,
    probs: &[f32],
) -> Vec<Entity> {
    let pre = gather(ctx, chars, window, probs);
    let labelled = match ctx.aggregation {
        Aggregation::None | Aggregation::Simple => pre
            .iter()
            .map(|p| {
                let tag = argmax(p.probs);
                Labelled {
                    tag,
                    score: p.probs[tag],
                    start: p.start,
                    end: p.end,
                }
            })
            .collect(),
        strategy => words(&pre, strategy),
    };
    if ctx.aggregation != Aggregation::None {
        return group(ctx, &labelled);
    }
    labelled
        .into_iter()
        .filter(|l| ctx.labels[l.tag] != "O")
        .map(|l| Entity {
            label: ctx.labels[l.tag].clone(),
            start: l.start,
            end: l.end,
            score: l.score,
        })
        .collect()
}

fn gather<'p>(
    ctx: &DecodeContext,
    chars: &LineChars,
    window: &Window,
    probs: &'p [f32],
) -> Vec<PreEntity<'p>> {
    let n = ctx.labels.len();
    let mut out = Vec::with_capacity(window.ids.len());
    for (i, &(start, end)) in window.offsets.iter().enumerate() {
        if window.special[i] {
            continue;
        }
        // Offsets come from the tokenizer; clamp anyway so no input can make a span run backwards.
        let start = start.min(chars.len);
        let end = end.min(chars.len).max(start);
        let is_subword = if ctx.unk_id == Some(window.ids[i]) {
            false
        } else if ctx.subword_prefix.is_some() {
            // A word-aware tokenizer: continuation pieces are longer than the text they cover ("##ing").
            window.tokens[i].chars().count() != end.saturating_sub(start)
        } else {
            // The pipeline's fallback heuristic: a token not preceded by a space continues a word.
            start > 0 && chars.get(start - 1) != Some(' ') && chars.get(start) != Some(' ')
        };
        out.push(PreEntity {
            probs: &probs[i * n..(i + 1) * n],
            start,
            end,
            is_subword,
        });
    }
    out
}

/// `aggregate_words`: one labelled item per word, sub-words following their word's first token.
fn words(pre: &[PreEntity], strategy: Aggregation) -> Vec<Labelled> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pre.len() {
        let mut j = i + 1;
        while j < pre.len() && pre[j].is_subword {
            j += 1;
        }
        let word = &pre[i..j];
        let rows: Vec<&[f32]> = word.iter().map(|p| p.probs).collect();
        let (tag, score) = word_label(&rows, strategy);
        out.push(Labelled {
            tag,
            score,
            start: word[0].start,
            // Never before the start, even for offsets that are not monotonic (found by fuzzing).
            end: word[word.len() - 1].end.max(word[0].start),
        });
        i = j;
    }
    out
}

/// `aggregate_word`: the label of a word from its sub-tokens' distributions — the first's
/// (`first`, and `none`/`simple` where words do not apply), the mean's (`average`), or the most
/// confident sub-token's (`max`).
pub(crate) fn word_label(rows: &[&[f32]], strategy: Aggregation) -> (usize, f32) {
    match strategy {
        Aggregation::Max => {
            let best = rows
                .iter()
                .fold(rows[0], |b, &r| if max_of(r) > max_of(b) { r } else { b });
            let t = argmax(best);
            (t, best[t])
        }
        Aggregation::Average => {
            let mut avg = vec![0f32; rows[0].len()];
            for r in rows {
                avg.iter_mut().zip(r.iter()).for_each(|(a, x)| *a += x);
            }
            avg.iter_mut().for_each(|a| *a /= rows.len() as f32);
            let t = argmax(&avg);
            (t, avg[t])
        }
        _ => {
            let t = argmax(rows[0]);
            (t, rows[0][t])
        }
    }
}

fn max_of(xs: &[f32]) -> f32 {
    xs.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// `group_entities`: adjacent items whose tags continue one entity become one span scored by
/// the mean of their scores; groups of type `O` are dropped (the pipeline's `ignore_labels`).
///
/// Grouping is the pipeline's whatever the tag set (see [`pipeline_continues`]), so BIOES and
/// BILOU tags are grouped as the pipeline groups them, not by their scheme: the five pipeline
/// strategies promise the pipeline's entities. Scheme-aware grouping is word mode's
/// ([`super::words::word_entities`]).
fn group(ctx: &DecodeContext, items: &[Labelled]) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let mut j = i + 1;
        while j < items.len()
            && pipeline_continues(&ctx.labels[items[j - 1].tag], &ctx.labels[items[j].tag])
        {
            j += 1;
        }
        let first = &ctx.labels[items[i].tag];
        // `group_sub_entities` names a group by the text after the first `-` of its first tag,
        // and `postprocess` drops groups named `O`.
        if tags::entity_type(first) != "O" {
            let members = &items[i..j];
            let mean =
                members.iter().map(|m| f64::from(m.score)).sum::<f64>() / members.len() as f64;
            out.push(Entity {
                label: tags::entity_type(first).to_string(),
                start: members[0].start,
                end: members[members.len() - 1].end.max(members[0].start),
                score: mean as f32,
            });
        }
        i = j;
    }
    out
}

/// The pipeline's `get_tag`: `B-X` is a begin tag of type `X`, `I-X` an inside tag of type `X`,
/// and any other tag — `O`, and BIOES's `E-X`/`S-X`, BILOU's `L-X`/`U-X` — an inside tag whose
/// type is the whole tag.
fn pipeline_tag(tag: &str) -> (bool, &str) {
    if let Some(t) = tag.strip_prefix("B-") {
        (true, t)
    } else if let Some(t) = tag.strip_prefix("I-") {
        (false, t)
    } else {
        (false, tag)
    }
}

/// `group_entities`' test: `cur` joins the group of `prev` when their `get_tag` types are equal
/// and `cur` is not a begin tag. So `B-X I-X` and `E-X E-X` and `S-X S-X` join, while `B-X E-X`,
/// `I-X E-X` and `E-X S-X` do not (`X` ≠ `E-X` ≠ `S-X`); runs of `O` are one (dropped) group.
fn pipeline_continues(prev: &str, cur: &str) -> bool {
    let ((_, prev_type), (cur_begins, cur_type)) = (pipeline_tag(prev), pipeline_tag(cur));
    !cur_begins && cur_type == prev_type
}

/// `aggregate_overlapping_entities`: of entities from overlapping windows that overlap, keep the
/// longer one, or on equal length the higher-scoring one.
///
/// Bug for bug: the pipeline's loop starts at the first entity, compared with itself, so a
/// zero-width first entity (a lone `Ġ` of byte-level BPE at offsets 0..0) comes out twice.
fn resolve_overlaps(mut entities: Vec<Entity>) -> Vec<Entity> {
    entities.sort_by_key(|e| e.start); // stable, as Python's sorted
    let mut out = Vec::with_capacity(entities.len());
    let mut prev = None;
    sweep(&mut prev, entities, &mut out);
    out.extend(prev);
    out
}

/// The loop of `aggregate_overlapping_entities` over entities sorted by start: `prev` is the
/// sweep's current entity (`None` before the first, which is then compared with itself), and each
/// entity it moves past goes to `out`. [`super::stream::OverlapStream`] runs it a batch at a time.
pub(crate) fn sweep(prev: &mut Option<Entity>, sorted: Vec<Entity>, out: &mut Vec<Entity>) {
    for e in sorted {
        let prev = prev.get_or_insert_with(|| e.clone());
        if prev.start <= e.start && e.start < prev.end {
            let (len, prev_len) = (e.end - e.start, prev.end - prev.start);
            if len > prev_len || (len == prev_len && e.score > prev.score) {
                *prev = e;
            }
        } else {
            out.push(std::mem::replace(prev, e));
        }
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
