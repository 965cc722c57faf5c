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
    let mut out = String::with_capacity(text.len());
    let mut spans = Vec::with_capacity(entities.len());
    let mut entities = entities.iter().cloned().map(Ok);
    let mut put = |piece: &str| {
        out.push_str(piece);
        Ok(())
    };
    redact_each(text, &mut entities, with, aggregation, &mut put, &mut |r| {
        spans.push(r)
    })
    .expect("writing to a String and reading a slice do not fail");
    (out, spans)
}

/// The redaction of `text`, piece by piece into `put` as the entities come (sorted by start),
/// and each replacement into `replaced`: what [`redact_spans`] builds, and what
/// [`Printer::record_streamed`] writes without building it.
fn redact_each(
    text: &str,
    entities: &mut dyn Iterator<Item = Result<crate::decode::Entity>>,
    with: &Redaction,
    aggregation: Aggregation,
    put: &mut dyn FnMut(&str) -> Result<()>,
    replaced: &mut dyn FnMut(Replaced),
) -> Result<()> {
    let bytes = char_to_byte(text);
    let at = |c: usize| bytes.at(c);
    let mut out_chars = 0; // characters written
    let mut done = 0; // characters of `text` already copied or replaced
    let mut piece = String::new();
    for e in entities {
        let e = e?;
        let start = e.start.max(done);
        if e.end <= start {
            continue;
        }
        put(&text[at(done)..at(start)])?;
        out_chars += start - done;
        let kind = if aggregation == Aggregation::None {
            tags::entity_type(&e.label)
        } else {
            &e.label
        };
        let span = &text[at(start)..at(e.end)];
        piece.clear();
        match with {
            Redaction::Label => {
                piece.push('[');
                piece.push_str(kind);
                piece.push(']');
            }
            Redaction::Mask => piece.extend(std::iter::repeat_n(MASK, span.chars().count())),
            Redaction::Remove => {}
            Redaction::Hash(key) => piece.push_str(&pseudonym(key, kind, span)),
        }
        put(&piece)?;
        let written = piece.chars().count();
        replaced(Replaced {
            label: e.label,
            start: out_chars,
            end: out_chars + written,
            score: e.score,
        });
        out_chars += written;
        done = e.end;
    }
    put(&text[at(done)..])
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

    /// A text line's redaction written as its entities come, straight into the writer: the
    /// bytes [`Printer::record`] writes.
    fn record_streamed(
        &mut self,
        rec: &TaggedRecord,
        entities: &mut dyn Iterator<Item = Result<crate::decode::Entity>>,
    ) -> Result<()> {
        if !matches!(rec.input, InputKind::Text) {
            return super::record_whole(self, rec, entities);
        }
        let (out, name) = self.sink.direct();
        let mut put = |piece: &str| {
            out.write_all(piece.as_bytes())
                .map_err(|e| crate::Error::io(name, e))
        };
        if rec.framing.bom {
            put("\u{FEFF}")?;
        }
        redact_each(
            rec.text,
            entities,
            &self.with,
            self.aggregation,
            &mut put,
            &mut |_| {},
        )?;
        put(rec.framing.ending)
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

    /// A text line redacted as its entities come is byte for byte the line redacted whole: every
    /// replacement, BOM and CRLF kept, a last line without an ending, overlapping entities.
    #[test]
    fn a_streamed_line_is_the_line_redacted_whole() {
        use super::super::testing::Shared;
        use crate::input::Framing;
        let text = "Zoë met 東京 and Bob🙂 in Berlin.";
        let ents = [
            ent("B-PER", 0, 3),
            ent("LOC", 8, 10),
            ent("LOC", 9, 12),
            ent("PER", 15, 18),
            ent("LOC", 23, 29),
        ];
        let withs = [
            Redaction::Label,
            Redaction::Mask,
            Redaction::Remove,
            Redaction::Hash(b"k".to_vec()),
        ];
        for with in &withs {
            for aggregation in [Aggregation::None, Aggregation::Simple] {
                for (bom, ending) in [(false, "\n"), (true, "\r\n"), (false, "")] {
                    let rec = TaggedRecord {
                        file: None,
                        file_bytes: None,
                        line: 1,
                        text,
                        entities: &ents,
                        words: &[],
                        input: InputKind::Text,
                        framing: Framing { bom, ending },
                    };
                    let (whole, streamed) = (Shared::default(), Shared::default());
                    let printer = |out: &Shared| {
                        Redact::new(Sink::new(out.clone(), "x"), with.clone(), aggregation, None)
                    };
                    printer(&whole).record(&rec).unwrap();
                    let mut it = ents.iter().cloned().map(Ok);
                    let rec = TaggedRecord {
                        entities: &[],
                        ..rec
                    };
                    printer(&streamed).record_streamed(&rec, &mut it).unwrap();
                    let what = format!("{with:?} {aggregation:?} {bom} {ending:?}");
                    assert_eq!(*streamed.0.borrow(), *whole.0.borrow(), "{what}");
                    assert!(whole.0.borrow().ends_with(ending.as_bytes()), "{what}");
                }
            }
        }
    }
}
