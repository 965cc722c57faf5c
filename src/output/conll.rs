//! Output stage, CoNLL printer: a sentence per record, one `word<TAB>IOB2-tag` line per word
//! (or conlleval's `word [gold] predicted` for CoNLL input), a blank line after each record;
//! an error record is a `# error:` comment. A character that would break a line or a column (a
//! newline in a label or a file name) is written as an escape ([`escape`]).

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
        let slice = |s: usize, e: usize| &rec.text[bytes.at(s)..bytes.at(e)];
        let aggregation = self.aggregation;
        self.sink.emit(|buf| {
            if let InputKind::Sentence { predicted, gold } = &rec.input {
                // conlleval's input format: token [gold] predicted, space-separated.
                for (i, &(s, e)) in rec.words.iter().enumerate() {
                    let word = escape(slice(s, e), Field::Column);
                    let tag = escape(predicted[i], Field::Column);
                    match gold {
                        Some(g) => writeln!(buf, "{word} {} {tag}", escape(&g[i], Field::Column))?,
                        None => writeln!(buf, "{word} {tag}")?,
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
                        let (word, tag) = (escape(word, Field::Column), escape(tag, Field::Column));
                        writeln!(buf, "{word}\t{tag}")?;
                    }
                }
            }
            buf.push(b'\n');
            Ok(())
        })
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        let comment = error_comment(err);
        self.sink.emit(|buf| writeln!(buf, "{comment}\n"))
    }

    fn flush(&mut self) -> Result<()> {
        self.sink.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.flush()
    }
}

/// `# error: [FILE:]LINE: MESSAGE` (no newline), the file name escaped as a comment field (raw bytes
/// as `\xNN` when it is not UTF-8): what CoNLL and redact output write in place of a bad record.
pub(super) fn error_comment(err: &ErrorRecord) -> String {
    let at = match (err.file_bytes, err.file) {
        (Some(raw), _) => format!("{}:", escape_bytes(raw)),
        (None, Some(f)) => format!("{}:", escape(f, Field::Comment)),
        (None, None) => String::new(),
    };
    format!(
        "# error: {at}{}: {}",
        err.line,
        err.msg.replace(['\n', '\r'], " ")
    )
}

/// Where an escaped string goes: a column (a word or tag: whitespace separates columns) or a
/// comment (a file name: only line breaks and control characters are escaped).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Column,
    Comment,
}

fn needs_escape(c: char, field: Field) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || (field == Field::Column && c.is_whitespace())
}

/// `s` with the characters that would break a CoNLL line or column written as escapes: `\t`,
/// `\n`, `\r`, and `\u{XXXX}` for any other (control characters, Unicode line separators, and
/// in a column any whitespace); every other character, a backslash included, as it is.
fn escape(s: &str, field: Field) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c, field)) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c, field) => out.push_str(&format!("\\u{{{:04X}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.into()
}

/// A file name's bytes, escaped as [`escape`] does, a byte that is not UTF-8 as `\xNN`.
fn escape_bytes(raw: &[u8]) -> String {
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        out.push_str(&escape(chunk.valid(), Field::Comment));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_column_breaks_are_escaped() {
        assert_eq!(escape("B-PER", Field::Column), "B-PER");
        assert_eq!(
            escape("B-a b\tc\nd\re\u{85}\u{2028}", Field::Column),
            "B-a\\u{0020}b\\tc\\nd\\re\\u{0085}\\u{2028}"
        );
        assert_eq!(
            escape("my file\tx\n.txt", Field::Comment),
            "my file\\tx\\n.txt"
        );
        assert_eq!(escape_bytes(b"caf\xe9\n.txt"), "caf\\xE9\\n.txt");
        assert!(!escape("a\\b", Field::Column).contains('\n'));
    }
}
