//! Input stage: reads lines from files (or stdin for none or `-`), in order, one record per line.
//!
//! A line is split on `\n`; a trailing `\r` (CRLF files) and a UTF-8 byte-order mark at the start
//! of a file are not part of the text. Nothing is buffered beyond the current line. Every source
//! ends with an [`LineItem::EndOfSource`], in order, even one that could not be opened: output
//! written a file per source (`--output-dir`) follows them.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Lines longer than this (bytes) are handed over in the buffer they were read into.
const TAKEN_LINE: usize = 1 << 20;

/// One input line, numbered from 1 within its source.
#[derive(Debug, Clone)]
pub struct LineRecord {
    pub source: usize,
    pub line: usize,
    pub text: String,
    pub framing: Framing,
}

/// What the reader took off a line around its text, for output that writes lines back
/// byte for byte (`-f redact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// The line started with a UTF-8 byte-order mark (a file's first line).
    pub bom: bool,
    /// `"\n"`, `"\r\n"`, or `""` (a last line without one).
    pub ending: &'static str,
}

impl Default for Framing {
    fn default() -> Self {
        Self {
            bom: false,
            ending: "\n",
        }
    }
}

/// What the reader gives next.
#[derive(Debug, Clone)]
pub enum LineItem {
    Line(LineRecord),
    /// Source `n` (0-based) has no more lines: the next item comes from source `n + 1`.
    EndOfSource(usize),
}

/// Where lines come from: a file path or standard input.
#[derive(Debug, Clone)]
pub enum Source {
    Stdin,
    File(PathBuf),
    /// Bytes in memory under a name (library callers, tests, fuzzing).
    Memory(String, std::sync::Arc<[u8]>),
    /// A path found but not readable (a folder `-r` could not list): reported when opened.
    Unreadable(PathBuf, String),
}

impl Source {
    /// A command-line argument: `-` is stdin, anything else a path (any bytes).
    pub fn parse(arg: impl AsRef<std::ffi::OsStr>) -> Self {
        let arg = arg.as_ref();
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(arg))
        }
    }

    /// The name in messages and records: the path as given, bytes that are not UTF-8 shown as
    /// U+FFFD.
    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_string(),
            Source::File(p) | Source::Unreadable(p, _) => p.display().to_string(),
            Source::Memory(name, _) => name.clone(),
        }
    }

    /// The path's bytes when [`Source::name`] lost some (a name that is not UTF-8), so two such
    /// names can be told apart.
    pub fn raw_name(&self) -> Option<Vec<u8>> {
        match self {
            Source::File(p) | Source::Unreadable(p, _) if p.to_str().is_none() => {
                Some(p.as_os_str().as_encoded_bytes().to_vec())
            }
            _ => None,
        }
    }
}

/// Reads the sources one after another.
pub struct LineReader {
    sources: Vec<Source>,
    next_source: usize,
    current: Option<(usize, Box<dyn BufRead + Send>)>,
    line: usize,
    buf: Vec<u8>,
    lossy: bool,
    /// A source ended in an error (unopenable, unreadable): its end is reported next.
    failed: Option<usize>,
    /// Bytes read so far, over all sources (for progress bars).
    bytes_read: Option<Arc<AtomicU64>>,
}

impl LineReader {
    pub fn new(sources: Vec<Source>) -> Self {
        Self {
            sources,
            next_source: 0,
            current: None,
            line: 0,
            buf: Vec::new(),
            lossy: false,
            failed: None,
            bytes_read: None,
        }
    }

    /// Counts the bytes read (line ends included) into `counter`.
    pub fn count_bytes(mut self, counter: Arc<AtomicU64>) -> Self {
        self.bytes_read = Some(counter);
        self
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Bytes the sources hold, when every one is a file of known size (a progress bar's total).
    pub fn total_bytes(sources: &[Source]) -> Option<u64> {
        sources
            .iter()
            .map(|s| match s {
                Source::File(p) => std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len()),
                Source::Memory(_, b) => Some(b.len() as u64),
                Source::Unreadable(..) => Some(0),
                Source::Stdin => None,
            })
            .sum()
    }

    fn open(&self, idx: usize) -> Result<Box<dyn BufRead + Send>> {
        match &self.sources[idx] {
            Source::Stdin => Ok(Box::new(BufReader::with_capacity(1 << 16, io::stdin()))),
            Source::Memory(_, bytes) => Ok(Box::new(io::Cursor::new(bytes.clone()))),
            Source::Unreadable(p, msg) => Err(Error::Input {
                name: p.display().to_string(),
                line: 0,
                msg: msg.clone(),
            }),
            Source::File(p) => {
                let name = p.display().to_string();
                let unreadable = |msg: String| Error::Input {
                    name: name.clone(),
                    line: 0,
                    msg,
                };
                if p.is_dir() {
                    return Err(unreadable(
                        "is a directory (-r reads the files under it)".into(),
                    ));
                }
                let f = File::open(p).map_err(|e| unreadable(e.to_string()))?;
                Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
            }
        }
    }

    /// Replaces invalid UTF-8 with U+FFFD instead of reporting it.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// The next line, or `None` when every source is exhausted. An [`Error::Input`] concerns one
    /// line (or one unreadable source): the reader has moved past it, so a caller may carry on.
    pub fn next_line(&mut self) -> Result<Option<LineRecord>> {
        loop {
            match self.next_item()? {
                Some(LineItem::Line(l)) => return Ok(Some(l)),
                Some(LineItem::EndOfSource(_)) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next line or end of a source, or `None` after the last source's end. Errors as for
    /// [`LineReader::next_line`]; the failed source's end follows its error.
    pub fn next_item(&mut self) -> Result<Option<LineItem>> {
        if let Some(idx) = self.failed.take() {
            return Ok(Some(LineItem::EndOfSource(idx)));
        }
        if self.current.is_none() {
            if self.next_source >= self.sources.len() {
                return Ok(None);
            }
            let idx = self.next_source;
            self.next_source += 1;
            self.line = 0;
            match self.open(idx) {
                Ok(r) => self.current = Some((idx, r)),
                Err(e) => {
                    self.failed = Some(idx);
                    return Err(e);
                }
            }
        }
        let (idx, reader) = self.current.as_mut().expect("opened above");
        let idx = *idx;
        self.buf.clear();
        let n = match reader.read_until(b'\n', &mut self.buf) {
            Ok(n) => n,
            Err(e) => {
                // The source is abandoned, so a caller that carries on reads the next one.
                self.current = None;
                self.failed = Some(idx);
                return Err(Error::Input {
                    name: self.sources[idx].name(),
                    line: self.line + 1,
                    msg: e.to_string(),
                });
            }
        };
        if n == 0 {
            self.current = None;
            return Ok(Some(LineItem::EndOfSource(idx)));
        }
        if let Some(c) = &self.bytes_read {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        self.line += 1;
        let mut bytes: &[u8] = &self.buf;
        let mut framing = Framing {
            bom: false,
            ending: "",
        };
        if bytes.last() == Some(&b'\n') {
            bytes = &bytes[..bytes.len() - 1];
            framing.ending = "\n";
            if bytes.last() == Some(&b'\r') {
                bytes = &bytes[..bytes.len() - 1];
                framing.ending = "\r\n";
            }
        }
        if self.line == 1 {
            if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
                bytes = rest;
                framing.bom = true;
            }
        }
        // A long line's buffer becomes its text (no second copy of it, and the reader does not
        // keep its size for the lines after it); a short one is copied and the buffer reused.
        if self.buf.len() > TAKEN_LINE && std::str::from_utf8(bytes).is_ok() {
            let (skip, keep) = (
                self.buf.len() - bytes.len() - framing.ending.len(),
                bytes.len(),
            );
            let mut buf = std::mem::take(&mut self.buf);
            buf.truncate(skip + keep);
            buf.drain(..skip);
            // SAFETY: `buf` is now exactly `bytes`, checked to be UTF-8 above (one pass over an
            // enormous line, not two).
            let text = unsafe { String::from_utf8_unchecked(buf) };
            return Ok(Some(LineItem::Line(LineRecord {
                source: idx,
                line: self.line,
                text,
                framing,
            })));
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t.to_string(),
            Err(_) if self.lossy => String::from_utf8_lossy(bytes).into_owned(),
            Err(e) => {
                return Err(Error::Input {
                    name: self.sources[idx].name(),
                    line: self.line,
                    msg: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                })
            }
        };
        Ok(Some(LineItem::Line(LineRecord {
            source: idx,
            line: self.line,
            text,
            framing,
        })))
    }
}
