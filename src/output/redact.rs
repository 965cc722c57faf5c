//! Output stage, redaction printer (`-f redact`): each input line written back with its entities
//! replaced — by `[TYPE]`, a same-length `█` mask, nothing, or a keyed pseudonym `TYPE_3f2a9c` —
//! and every other byte as it was read (a UTF-8 BOM, CRLF or LF endings, a last line without
//! one). A line that could not be tagged is never passed through: an `# error: LINE: MESSAGE`
//! line is written in its place. JSONL input: each object written back with its text field
//! redacted in place, every other field as it was, and (`--redact-entities`) an `entities` list
//! whose offsets are characters of the redacted text; an untaggable object is written without
//! its text field, with `error`.

use std::io::Write;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{char_to_byte, ErrorRecord, InputKind, Printer, Sink, TaggedRecord};
use crate::decode::{tags, Aggregation};
use crate::error::Result;

/// What an entity is replaced by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Redaction {
    /// `[PER]`.
    #[default]
    Label,
    /// One `█` per character of the entity.
    Mask,
    /// Nothing: the entity's characters are cut.
    Remove,
    /// `PER_` and the first 6 hex digits of HMAC-SHA256(key, entity text): equal names get
    /// equal pseudonyms across files, shards and runs with the same key.
    Hash(Vec<u8>),
}

/// The mask character of [`Redaction::Mask`].
pub const MASK: char = '█';

pub struct Redact<W: Write> {
    sink: Sink<W>,
    with: Redaction,
    aggregation: Aggregation,
    /// JSONL input: the text field redacted in place.
    json: Option<JsonRedaction>,
}

/// How JSONL records are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonRedaction {
    pub text_field: String,
    /// Add `entities`, in characters of the redacted text.
    pub entities: bool,
}

impl<W: Write> Redact<W> {
    pub fn new(
        sink: Sink<W>,
        with: Redaction,
        aggregation: Aggregation,
        json: Option<JsonRedaction>,
    ) -> Self {
        Self {
            sink,
            with,
            aggregation,
            json,
        }
    }
}

/// Where a replacement landed in the redacted text (characters), and what it replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Replaced {
    pub label: String,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// The pseudonym of `text` under `key`: `kind` and 6 hex digits of its HMAC-SHA256.
pub fn pseudonym(key: &[u8], kind: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("{kind}_{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2])
}

/// `text` with each entity's characters replaced as `with` says; entities are in character
/// offsets, sorted by start (one overlapping an earlier one is cut to start after it).
pub fn redact(
    text: &str,
    entities: &[crate::decode::Entity],
    with: &Redaction,
    aggregation: Aggregation,
) -> String {
    redact_spans(text, entities, with, aggregation).0
}

/// [`redact`], and where each replacement sits in the redacted text.
pub fn redact_spans(
    text: &str,
    entities: &[crate::decode::Entity],
    with: &Redaction,
    aggregation: Aggregation,
) -> (String, Vec<Replaced>) {
    let bytes = char_to_byte(text);
    let at = |c: usize| bytes.at(c);
    let mut out = String::with_capacity(text.len());
    let mut spans = Vec::with_capacity(entities.len());
    let mut out_chars = 0; // characters written to `out`
    let mut done = 0; // characters of `text` already copied or replaced
    for e in entities {
        let start = e.start.max(done);
        if e.end <= start {
            continue;
        }
        out.push_str(&text[at(done)..at(start)]);
        out_chars += start - done;
        let before = out.len();
        let kind = if aggregation == Aggregation::None {
            tags::entity_type(&e.label)
        } else {
            &e.label
        };
        let span = &text[at(start)..at(e.end)];
        match with {
            Redaction::Label => {
                out.push('[');
                out.push_str(kind);
                out.push(']');
            }
            Redaction::Mask => out.extend(std::iter::repeat_n(MASK, span.chars().count())),
            Redaction::Remove => {}
            Redaction::Hash(key) => out.push_str(&pseudonym(key, kind, span)),
        }
        let written = out[before..].chars().count();
        spans.push(Replaced {
            label: e.label.clone(),
            start: out_chars,
            end: out_chars + written,
            score: e.score,
        });
        out_chars += written;
        done = e.end;
    }
    out.push_str(&text[at(done)..]);
    (out, spans)
}

impl<W: Write> Printer for Redact<W> {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        if let (Some(json), InputKind::Json(object)) = (&self.json, &rec.input) {
            let (text, spans) = redact_spans(rec.text, rec.entities, &self.with, self.aggregation);
            let mut object = (*object).clone();
            if json.entities {
                let list: Vec<serde_json::Value> = spans
                    .iter()
                    .map(|r| {
                        let t: String = text.chars().skip(r.start).take(r.end - r.start).collect();
                        serde_json::json!({"text": t, "label": r.label, "start": r.start,
                                           "end": r.end, "score": super::score_json(r.score)})
                    })
                    .collect();
                object.insert("entities".into(), list.into());
            }
            object.insert(json.text_field.clone(), text.into());
            return self.sink.emit_json_line(&object);
        }
        let text = redact(rec.text, rec.entities, &self.with, self.aggregation);
        let framing = rec.framing;
        self.sink.emit(|buf| {
            if framing.bom {
                buf.extend_from_slice(b"\xEF\xBB\xBF");
            }
            buf.extend_from_slice(text.as_bytes());
            buf.extend_from_slice(framing.ending.as_bytes());
            Ok(())
        })
    }

    /// `# error: [FILE:]LINE: MESSAGE` and a newline, in place of the line (escaped as CoNLL's).
    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        if let Some(json) = &self.json {
            // Never the text unredacted: the object without its text field, or where the line
            // is not an object, where it was.
            let mut object = err.object.cloned().unwrap_or_else(|| {
                let mut m = serde_json::Map::new();
                if let Some(f) = err.file {
                    m.insert("file".into(), f.into());
                }
                m.insert("line".into(), err.line.into());
                m
            });
            object.remove(&json.text_field);
            object.insert("error".into(), err.msg.into());
            return self.sink.emit_json_line(&object);
        }
        let comment = super::conll::error_comment(err);
        self.sink.emit(|buf| writeln!(buf, "{comment}"))
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
    use crate::decode::Entity;

    fn ent(label: &str, start: usize, end: usize) -> Entity {
        Entity {
            label: label.into(),
            start,
            end,
            score: 0.9,
        }
    }

    #[test]
    fn replaces_character_spans_and_keeps_the_rest() {
        let text = "Zoë met 東京 and Bob🙂.";
        let ents = [ent("PER", 0, 3), ent("LOC", 8, 10), ent("PER", 15, 18)];
        let w = Aggregation::Word;
        assert_eq!(
            redact(text, &ents, &Redaction::Label, w),
            "[PER] met [LOC] and [PER]🙂."
        );
        assert_eq!(
            redact(text, &ents, &Redaction::Mask, w),
            "███ met ██ and ███🙂."
        );
        assert_eq!(redact(text, &ents, &Redaction::Remove, w), " met  and 🙂.");
        let key = Redaction::Hash(b"k".to_vec());
        let got = redact(text, &ents, &key, w);
        assert!(
            got.starts_with("PER_") && got.contains(" met LOC_"),
            "{got}"
        );
        // A raw `none` tag is replaced by its type; an overlap is cut, not doubled.
        let raw = [ent("B-PER", 0, 3), ent("I-PER", 2, 7)];
        assert_eq!(
            redact(text, &raw, &Redaction::Label, Aggregation::None),
            "[PER][PER] 東京 and Bob🙂."
        );
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        assert_eq!(
            pseudonym(b"key", "PER", "Zoë"),
            pseudonym(b"key", "PER", "Zoë")
        );
        assert_ne!(
            pseudonym(b"key", "PER", "Zoë"),
            pseudonym(b"other", "PER", "Zoë")
        );
        assert_ne!(
            pseudonym(b"key", "PER", "Zoë"),
            pseudonym(b"key", "PER", "Zoe")
        );
        assert_eq!(pseudonym(b"key", "PER", "x").len(), "PER_".len() + 6);
        // RFC 4231, test case 2: HMAC-SHA256 = 5bdcc146bf60754e…
        assert_eq!(
            pseudonym(b"Jefe", "X", "what do ya want for nothing?"),
            "X_5bdcc1"
        );
    }
}
