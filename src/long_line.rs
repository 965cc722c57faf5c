//! Tokenize → batch → model → decode for one enormous line, a bounded group of windows at a
//! time: the line's text is tokenized a segment at a time ([`crate::windows`]), each group of
//! windows goes through the model, is decoded and dropped ([`crate::decode::stream`]), and the
//! entities settled go to an [`EntitySpill`] (past 1 MiB, a temporary file), so memory holds the
//! text and one group — not every window, its probabilities, or the line's entities. A stop
//! request is seen between two segments and between two batches.
//!
//! The entities are those of tagging the line whole ([`crate::tagger::Tagger::tag_jobs`]).

use crate::batch::{self, BatchPolicy};
use crate::chars::{CharIndex, LineChars};
use crate::decode::aggregate::decode_window;
use crate::decode::spill::EntitySpill;
use crate::decode::stream::{window_chars, OverlapStream, WordStream};
use crate::decode::DecodeContext;
use crate::decode::WordLabel;
use crate::error::{Error, Result};
use crate::model::TokenClassifier;
use crate::tokenize::TextTokenizer;
use crate::windows::WindowStream;

/// When a line is tagged as a stream, and in which pieces.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Text lines longer than this (bytes) are streamed; shorter ones are tagged whole, their
    /// windows batched with other lines'.
    pub long_line_bytes: usize,
    /// Target bytes of text tokenized at a time.
    pub segment_bytes: usize,
    /// Tokens per group of windows through the model; 0: eight full batches per thread.
    pub group_tokens: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            long_line_bytes: 64 << 10,
            segment_bytes: 16 << 10,
            group_tokens: 0,
        }
    }
}

/// What tagging a long line produced.
pub struct LongTagged {
    /// The entities, in the order [`crate::tagger::Tagger::tag_jobs`] gives them.
    pub entities: EntitySpill,
    /// Word mode with `keep_words`: every word's label.
    pub word_labels: Option<Vec<Option<WordLabel>>>,
    /// With `keep_words`: the character span of every word (see [`tag_line`]).
    pub words: Option<Vec<(usize, usize)>>,
    /// Windows and their tokens that went through the model.
    pub windows: usize,
    pub tokens: usize,
}

/// The parts of a tagger a long line goes through.
pub(crate) struct Stages<'t> {
    pub tokenizer: &'t TextTokenizer,
    pub model: &'t TokenClassifier,
    pub policy: &'t BatchPolicy,
    pub ctx: DecodeContext<'t>,
    pub limits: StreamLimits,
}

/// Tags `text` as one line. `word_mode`: split into words as [`crate::job::Job::text`] does;
/// `keep_words`: return every word (and, in word mode, its label) — in word mode the words it
/// split the line into, otherwise the tokenizer's words ([`TextTokenizer::words`]: CoNLL output). `stop` is asked before
/// each segment and each batch; once it says so, this ends with [`Error::Interrupted`].
pub(crate) fn tag_line(
    s: &Stages,
    text: &str,
    word_mode: bool,
    keep_words: bool,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<LongTagged> {
    let mut stream = WindowStream::new(s.tokenizer, text, word_mode, s.limits.segment_bytes);
    if keep_words && !word_mode {
        stream = stream.list_words();
    }
    let index = (!word_mode).then(|| CharIndex::new(text));
    let mut overlaps = OverlapStream::default();
    let mut words = WordStream::new(keep_words);
    let group_tokens = match s.limits.group_tokens {
        0 => s.policy.max_batch_tokens * rayon::current_num_threads().max(1) * 8,
        n => n,
    };
    let mut spill = EntitySpill::new();
    let (mut windows, mut tokens) = (0, 0);
    while !stream.is_done() {
        let (mut group, mut held) = (Vec::new(), 0);
        while !stream.is_done() && held < group_tokens {
            if stop() {
                return Err(Error::Interrupted);
            }
            let ws = stream.next_windows()?;
            if word_mode {
                words.words(stream.take_spans());
            }
            held += ws.iter().map(|w| w.ids.len()).sum::<usize>();
            // A window without tokens is not run, as in [`batch::run_model`].
            group.extend(ws.into_iter().filter(|w| !w.ids.is_empty()));
        }
        let floors = (stream.char_floor(), stream.word_floor());
        windows += group.len();
        tokens += held;
        let tagged = batch::run_model(s.model, s.policy, vec![group], stop)?;
        for t in &tagged {
            for (window, probs) in t.pairs() {
                match &index {
                    None => words.window(&s.ctx, window, probs),
                    Some(index) => {
                        let (lo, hi) = window_chars(window, index.len());
                        let chars = index.chars(lo, hi);
                        let view = LineChars {
                            chars: &chars,
                            base: lo,
                            len: index.len(),
                        };
                        overlaps.window(decode_window(&s.ctx, &view, window, probs));
                    }
                }
            }
        }
        match word_mode {
            true => {
                words.settle(&s.ctx, floors.1);
                spill.extend(&std::mem::take(&mut words.entities))?;
            }
            false => {
                overlaps.settle(floors.0);
                spill.extend(&overlaps.take_settled())?;
            }
        }
    }
    let (spans, labels) = if word_mode {
        let done = words.finish(&s.ctx);
        spill.extend(&done.entities)?;
        done.kept.unzip()
    } else {
        spill.extend(&overlaps.finish())?;
        (stream.take_text_words(), None)
    };
    Ok(LongTagged {
        entities: spill,
        word_labels: labels,
        words: spans,
        windows,
        tokens,
    })
}
