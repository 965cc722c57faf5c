//! Output stage, JSONL printer: one JSON object per record — `line`, `file` (several inputs;
//! `file_bytes` beside it when the name is not UTF-8), `text`, `entities` — or the input object
//! with `entities` added; error records carry `error`.

use std::io::Write;

use serde::Serialize;

use super::{char_to_byte, ErrorRecord, InputKind, Printer, Sink, TaggedRecord};
use crate::chars::CharIndex;
use crate::decode::Entity;
use crate::error::{Error, Result};

#[derive(Serialize)]
struct JsonEntity<'a> {
    text: &'a str,
    label: &'a str,
    start: usize,
    end: usize,
    score: f32,
}

impl<'a> JsonEntity<'a> {
    /// Entity `e` of `text` (`bytes` its character index), its offsets in characters or bytes.
    fn new(text: &'a str, bytes: &CharIndex, e: &'a Entity, byte_offsets: bool) -> Self {
        let (first, last) = (bytes.at(e.start), bytes.at(e.end));
        let (start, end) = match byte_offsets {
            true => (first, last),
            false => (e.start, e.end),
        };
        JsonEntity {
            text: &text[first..last],
            label: &e.label,
            start,
            end,
            score: e.score,
        }
    }
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    /// The file name's bytes, only when it is not UTF-8 (`file` then shows U+FFFD for them).
    #[serde(skip_serializing_if = "Option::is_none")]
    file_bytes: Option<&'a [u8]>,
    text: &'a str,
    entities: Vec<JsonEntity<'a>>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_bytes: Option<&'a [u8]>,
    error: &'a str,
}

pub struct Jsonl<W: Write> {
    sink: Sink<W>,
    byte_offsets: bool,
}

impl<W: Write> Jsonl<W> {
    pub fn new(sink: Sink<W>, byte_offsets: bool) -> Self {
        Self { sink, byte_offsets }
    }
}

impl<W: Write> Printer for Jsonl<W> {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        let bytes = char_to_byte(rec.text);
        let entities = rec
            .entities
            .iter()
            .map(|e| JsonEntity::new(rec.text, &bytes, e, self.byte_offsets))
            .collect::<Vec<_>>();
        self.sink.emit(|buf| {
            if let InputKind::Json(object) = &rec.input {
                let mut object = (*object).clone();
                object.insert("entities".into(), entities_value(&entities));
                serde_json::to_writer(&mut *buf, &object)?;
            } else {
                let json = JsonRecord {
                    line: rec.line,
                    file: rec.file,
                    file_bytes: rec.file_bytes,
                    text: rec.text,
                    entities,
                };
                serde_json::to_writer(&mut *buf, &json)?;
            }
            buf.push(b'\n');
            Ok(())
        })
    }

    /// The bytes [`Printer::record`] writes for a text record, written as they come: the text
    /// escaped straight into the writer, then each entity.
    fn record_streamed(
        &mut self,
        rec: &TaggedRecord,
        entities: &mut dyn Iterator<Item = Result<Entity>>,
    ) -> Result<()> {
        if !matches!(rec.input, InputKind::Text) {
            return super::record_whole(self, rec, entities);
        }
        let bytes = char_to_byte(rec.text);
        let byte_offsets = self.byte_offsets;
        let (out, name) = self.sink.direct();
        let io = |e: std::io::Error| Error::io(name, e);
        let json = |out: &mut W, v: &dyn erased::Json| v.write(out).map_err(io);
        write!(out, "{{\"line\":{}", rec.line).map_err(io)?;
        if let Some(file) = rec.file {
            out.write_all(b",\"file\":").map_err(io)?;
            json(out, &file)?;
        }
        if let Some(raw) = rec.file_bytes {
            out.write_all(b",\"file_bytes\":").map_err(io)?;
            json(out, &raw)?;
        }
        out.write_all(b",\"text\":").map_err(io)?;
        json(out, &rec.text)?;
        out.write_all(b",\"entities\":[").map_err(io)?;
        for (i, e) in entities.enumerate() {
            let e = e?;
            if i > 0 {
                out.write_all(b",").map_err(io)?;
            }
            json(out, &JsonEntity::new(rec.text, &bytes, &e, byte_offsets))?;
        }
        out.write_all(b"]}\n").map_err(io)
    }

    /// The input object with `error` added when the line was one, else `line`, `file`, `error`.
    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        self.sink.emit(|buf| {
            match err.object {
                Some(object) => {
                    let mut object = object.clone();
                    object.insert("error".into(), err.msg.into());
                    serde_json::to_writer(&mut *buf, &object)?;
                }
                None => serde_json::to_writer(
                    &mut *buf,
                    &JsonError {
                        line: err.line,
                        file: err.file,
                        file_bytes: err.file_bytes,
                        error: err.msg,
                    },
                )?,
            }
            buf.push(b'\n');
            Ok(())
        })
    }

    fn flush(&mut self) -> Result<()> {
        self.sink.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.flush()
    }
}

/// One serializable value written to any writer (what [`Printer::record_streamed`] writes).
mod erased {
    use std::io::Write;

    pub trait Json {
        fn write(&self, out: &mut dyn Write) -> std::io::Result<()>;
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
            Ok(serde_json::to_writer(out, self)?)
        }
    }
}

/// Entities as a JSON value with scores written as f32's shortest round-trip form, as the
/// serialized records print them (a plain f32 → f64 conversion would print 0.9901680946350098).
fn entities_value(entities: &[JsonEntity]) -> serde_json::Value {
    entities
        .iter()
        .map(|e| {
            serde_json::json!({"text": e.text, "label": e.label, "start": e.start, "end": e.end,
                               "score": super::score_json(e.score)})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::Shared;
    use super::*;

    /// A record written as its entities come is byte for byte the record written whole: names
    /// with and without `file`/`file_bytes`, escapes, astral characters, character and byte
    /// offsets, no entities.
    #[test]
    fn a_streamed_record_is_the_record_written_whole() {
        let text = "Zoë \"Ünïcode\" 𝔘 in\tBerlin\\ \u{1} Paris — Zoë";
        let chars: Vec<char> = text.chars().collect();
        let find = |w: &str| {
            let w: Vec<char> = w.chars().collect();
            (0..chars.len())
                .find(|&i| chars[i..].starts_with(&w))
                .unwrap()
        };
        let ent = |label: &str, w: &str, score: f32| Entity {
            label: label.into(),
            start: find(w),
            end: find(w) + w.chars().count(),
            score,
        };
        let all = [
            ent("PER", "Zoë", 0.9),
            ent("MISC", "𝔘", 0.123_456_79),
            ent("LOC", "Berlin", 1.0),
            ent("LOC", "Paris", 0.5),
        ];
        for entities in [&all[..], &[]] {
            for (file, raw) in [
                (None, None),
                (Some("a/b \"c\".txt"), None),
                (Some("caf\u{FFFD}.txt"), Some(&b"caf\xe9.txt"[..])),
            ] {
                for byte_offsets in [false, true] {
                    let rec = TaggedRecord {
                        file,
                        file_bytes: raw,
                        line: 12,
                        text,
                        entities,
                        words: &[],
                        input: InputKind::Text,
                        framing: Default::default(),
                    };
                    let (whole, streamed) = (Shared::default(), Shared::default());
                    Jsonl::new(Sink::new(whole.clone(), "w"), byte_offsets)
                        .record(&rec)
                        .unwrap();
                    let mut it = entities.iter().cloned().map(Ok);
                    let empty = TaggedRecord {
                        entities: &[],
                        ..rec
                    };
                    Jsonl::new(Sink::new(streamed.clone(), "s"), byte_offsets)
                        .record_streamed(&empty, &mut it)
                        .unwrap();
                    let (whole, streamed) = (whole.0.borrow(), streamed.0.borrow());
                    assert_eq!(
                        String::from_utf8_lossy(&streamed),
                        String::from_utf8_lossy(&whole),
                        "{file:?} byte offsets {byte_offsets}"
                    );
                    assert_eq!(whole.last(), Some(&b'\n'));
                }
            }
        }
    }
}
