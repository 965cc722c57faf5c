//! Decode stage, long lines: entities decoded window by window as the windows come back from the
//! model, settled as soon as no later window can change them — the entities
//! [`super::aggregate::decode_line`] and [`super::words`] give for all the windows at once.
//!
//! Pipeline strategies: each window is decoded on its own; `aggregate_overlapping_entities` sorts
//! all of them by start and sweeps. Entities starting before the next window's first character
//! come before any later entity in that order, so they are swept as soon as that is known.
//! Word mode: a word's label comes from the window where its first token has the most context;
//! once the next window starts past a word, its label is final, and an entity is complete at the
//! first word that cannot continue it.

use std::collections::VecDeque;

use super::aggregate::{word_label, DecodeContext, Entity};
use super::tags::{self, Role};
use super::words::WordLabel;
use crate::tokenize::Window;

/// Characters `lo..hi` of the line that a window's text tokens (and the character before each)
/// reach, clamped to the line's `len`.
pub fn window_chars(window: &Window, len: usize) -> (usize, usize) {
    let text = window
        .offsets
        .iter()
        .zip(&window.special)
        .filter(|(_, s)| !**s);
    let lo = text.clone().map(|(o, _)| o.0).min().unwrap_or(0);
    let hi = text.map(|(o, _)| o.1.max(o.0 + 1)).max().unwrap_or(0);
    (lo.saturating_sub(1).min(len), hi.min(len))
}

/// `aggregate_overlapping_entities` over a line's windows, as they come.
#[derive(Default)]
pub struct OverlapStream {
    windows: usize,
    /// Entities not swept yet, in window order.
    pending: Vec<Entity>,
    /// The sweep's current entity.
    prev: Option<Entity>,
    out: Vec<Entity>,
}

impl OverlapStream {
    /// One window's entities, in the window's order.
    pub fn window(&mut self, entities: Vec<Entity>) {
        self.windows += 1;
        self.pending.extend(entities);
    }

    /// No later window has an entity starting before character `floor`.
    pub fn settle(&mut self, floor: usize) {
        // A line of one window keeps its entities as decoded, unsorted.
        if self.windows < 2 {
            return;
        }
        let (mut ready, rest): (Vec<Entity>, Vec<Entity>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|e| e.start < floor);
        self.pending = rest;
        ready.sort_by_key(|e| e.start); // stable, as Python's sorted
        super::aggregate::sweep(&mut self.prev, ready, &mut self.out);
    }

    /// The entities final so far, in order; each is given once (by this or [`Self::finish`]).
    pub fn take_settled(&mut self) -> Vec<Entity> {
        std::mem::take(&mut self.out)
    }

    /// The entities not given yet by [`Self::take_settled`].
    pub fn finish(mut self) -> Vec<Entity> {
        if self.windows < 2 {
            return self.pending;
        }
        self.settle(usize::MAX);
        self.out.extend(self.prev.take());
        self.out
    }
}

/// A word's character span and its best label so far, with that window's context.
type Held = ((usize, usize), Option<(usize, WordLabel)>);

/// Every word's character span, and every word's label.
pub type KeptWords = (Vec<(usize, usize)>, Vec<Option<WordLabel>>);

/// Word mode over a line's windows, as they come: labels, then entities over words.
pub struct WordStream {
    /// Index of the first word not final yet.
    base: usize,
    /// From `base` on: each word's span and its best label so far, with that window's context.
    held: VecDeque<Held>,
    /// The entity being built: first tag's label index, start, end, last tag, score sum, words.
    open: Option<(usize, usize, usize, usize, f64, usize)>,
    pub entities: Vec<Entity>,
    /// Every word's span and label, when the output lists words (CoNLL, spans).
    pub kept: Option<KeptWords>,
}

impl WordStream {
    pub fn new(keep_words: bool) -> Self {
        WordStream {
            base: 0,
            held: VecDeque::new(),
            open: None,
            entities: Vec::new(),
            kept: keep_words.then(Default::default),
        }
    }

    /// Words found in the line, in order, after those already given.
    pub fn words(&mut self, spans: Vec<(usize, usize)>) {
        self.held.extend(spans.into_iter().map(|s| (s, None)));
    }

    /// One window and its probabilities: [`super::words::word_labels`]' choice, a window at a time
    /// (the earlier window wins a tie).
    pub fn window(&mut self, ctx: &DecodeContext, window: &Window, probs: &[f32]) {
        let n = ctx.labels.len();
        let mut positions: Vec<Vec<usize>> = Vec::new();
        for (pos, word) in window.words.iter().enumerate() {
            let Some(w) = word.map(|w| w as usize) else {
                continue;
            };
            if window.special[pos] || w < self.base || w - self.base >= self.held.len() {
                continue;
            }
            let i = w - self.base;
            if positions.len() <= i {
                positions.resize(i + 1, Vec::new());
            }
            positions[i].push(pos);
        }
        let len = window.ids.len();
        for (i, pos) in positions.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
            let context = pos[0].min(len - 1 - pos[0]);
            let best = &mut self.held[i].1;
            if best.as_ref().is_none_or(|b| context > b.0) {
                let rows: Vec<&[f32]> = pos.iter().map(|&p| &probs[p * n..(p + 1) * n]).collect();
                let (tag, score) = word_label(&rows, ctx.aggregation);
                *best = Some((context, WordLabel { tag, score }));
            }
        }
    }

    /// No later window holds a word before word `floor`: their labels are final.
    pub fn settle(&mut self, ctx: &DecodeContext, floor: usize) {
        while self.base < floor {
            let Some((span, best)) = self.held.pop_front() else {
                break;
            };
            self.base += 1;
            self.word(ctx, span, best.map(|b| b.1));
        }
    }

    pub fn finish(mut self, ctx: &DecodeContext) -> Self {
        self.settle(ctx, usize::MAX);
        self.close(ctx);
        self
    }

    /// [`super::words::word_entities`] one final word at a time: an entity ends at the first word
    /// that does not continue it ([`tags::spans`]).
    fn word(&mut self, ctx: &DecodeContext, span: (usize, usize), label: Option<WordLabel>) {
        if let Some((spans, labels)) = &mut self.kept {
            spans.push(span);
            labels.push(label);
        }
        let (tag, score) = label.map_or((None, 0.0), |l| (Some(l.tag), f64::from(l.score)));
        let name = tag.map_or("O", |t| ctx.labels[t].as_str());
        if tags::split(name).0 == Role::Outside {
            return self.close(ctx);
        }
        let tag = tag.expect("a tag other than O");
        match &mut self.open {
            Some(o) if tags::continues(&ctx.labels[o.3], name, ctx.scheme) => {
                o.2 = span.1;
                o.3 = tag;
                o.4 += score;
                o.5 += 1;
            }
            _ => {
                self.close(ctx);
                self.open = Some((tag, span.0, span.1, tag, score, 1));
            }
        }
    }

    fn close(&mut self, ctx: &DecodeContext) {
        if let Some((first, start, end, _, sum, n)) = self.open.take() {
            self.entities.push(Entity {
                label: tags::entity_type(&ctx.labels[first]).to_string(),
                start,
                end,
                score: (sum / n as f64) as f32,
            });
        }
    }
}
