//! Output stage, CoNLL printer: a sentence per record, one `word<TAB>IOB2-tag` line per word
//! (or conlleval's `word [gold] predicted` for CoNLL input), a blank line after each record;
//! an error record is a `# error:` comment.

use std::io::Write;

use super::{ErrorRecord, InputKind, Printer, Sink, TaggedRecord};
use crate::decode::{tags, Aggregation, Entity};
use crate::error::Result;

pub struct Conll<W: Write> {
    sink: Sink<W>,
    aggregation: Aggregation,
}

impl<W: Write> Conll<W> {
    pub fn new(sink: Sink<W>, aggregation: Aggregation) -> Self {
        Self { sink, aggregation }
    }
}

impl<W: Write> Printer for Conll<W> {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        let bytes = super::char_to_byte(rec.text);
        let slice = |s: usize, e: usize| {
            &rec.text[bytes[s.min(bytes.len() - 1)]..bytes[e.min(bytes.len() - 1)]]
        };
        let aggregation = self.aggregation;
        self.sink.emit(|buf| {
            if let InputKind::Sentence { predicted, gold } = &rec.input {
                // conlleval's input format: token [gold] predicted, space-separated.
                for (i, &(s, e)) in rec.words.iter().enumerate() {
                    let word = slice(s, e);
                    match gold {
                        Some(g) => writeln!(buf, "{word} {} {}", g[i], predicted[i])?,
                        None => writeln!(buf, "{word} {}", predicted[i])?,
                    }
                }
            } else {
                for (i, tag) in word_tags(rec.entities, rec.words, aggregation)
                    .iter()
                    .enumerate()
                {
                    let (s, e) = rec.words[i];
                    let word = slice(s, e).trim();
                    if !word.is_empty() {
                        writeln!(buf, "{word}\t{tag}")?;
                    }
                }
            }
            buf.push(b'\n');
            Ok(())
        })
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        let at = err.file.map_or(String::new(), |f| format!("{f}:"));
        self.sink.emit(|buf| {
            writeln!(
                buf,
                "# error: {at}{}: {}\n",
                err.line,
                err.msg.replace(['\n', '\r'], " ")
            )
        })
    }

    fn flush(&mut self) -> Result<()> {
        self.sink.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.flush()
    }
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
