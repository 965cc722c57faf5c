//! Output stage: writes one record per input line as JSONL or CoNLL, whole records only.

use std::io::{self, Write};

use serde::Serialize;

use crate::decode::{tags, Aggregation, Entity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Conll,
    /// One self-contained page (`output_html`): a header, a block per record, a footer.
    Html,
}

/// A tagged line, ready to print. Entity and word offsets are in characters.
pub struct TaggedRecord<'a> {
    pub file: Option<&'a str>,
    pub line: usize,
    pub text: &'a str,
    pub entities: &'a [Entity],
    /// Character spans of the words CoNLL output lists (the tokenizer's pre-tokenized words of
    /// a text line, or the given tokens of a sentence).
    pub words: &'a [(usize, usize)],
    pub input: InputKind<'a>,
}

/// What the record was read from, which decides what else it prints.
pub enum InputKind<'a> {
    Text,
    /// A JSONL object: printed back with `entities` added (replacing any such field).
    Json(&'a serde_json::Map<String, serde_json::Value>),
    /// A CoNLL sentence: its predicted word tags, and gold tags when the input had them.
    Sentence {
        predicted: &'a [&'a str],
        gold: Option<&'a [String]>,
    },
}

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
    text: &'a str,
    entities: Vec<JsonEntity<'a>>,
}

/// Writes records to `W`; each record is formatted in memory first and written in one call.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    byte_offsets: bool,
    aggregation: Aggregation,
    buf: Vec<u8>,
}

/// Byte position of every character boundary of `text` (one more entry than characters).
fn char_to_byte(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect()
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, format: Format, byte_offsets: bool, aggregation: Aggregation) -> Self {
        Self {
            out,
            format,
            byte_offsets,
            aggregation,
            buf: Vec::with_capacity(4096),
        }
    }

    /// What goes before the first record (the HTML page's head).
    pub fn begin(&mut self) -> io::Result<()> {
        match self.format {
            Format::Html => self.out.write_all(crate::output_html::HEADER.as_bytes()),
            _ => Ok(()),
        }
    }

    /// What goes after the last record (the HTML page's end), then a flush.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Html {
            self.out.write_all(crate::output_html::FOOTER.as_bytes())?;
        }
        self.out.flush()
    }

    pub fn write(&mut self, rec: &TaggedRecord) -> io::Result<()> {
        self.buf.clear();

        let bytes = char_to_byte(rec.text);
        let slice = |s: usize, e: usize| {
            &rec.text[bytes[s.min(bytes.len() - 1)]..bytes[e.min(bytes.len() - 1)]]
        };
        match self.format {
            Format::Html => crate::output_html::record(
                &mut self.buf,
                rec.file,
                rec.line,
                rec.text,
                rec.entities,
            )?,
            Format::Jsonl => {
                let entities = rec
                    .entities
                    .iter()
                    .map(|e| {
                        let (start, end) = if self.byte_offsets {
                            (bytes[e.start], bytes[e.end])
                        } else {
                            (e.start, e.end)
                        };
                        JsonEntity {
                            text: slice(e.start, e.end),
                            label: &e.label,
                            start,
                            end,
                            score: e.score,
                        }
                    })
                    .collect::<Vec<_>>();
                if let InputKind::Json(object) = &rec.input {
                    let mut object = (*object).clone();
                    object.insert("entities".into(), entities_value(&entities));
                    serde_json::to_writer(&mut self.buf, &object).map_err(io::Error::other)?;
                } else {
                    let json = JsonRecord {
                        line: rec.line,
                        file: rec.file,
                        text: rec.text,
                        entities,
                    };
                    serde_json::to_writer(&mut self.buf, &json).map_err(io::Error::other)?;
                }
                self.buf.push(b'\n');
            }
            Format::Conll if matches!(rec.input, InputKind::Sentence { .. }) => {
                let InputKind::Sentence { predicted, gold } = &rec.input else {
                    unreachable!()
                };
                // conlleval's input format: token [gold] predicted, space-separated.
                for (i, &(s, e)) in rec.words.iter().enumerate() {
                    let word = slice(s, e);
                    match gold {
                        Some(g) => writeln!(self.buf, "{word} {} {}", g[i], predicted[i])?,
                        None => writeln!(self.buf, "{word} {}", predicted[i])?,
                    }
                }
                self.buf.push(b'\n');
            }
            Format::Conll => {
                for (i, tag) in word_tags(rec.entities, rec.words, self.aggregation)
                    .iter()
                    .enumerate()
                {
                    let (s, e) = rec.words[i];
                    let word = slice(s, e).trim();
                    if !word.is_empty() {
                        writeln!(self.buf, "{word}\t{tag}")?;
                    }
                }
                self.buf.push(b'\n');
            }
        }
        self.out.write_all(&self.buf)
    }

    /// The record written in place of an input record that could not be tagged: a JSON object
    /// with `error` (the input object's fields kept, when the line was one), or a `#` comment
    /// line in CoNLL.
    pub fn write_error(
        &mut self,
        file: Option<&str>,
        line: usize,
        msg: &str,
        object: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> io::Result<()> {
        self.buf.clear();
        match self.format {
            Format::Html => crate::output_html::error(&mut self.buf, file, line, msg),
            Format::Jsonl if object.is_some() => {
                let mut object = object.cloned().unwrap_or_default();
                object.insert("error".into(), msg.into());
                serde_json::to_writer(&mut self.buf, &object).map_err(io::Error::other)?;
                self.buf.push(b'\n');
            }
            Format::Jsonl => {
                #[derive(Serialize)]
                struct ErrorRecord<'a> {
                    line: usize,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    file: Option<&'a str>,
                    error: &'a str,
                }
                serde_json::to_writer(
                    &mut self.buf,
                    &ErrorRecord {
                        line,
                        file,
                        error: msg,
                    },
                )
                .map_err(io::Error::other)?;
                self.buf.push(b'\n');
            }
            Format::Conll => {
                let at = file.map_or(String::new(), |f| format!("{f}:"));
                writeln!(
                    self.buf,
                    "# error: {at}{line}: {}\n",
                    msg.replace(['\n', '\r'], " ")
                )?;
            }
        }
        self.out.write_all(&self.buf)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Entities as a JSON value with scores written as f32's shortest round-trip form, as the
/// serialized records print them (a plain f32 → f64 conversion would print 0.9901680946350098).
fn entities_value(entities: &[JsonEntity]) -> serde_json::Value {
    entities
        .iter()
        .map(|e| {
            let score = e.score.to_string().parse::<f64>().unwrap_or(f64::from(e.score));
            serde_json::json!({"text": e.text, "label": e.label, "start": e.start, "end": e.end, "score": score})
        })
        .collect()
}

/// IOB2 tag of each word: a word overlapping an entity takes its type, `B-` on the entity's first word.
pub fn word_tags(
    entities: &[Entity],
    words: &[(usize, usize)],
    aggregation: Aggregation,
) -> Vec<String> {
    let mut out = vec!["O".to_string(); words.len()];
    let mut prev_entity: Option<usize> = None;
    let mut e = 0;
    for (i, &(ws, we)) in words.iter().enumerate() {
        while e < entities.len() && entities[e].end <= ws {
            e += 1;
        }
        let Some(ent) = entities.get(e).filter(|x| x.start < we && ws < x.end) else {
            prev_entity = None;
            continue;
        };
        let kind = if aggregation == Aggregation::None {
            tags::entity_type(&ent.label)
        } else {
            &ent.label
        };
        // With `none` each token is its own item: its own B-/I- prefix says where entities start.
        let begins = match aggregation {
            Aggregation::None => {
                prev_entity.is_none() || tags::split(&ent.label).0 == tags::Role::Begin
            }
            _ => prev_entity != Some(e),
        };
        out[i] = format!("{}-{kind}", if begins { "B" } else { "I" });
        prev_entity = Some(e);
    }
    out
}
