//! Output stage, JSONL printer: one JSON object per record — `line`, `file` (several inputs;
//! `file_bytes` beside it when the name is not UTF-8), `text`, `entities` — or the input object
//! with `entities` added; error records carry `error`.

use std::io::Write;

use serde::Serialize;

use super::{char_to_byte, ErrorRecord, InputKind, Printer, Sink, TaggedRecord};
use crate::error::Result;

#[derive(Serialize)]
struct JsonEntity<'a> {
    text: &'a str,
    label: &'a str,
    start: usize,
    end: usize,
    score: f32,
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
        let at = |c: usize| bytes.at(c);
        let entities = rec
            .entities
            .iter()
            .map(|e| {
                let (start, end) = if self.byte_offsets {
                    (at(e.start), at(e.end))
                } else {
                    (e.start, e.end)
                };
                JsonEntity {
                    text: &rec.text[at(e.start)..at(e.end)],
                    label: &e.label,
                    start,
                    end,
                    score: e.score,
                }
            })
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
