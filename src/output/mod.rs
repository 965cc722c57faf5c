//! Output stage: one printer per format ([`jsonl`], [`conll`], [`html`], [`redact`],
//! [`label_studio`], [`spans`], [`docbin`]) behind the [`Printer`]
//! hooks, written to the target chosen once from the configuration ([`target`]: stdout, a file,
//! or a file per input source), each file locked for the run ([`lock`]); [`resume`] finds where
//! a killed run's output stops.

pub mod conll;
pub mod docbin;
pub mod html;
pub mod jsonl;
pub mod label_studio;
pub mod lock;
pub mod manifest;
pub mod redact;
pub mod resume;
pub mod spacy_symbols;
pub mod spans;
pub mod target;

use std::io::Write;

use crate::decode::{Aggregation, Entity};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Conll,
    /// One self-contained page: a header, a block per record, a footer.
    Html,
    /// Each line written back with its entities replaced ([`redact`]).
    Redact,
    /// One Label Studio task per record, the entities as predictions ([`label_studio`]).
    LabelStudio,
    /// spaCy / Prodigy JSONL: text, tokens and token-aligned spans ([`spans`]).
    Spans,
    /// A binary spaCy DocBin (`.spacy`), written whole at the end ([`docbin`]).
    Spacy,
}

impl Format {
    /// The file extension of an output written in this format (`--output-dir`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Conll => "conll",
            Format::Html => "html",
            Format::Redact => "txt",
            Format::LabelStudio | Format::Spans => "jsonl",
            Format::Spacy => "spacy",
        }
    }

    /// Whether its printer writes a text record as the entities come
    /// ([`Printer::record_streamed`]), so an enormous line's entities are never all in memory.
    pub fn streams_entities(self) -> bool {
        matches!(self, Format::Jsonl | Format::Redact)
    }
}

/// A tagged line, ready to print. Entity and word offsets are in characters.
#[derive(Clone, Copy)]
pub struct TaggedRecord<'a> {
    pub file: Option<&'a str>,
    /// The file's name as bytes, when `file` lost some (a name that is not UTF-8).
    pub file_bytes: Option<&'a [u8]>,
    pub line: usize,
    pub text: &'a str,
    pub entities: &'a [Entity],
    /// Character spans of the words CoNLL output lists (the tokenizer's pre-tokenized words of
    /// a text line, or the given tokens of a sentence).
    pub words: &'a [(usize, usize)],
    pub input: InputKind<'a>,
    /// The BOM and line ending around the line's text (text input; `\n` otherwise).
    pub framing: crate::input::Framing,
}

/// What the record was read from, which decides what else it prints.
#[derive(Clone, Copy)]
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

/// The record written in place of an input record that could not be tagged.
pub struct ErrorRecord<'a> {
    pub file: Option<&'a str>,
    /// As [`TaggedRecord::file_bytes`].
    pub file_bytes: Option<&'a [u8]>,
    pub line: usize,
    pub msg: &'a str,
    /// The JSON object, when the line parsed as one: its error record keeps the fields.
    pub object: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// How records are printed, whatever the format.
#[derive(Debug, Clone)]
pub struct PrintOptions {
    pub format: Format,
    /// Entity offsets in UTF-8 bytes instead of characters (JSONL).
    pub byte_offsets: bool,
    /// The strategy the entities came from (CoNLL word tags of `none` differ).
    pub aggregation: Aggregation,
    /// What `-f redact` replaces entities by.
    pub redact: redact::Redaction,
    /// `-f redact` of JSONL input: the field redacted in place (and `entities` added or not).
    pub redact_json: Option<redact::JsonRedaction>,
    /// `-f label-studio`: the labeling config's names and the model version.
    pub label_studio: label_studio::LabelStudio,
}

/// The hooks a run calls on its output, in this order: `begin`, then `record`/`error` per input
/// record and `end_source` after each input source's last one (with `flush` between chunks),
/// then `finish`. Every record is formatted whole in memory and written in one call (but an
/// enormous line's in JSONL and `-f redact`, written as it is read back:
/// [`Printer::record_streamed`]), so a killed run leaves whole records (and at most one torn one
/// at the end, which `--resume` cuts).
pub trait Printer {
    /// Before the first record (the HTML page's head).
    fn begin(&mut self) -> Result<()> {
        Ok(())
    }

    fn record(&mut self, rec: &TaggedRecord) -> Result<()>;

    /// A text record whose entities come one at a time, in order, instead of in `rec.entities`
    /// (an enormous line's, read back from where they were spilled). Printers of formats that
    /// [`Format::streams_entities`] write them as they come; this default holds them all.
    fn record_streamed(
        &mut self,
        rec: &TaggedRecord,
        entities: &mut dyn Iterator<Item = Result<Entity>>,
    ) -> Result<()> {
        record_whole(self, rec, entities)
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()>;

    /// Input source `n` (0-based, in order) has no more records.
    fn end_source(&mut self, _n: usize) -> Result<()> {
        Ok(())
    }

    /// Hands what was written so far to the reader (end of a chunk).
    fn flush(&mut self) -> Result<()>;

    /// After the last record (the HTML page's end), then a flush.
    fn finish(&mut self) -> Result<()>;
}

/// The printer of `opts.format` writing to `out`, which is called `name` in messages.
pub fn printer<W: Write + Send + 'static>(
    out: W,
    name: &str,
    opts: PrintOptions,
) -> Box<dyn Printer + Send> {
    let sink = Sink::new(out, name);
    match opts.format {
        Format::Jsonl => Box::new(jsonl::Jsonl::new(sink, opts.byte_offsets)),
        Format::Conll => Box::new(conll::Conll::new(sink, opts.aggregation)),
        Format::Html => Box::new(html::Html::new(sink)),
        Format::Spans => Box::new(spans::Spans::new(sink, opts.aggregation)),
        Format::Spacy => Box::new(docbin::DocBin::new(sink, opts.aggregation)),
        Format::LabelStudio => Box::new(label_studio::LabelStudioPrinter::new(
            sink,
            opts.label_studio,
            opts.aggregation,
        )),
        Format::Redact => Box::new(redact::Redact::new(
            sink,
            opts.redact,
            opts.aggregation,
            opts.redact_json,
        )),
    }
}

/// [`Printer::record`] of `rec` with its `entities` gathered first: what a printer does with a
/// streamed record it cannot write as it comes.
pub(crate) fn record_whole<P: Printer + ?Sized>(
    printer: &mut P,
    rec: &TaggedRecord,
    entities: &mut dyn Iterator<Item = Result<Entity>>,
) -> Result<()> {
    let entities = entities.collect::<Result<Vec<_>>>()?;
    printer.record(&TaggedRecord {
        entities: &entities,
        ..*rec
    })
}

/// What a printer writes to: a writer, its name for messages, and a buffer a record is built in.
pub struct Sink<W: Write> {
    out: W,
    name: String,
    buf: Vec<u8>,
}

impl<W: Write> Sink<W> {
    pub fn new(out: W, name: &str) -> Self {
        Self {
            out,
            name: name.to_string(),
            buf: Vec::with_capacity(4096),
        }
    }

    /// Builds one record in the buffer with `f`, then writes it in one call.
    pub fn emit(&mut self, f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> Result<()> {
        self.buf.clear();
        f(&mut self.buf).map_err(|e| crate::Error::io(&self.name, e))?;
        let written = self
            .out
            .write_all(&self.buf)
            .map_err(|e| crate::Error::io(&self.name, e));
        // An enormous line's record does not keep its buffer's memory for the lines after it.
        if self.buf.capacity() > BUF_KEPT {
            self.buf = Vec::new();
        }
        written
    }

    /// The writer itself and its name, for a record too large to build in memory first
    /// ([`Printer::record_streamed`]): it is written in many calls.
    pub fn direct(&mut self) -> (&mut W, &str) {
        (&mut self.out, &self.name)
    }

    /// [`Sink::emit`] of `value` as one line of JSON.
    pub fn emit_json_line(&mut self, value: &impl serde::Serialize) -> Result<()> {
        self.emit(|buf| {
            serde_json::to_writer(&mut *buf, value)?;
            buf.push(b'\n');
            Ok(())
        })
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| crate::Error::io(&self.name, e))
    }
}

/// The most a record's buffer keeps between records (bytes).
const BUF_KEPT: usize = 4 << 20;

/// A score as JSON at f32's shortest round-trip precision (`0.9`, not `0.8999999761581421`).
pub(crate) fn score_json(s: f32) -> serde_json::Value {
    s.to_string().parse::<f64>().unwrap_or(f64::from(s)).into()
}

/// Byte positions of `text`'s characters (`.at(c)`, clamped to the end), without a position per
/// character: an enormous line's index stays small ([`crate::chars::CharIndex`]).
pub(crate) fn char_to_byte(text: &str) -> crate::chars::CharIndex<'_> {
    crate::chars::CharIndex::new(text)
}

/// A writer for printer tests: what a printer wrote, readable after the printer took it.
#[cfg(test)]
pub(crate) mod testing {
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    pub struct Shared(pub Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
