//! Output stage, spaCy / Prodigy spans printer (`-f spans`): one JSON task per record —
//! `text`, `tokens` (the words ner-tag split the line into, with `ws` as spaCy's `spaces`) and
//! `spans` snapped to those tokens as spaCy's `Doc.char_span(…, alignment_mode="expand")` snaps
//! them, so `Doc(vocab, words, spaces, ents=…)` and Prodigy's `ner.manual`/`ner.correct` take
//! them as they are.
//!
//! As in spaCy, whitespace other than one space after a word is a token of its own (a tab, a
//! second space, leading whitespace), so `Doc(words, spaces).text` is the line itself.
//! Spans are made non-overlapping, as `doc.ents` must be: when two snap onto a shared token the
//! more confident one is kept. A record that cannot be tagged is a task with empty text and
//! `meta.error`: nothing is dropped.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::{char_to_byte, ErrorRecord, InputKind, Printer, Sink, TaggedRecord};
use crate::decode::{tags, Aggregation};
use crate::error::Result;

pub struct Spans<W: Write> {
    sink: Sink<W>,
    aggregation: Aggregation,
}

impl<W: Write> Spans<W> {
    pub fn new(sink: Sink<W>, aggregation: Aggregation) -> Self {
        Self { sink, aggregation }
    }
}

/// A span snapped to whole tokens: `(token_start, token_end)` inclusive, as Prodigy writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapped {
    pub token_start: usize,
    pub token_end: usize,
    pub label: String,
    pub score: f32,
}

/// One token of a spaCy `Doc`: characters `start..end`, followed by a space (`ws`), or a
/// whitespace token of its own (`space`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub ws: bool,
    pub space: bool,
}

/// spaCy's tokens of `chars` split into `words` (sorted character spans): each word, followed by
/// a space when exactly one `' '` comes next; any other whitespace between, before or after the
/// words a token of its own.
pub fn tokens(chars: &[char], words: &[(usize, usize)]) -> Vec<Token> {
    let mut out = Vec::with_capacity(words.len());
    let gap = |out: &mut Vec<Token>, from: usize, to: usize| {
        // The first ' ' of a gap after a word is that word's trailing space.
        let mut from = from;
        if let Some(last) = out.last_mut() {
            if from < to && chars[from] == ' ' && !last.space {
                last.ws = true;
                from += 1;
            }
        }
        if from < to {
            out.push(Token {
                start: from,
                end: to,
                ws: false,
                space: true,
            });
        }
    };
    let mut at = 0;
    for &(s, e) in words {
        gap(&mut out, at, s);
        out.push(Token {
            start: s,
            end: e,
            ws: false,
            space: false,
        });
        at = e;
    }
    gap(&mut out, at, chars.len());
    out
}

/// The entities `(start, end, label, score)` (characters) snapped outward to the word tokens
/// they touch, non-overlapping; entities touching no word (only whitespace) are left out.
pub fn snap(tokens: &[Token], entities: &[(usize, usize, String, f32)]) -> Vec<Snapped> {
    let mut out: Vec<Snapped> = Vec::new();
    for (start, end, label, score) in entities {
        // `expand`: the first word ending after the start, the last one starting before the end.
        let first = tokens.iter().position(|t| !t.space && t.end > *start);
        let last = tokens.iter().rposition(|t| !t.space && t.start < *end);
        let (Some(a), Some(b)) = (first, last) else {
            continue;
        };
        if a > b {
            continue;
        }
        let span = Snapped {
            token_start: a,
            token_end: b,
            label: label.clone(),
            score: *score,
        };
        match out.last_mut() {
            Some(prev) if prev.token_end >= a => {
                if span.score > prev.score {
                    *prev = span;
                }
            }
            _ => out.push(span),
        }
    }
    out
}

/// The record's entities (their types, with `-a none`) snapped onto `tokens` ([`snap`]).
pub fn snap_record(rec: &TaggedRecord, tokens: &[Token], aggregation: Aggregation) -> Vec<Snapped> {
    let entities: Vec<(usize, usize, String, f32)> = rec
        .entities
        .iter()
        .map(|e| {
            let label = match aggregation {
                Aggregation::None => tags::entity_type(&e.label).to_string(),
                _ => e.label.clone(),
            };
            (e.start, e.end, label, e.score)
        })
        .collect();
    snap(tokens, &entities)
}

impl<W: Write> Printer for Spans<W> {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        let bytes = char_to_byte(rec.text);
        let at = |c: usize| bytes.at(c);
        let chars: Vec<char> = rec.text.chars().collect();
        let toks = tokens(&chars, rec.words);
        let token_list: Vec<Value> = toks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({"text": &rec.text[at(t.start)..at(t.end)], "start": t.start, "end": t.end,
                       "id": i, "ws": t.ws})
            })
            .collect();
        let spans: Vec<Value> = snap_record(rec, &toks, self.aggregation)
            .into_iter()
            .map(|s| {
                let (start, end) = (toks[s.token_start].start, toks[s.token_end].end);
                json!({"start": start, "end": end, "token_start": s.token_start,
                       "token_end": s.token_end, "label": s.label, "score": super::score_json(s.score)})
            })
            .collect();
        let mut task = match &rec.input {
            InputKind::Json(object) => (*object).clone(),
            _ => Map::new(),
        };
        task.insert("text".into(), rec.text.into());
        task.insert("tokens".into(), token_list.into());
        task.insert("spans".into(), spans.into());
        let mut meta = json!({"line": rec.line});
        if let Some(f) = rec.file {
            meta["file"] = f.into();
        }
        task.insert("meta".into(), meta);
        self.sink.emit_json_line(&Value::Object(task))
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        let mut task = err.object.cloned().unwrap_or_default();
        let mut meta = json!({"line": err.line, "error": err.msg});
        if let Some(f) = err.file {
            meta["file"] = f.into();
        }
        task.insert("text".into(), "".into());
        task.insert("tokens".into(), json!([]));
        task.insert("spans".into(), json!([]));
        task.insert("meta".into(), meta);
        self.sink.emit_json_line(&Value::Object(task))
    }

    fn flush(&mut self) -> Result<()> {
        self.sink.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: usize, t: usize, label: &str, score: f32) -> (usize, usize, String, f32) {
        (s, t, label.into(), score)
    }

    #[test]
    fn whitespace_becomes_tokens_as_in_spacy() {
        let text: Vec<char> = " a  b\tc ".chars().collect();
        let t = tokens(&text, &[(1, 2), (4, 5), (6, 7)]);
        let got: Vec<(usize, usize, bool, bool)> =
            t.iter().map(|t| (t.start, t.end, t.ws, t.space)).collect();
        assert_eq!(
            got,
            [
                (0, 1, false, true),
                (1, 2, true, false),
                (3, 4, false, true),
                (4, 5, false, false),
                (5, 6, false, true),
                (6, 7, true, false)
            ]
        );
    }

    fn words(spans: &[(usize, usize)]) -> Vec<Token> {
        spans
            .iter()
            .map(|&(start, end)| Token {
                start,
                end,
                ws: true,
                space: false,
            })
            .collect()
    }

    #[test]
    fn spans_expand_to_whole_tokens_as_char_span_expand_does() {
        // "New York-based Acme Corp ." → tokens New|York-based|Acme|Corp|.
        let tokens = words(&[(0, 3), (4, 14), (15, 19), (20, 24), (25, 26)]);
        let got = snap(
            &tokens,
            &[
                e(0, 8, "LOC", 0.9),
                e(16, 22, "ORG", 0.8),
                e(24, 25, "X", 0.5),
            ],
        );
        assert_eq!(
            got.iter()
                .map(|s| (s.token_start, s.token_end, s.label.as_str()))
                .collect::<Vec<_>>(),
            [(0, 1, "LOC"), (2, 3, "ORG")],
            "a span over whitespace only is left out"
        );
        // Two entities snapping onto one token: the more confident one stays.
        let got = snap(&tokens, &[e(4, 6, "LOC", 0.4), e(9, 14, "ORG", 0.7)]);
        assert_eq!((got.len(), got[0].label.as_str()), (1, "ORG"));
        assert!(snap(&[], &[e(0, 1, "X", 1.0)]).is_empty());
    }
}
