//! Decode stage: token probabilities → entity spans, with the five aggregation strategies of the
//! `transformers` TokenClassificationPipeline (`none`, `simple`, `first`, `average`, `max`).
//!
//! Mirrors `gather_pre_entities`, `aggregate_words`, `group_entities` and
//! `aggregate_overlapping_entities` of
//! <https://github.com/huggingface/transformers/blob/main/src/transformers/pipelines/token_classification.py>.

use super::tags::{self, Scheme};
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
    let mut all = Vec::new();
    for (window, probs) in windows {
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
        if ctx.aggregation == Aggregation::None {
            all.extend(
                labelled
                    .into_iter()
                    .filter(|l| ctx.labels[l.tag] != "O")
                    .map(|l| Entity {
                        label: ctx.labels[l.tag].clone(),
                        start: l.start,
                        end: l.end,
                        score: l.score,
                    }),
            );
        } else {
            all.extend(group(ctx, &labelled));
        }
    }
    if windows.len() > 1 {
        resolve_overlaps(all)
    } else {
        all
    }
}

fn gather<'p>(
    ctx: &DecodeContext,
    chars: &[char],
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
        let start = start.min(chars.len());
        let end = end.min(chars.len()).max(start);
        let is_subword = if ctx.unk_id == Some(window.ids[i]) {
            false
        } else if ctx.subword_prefix.is_some() {
            // A word-aware tokenizer: continuation pieces are longer than the text they cover ("##ing").
            window.tokens[i].chars().count() != end.saturating_sub(start)
        } else {
            // The pipeline's fallback heuristic: a token not preceded by a space continues a word.
            start > 0 && chars[start - 1] != ' ' && chars.get(start) != Some(&' ')
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
/// the mean of their scores; spans of `O` are dropped.
fn group(ctx: &DecodeContext, items: &[Labelled]) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let mut j = i + 1;
        while j < items.len() && continues(ctx, &items[j - 1], &items[j]) {
            j += 1;
        }
        let first = &ctx.labels[items[i].tag];
        if first != "O" {
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

fn continues(ctx: &DecodeContext, prev: &Labelled, cur: &Labelled) -> bool {
    let (p, c) = (&ctx.labels[prev.tag], &ctx.labels[cur.tag]);
    // Runs of O are one group in the pipeline too; they are dropped either way.
    (p == "O" && c == "O") || tags::continues(p, c, ctx.scheme)
}

/// `aggregate_overlapping_entities`: of entities from overlapping windows that overlap, keep the
/// longer one, or on equal length the higher-scoring one.
///
/// Bug for bug: the pipeline's loop starts at the first entity, compared with itself, so a
/// zero-width first entity (a lone `Ġ` of byte-level BPE at offsets 0..0) comes out twice.
fn resolve_overlaps(mut entities: Vec<Entity>) -> Vec<Entity> {
    if entities.is_empty() {
        return entities;
    }
    entities.sort_by_key(|e| e.start); // stable, as Python's sorted
    let mut out = Vec::with_capacity(entities.len());
    let mut prev = entities[0].clone();
    for e in entities {
        if prev.start <= e.start && e.start < prev.end {
            let (len, prev_len) = (e.end - e.start, prev.end - prev.start);
            if len > prev_len || (len == prev_len && e.score > prev.score) {
                prev = e;
            }
        } else {
            out.push(std::mem::replace(&mut prev, e));
        }
    }
    out.push(prev);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `tag_decoder` fuzzer: tokens whose offsets run backwards grouped into an
    /// entity that ended before it started.
    #[test]
    fn spans_never_run_backwards() {
        let labels: Vec<String> = ["O", "B-PER", "I-PER"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let window = Window {
            ids: vec![5, 6, 7],
            offsets: vec![(30, 34), (10, 13), (2, 3)],
            special: vec![false; 3],
            tokens: vec!["abcd".into(), "##x".into(), "y".into()],
            words: vec![Some(0), Some(0), Some(1)],
        };
        let probs = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let chars: Vec<char> = "x".repeat(40).chars().collect();
        for aggregation in [
            Aggregation::Simple,
            Aggregation::First,
            Aggregation::Average,
            Aggregation::Max,
        ] {
            let ctx = DecodeContext {
                labels: &labels,
                scheme: Scheme::Iob2,
                subword_prefix: Some("##"),
                unk_id: None,
                aggregation,
            };
            for e in decode_line(
                &ctx,
                &chars,
                &[(&window, &probs[..]), (&window, &probs[..])],
            ) {
                assert!(e.start <= e.end, "{aggregation:?}: {e:?}");
            }
        }
    }
}
