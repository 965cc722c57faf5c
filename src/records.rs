//! Input stage: turns lines into records — plain text lines, JSON objects with a text field, or
//! pre-tokenized CoNLL sentences — each remembering the file and line it came from.

use std::sync::mpsc::Receiver;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::input::{LineItem, LineReader, LineRecord, Source};

/// How input lines are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFormat {
    Text,
    /// One JSON object per line; the named string field is tagged, the rest passes through.
    Jsonl {
        field: String,
    },
    /// One token per line (first column), optional gold tags (the given 1-based column, or the
    /// last column that holds tags), blank line between sentences.
    Conll {
        gold_column: Option<usize>,
    },
}

/// One unit of input, producing one output record.
#[derive(Debug, Clone)]
pub enum Record {
    Text {
        source: usize,
        line: usize,
        text: String,
        /// The BOM and line ending the reader took off (`-f redact` writes them back).
        framing: crate::input::Framing,
    },
    Json {
        source: usize,
        line: usize,
        object: Map<String, Value>,
        text: String,
    },
    /// `line` is the sentence's first line.
    Sentence {
        source: usize,
        line: usize,
        tokens: Vec<String>,
        gold: Option<Vec<String>>,
    },
}

impl Record {
    pub fn source(&self) -> usize {
        match self {
            Record::Text { source, .. }
            | Record::Json { source, .. }
            | Record::Sentence { source, .. } => *source,
        }
    }

    pub fn line(&self) -> usize {
        match self {
            Record::Text { line, .. }
            | Record::Json { line, .. }
            | Record::Sentence { line, .. } => *line,
        }
    }
}

/// What the reader gives next: a record, or the end of a source (one per source, in order).
#[derive(Debug, Clone)]
pub enum Item {
    Record(Record),
    EndOfSource(usize),
}

/// Reads records of one format from the sources, in order.
pub struct RecordReader {
    lines: LineReader,
    format: InputFormat,
    /// The item read past the end of a CoNLL sentence (its file's end).
    pending: Option<LineItem>,
}

impl RecordReader {
    pub fn new(sources: Vec<Source>, format: InputFormat) -> Self {
        Self {
            lines: LineReader::new(sources),
            format,
            pending: None,
        }
    }

    /// Replaces invalid UTF-8 with U+FFFD instead of reporting the line.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lines = self.lines.lossy(lossy);
        self
    }

    pub fn source_names(&self) -> Vec<String> {
        self.lines.sources().iter().map(Source::name).collect()
    }

    /// Each source's name as bytes where its name is not UTF-8 ([`Source::raw_name`]).
    pub fn raw_source_names(&self) -> Vec<Option<Vec<u8>>> {
        self.lines.sources().iter().map(Source::raw_name).collect()
    }

    /// Counts the bytes read into `counter` (progress bars).
    pub fn count_bytes(mut self, counter: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.lines = self.lines.count_bytes(counter);
        self
    }

    /// Reads on a thread of its own into a channel holding at most `capacity` items; the
    /// channel ends after `Ok(None)` (end of input) or when the receiver is dropped. With a
    /// `shard`, other shards' records — good or bad — are left out here; source ends and
    /// failures of the input itself (which stop every shard) still come through.
    pub fn spawn(
        mut self,
        capacity: usize,
        shard: Option<Shard>,
    ) -> Receiver<Result<Option<Item>>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        std::thread::spawn(move || {
            crate::altstack::for_this_thread();
            let mut index = 0;
            loop {
                let next = self.next_item();
                let is_record = matches!(
                    next,
                    Ok(Some(Item::Record(_)))
                        | Err(Error::Input { .. } | Error::UntaggableObject { .. })
                );
                if is_record {
                    index += 1;
                    if shard.is_some_and(|s| !s.keeps(index - 1)) {
                        continue;
                    }
                }
                let end = matches!(next, Ok(None));
                if tx.send(next).is_err() || end {
                    break;
                }
            }
        });
        rx
    }

    /// The next record, passing over the ends of sources.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            match self.next_item()? {
                Some(Item::Record(r)) => return Ok(Some(r)),
                Some(Item::EndOfSource(_)) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next record or end of a source; `None` after the last source's end.
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        if let InputFormat::Conll { gold_column } = self.format {
            return self.next_sentence(gold_column);
        }
        let l = match self.lines.next_item()? {
            Some(LineItem::Line(l)) => l,
            Some(LineItem::EndOfSource(n)) => return Ok(Some(Item::EndOfSource(n))),
            None => return Ok(None),
        };
        self.line_record(l).map(|r| Some(Item::Record(r)))
    }

    fn line_record(&self, l: LineRecord) -> Result<Record> {
        match &self.format {
            InputFormat::Text => Ok(Record::Text {
                source: l.source,
                line: l.line,
                text: l.text,
                framing: l.framing,
            }),
            InputFormat::Jsonl { field } => {
                let field = field.clone();
                let err = |msg: String| Error::Input {
                    name: self.lines.sources()[l.source].name(),
                    line: l.line,
                    msg,
                };
                let object = match serde_json::from_str::<Value>(&l.text) {
                    Ok(Value::Object(o)) => o,
                    Ok(_) => return Err(err("not a JSON object".into())),
                    Err(e) => return Err(err(format!("invalid JSON: {e}"))),
                };
                let text = match object.get(&field) {
                    Some(Value::String(s)) => s.clone(),
                    other => {
                        let msg = if other.is_some() {
                            format!("field \"{field}\" is not a string")
                        } else {
                            format!("no field \"{field}\"")
                        };
                        return Err(Error::UntaggableObject {
                            name: self.lines.sources()[l.source].name(),
                            line: l.line,
                            msg,
                            object: Box::new(object),
                        });
                    }
                };
                Ok(Record::Json {
                    source: l.source,
                    line: l.line,
                    object,
                    text,
                })
            }
            InputFormat::Conll { .. } => unreachable!("sentences are read by next_sentence"),
        }
    }

    fn next_sentence(&mut self, gold_column: Option<usize>) -> Result<Option<Item>> {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut start: Option<(usize, usize)> = None;
        let mut bad = None;
        loop {
            let next = match self.pending.take() {
                Some(item) => Some(item),
                None => self.lines.next_item()?,
            };
            let l = match next {
                None => break,
                Some(LineItem::Line(l)) => l,
                // The end of a file ends a sentence; its end is given after the sentence.
                Some(end @ LineItem::EndOfSource(n)) => {
                    if start.is_some() {
                        self.pending = Some(end);
                        break;
                    }
                    return Ok(Some(Item::EndOfSource(n)));
                }
            };
            let fields: Vec<&str> = l.text.split_whitespace().collect();
            if fields.is_empty() || fields[0] == "-DOCSTART-" {
                if start.is_some() {
                    break;
                }
                continue;
            }
            match start {
                None => start = Some((l.source, l.line)),
                Some(_) if bad.is_none() && fields.len() != rows[0].len() => {
                    // Reported once the whole sentence is consumed, so reading can go on after it.
                    bad = Some(Error::Input {
                        name: self.lines.sources()[l.source].name(),
                        line: l.line,
                        msg: format!(
                            "{} columns where the sentence's first token had {}",
                            fields.len(),
                            rows[0].len()
                        ),
                    });
                }
                Some(_) => {}
            }
            rows.push(fields.into_iter().map(str::to_string).collect());
        }
        if let Some(e) = bad {
            return Err(e);
        }
        let Some((source, line)) = start else {
            return Ok(None);
        };
        let gold = gold_column_of(&rows, gold_column).map_err(|msg| Error::Input {
            name: self.lines.sources()[source].name(),
            line,
            msg,
        })?;
        let gold = gold.map(|c| rows.iter().map(|r| r[c].clone()).collect());
        let tokens = rows.into_iter().map(|mut r| r.swap_remove(0)).collect();
        Ok(Some(Item::Record(Record::Sentence {
            source,
            line,
            tokens,
            gold,
        })))
    }
}

/// Whether a CoNLL field looks like an entity tag: `O`, or a one-letter prefix, `-`, a type.
fn looks_like_tag(s: &str) -> bool {
    s == "O" || (s.len() > 2 && s.as_bytes()[1] == b'-' && b"BIESLU".contains(&s.as_bytes()[0]))
}

/// Which column holds the gold tags: the one asked for (1-based), or else the last column whose
/// every value looks like a tag — so `token TAG 0` files and `token POS CHUNK NER` files both work.
fn gold_column_of(
    rows: &[Vec<String>],
    asked: Option<usize>,
) -> std::result::Result<Option<usize>, String> {
    let n = rows.first().map_or(0, Vec::len);
    if let Some(c) = asked {
        return if c >= 2 && c <= n {
            Ok(Some(c - 1))
        } else {
            Err(format!(
                "--gold-column {c}: the sentence has {n} columns (the token is column 1)"
            ))
        };
    }
    Ok((1..n)
        .rev()
        .find(|&c| rows.iter().all(|r| looks_like_tag(&r[c]))))
}

/// `--shard I/N`: the records whose 0-based index (over all inputs, in order) is I modulo N. N
/// jobs with I = 0 … N−1 split a corpus without talking to each other; output records keep
/// their file and line numbers, so the shards' outputs merge back by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::Usage(format!("--shard {s}: {why}"));
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, e.g. 0/4"))?;
        let parse = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| bad("expected I/N, e.g. 0/4"))
        };
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index >= count {
            return Err(bad("I must be below N (shards are numbered 0 to N-1)"));
        }
        Ok(Self { index, count })
    }

    /// Whether the record at this 0-based index belongs to the shard.
    pub fn keeps(&self, record: usize) -> bool {
        record % self.count == self.index
    }
}

#[cfg(test)]
mod shard_tests {
    use super::Shard;

    #[test]
    fn shard_parsing_and_membership() {
        let s = Shard::parse("1/3").unwrap();
        assert_eq!((s.index, s.count), (1, 3));
        let kept: Vec<usize> = (0..9).filter(|&r| s.keeps(r)).collect();
        assert_eq!(kept, vec![1, 4, 7]);
        assert!(Shard::parse("0/1").unwrap().keeps(5));
        for bad in ["3/3", "1/0", "1", "a/2", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
