//! Between reading and tokenizing: cuts the record stream into bounded chunks of slots (good
//! records, bad ones with their error, source ends), passing over what a resumed run already
//! wrote and reporting bad records as they come.

use crate::config::{Config, Interrupt, OnError};
use crate::error::{Error, Result};
use crate::output::target::Skip;
use crate::progress::Progress;
use crate::records::{Item, Record};

/// Problems reported one per line on stderr, up to this many; the rest are counted.
pub(crate) const SHOWN_PROBLEMS: usize = 20;

/// An input record that could not be read or tagged.
pub(crate) struct BadRecord {
    pub name: String,
    pub line: usize,
    pub msg: String,
    /// The JSON object, when the line parsed as one: its error record keeps its fields.
    pub object: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl From<Error> for BadRecord {
    fn from(e: Error) -> Self {
        match e {
            Error::UntaggableObject {
                name,
                line,
                msg,
                object,
            } => BadRecord {
                name,
                line,
                msg,
                object: Some(object),
            },
            Error::Input { name, line, msg } => BadRecord {
                name,
                line,
                msg,
                object: None,
            },
            other => BadRecord {
                name: String::new(),
                line: 0,
                msg: other.to_string(),
                object: None,
            },
        }
    }
}

/// One item of a chunk, in input order.
pub(crate) enum Slot {
    Good(Record),
    Bad(BadRecord),
    /// Input source n has no more records.
    End(usize),
}

/// How reading a chunk ended, when it ended the input.
pub(crate) enum End {
    Eof,
    /// Stopped by a signal: what was read is still tagged and written.
    Interrupted(i32),
    /// A bad record under `--on-error fail`: what was read before it is written, then this.
    Fatal(Error),
}

/// Cuts the record stream into chunks of at most `read_ahead` items.
pub(crate) struct Chunker<'c> {
    pub rx: std::sync::mpsc::Receiver<Result<Option<Item>>>,
    pub cfg: &'c Config,
    pub progress: &'c Progress,
    pub errors: usize,
    /// The source records come from now (sources end in order).
    pub source: usize,
    /// Records of this shard still to pass over: an earlier run wrote them (`--resume`).
    pub skip: Skip,
}

impl Chunker<'_> {
    /// Whether the next record of this shard is one an earlier run wrote.
    fn passes_over(&mut self) -> bool {
        let left = match &mut self.skip {
            Skip::First(n) => n,
            Skip::PerSource(n) => match n.get_mut(self.source) {
                Some(n) => n,
                None => return false,
            },
        };
        if *left > 0 {
            *left -= 1;
            return true;
        }
        false
    }
}

impl Chunker<'_> {
    /// The next chunk, and how the input ended if it did.
    pub fn next(&mut self) -> (Vec<Slot>, Option<End>) {
        use std::sync::mpsc::RecvTimeoutError;
        let cfg = self.cfg;
        let mut chunk = Vec::with_capacity(cfg.read_ahead);
        while chunk.len() < cfg.read_ahead {
            if let Some(sig) = cfg.interrupt.as_ref().and_then(Interrupt::signal) {
                return (chunk, Some(End::Interrupted(sig)));
            }
            let next = match self.rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(next) => next,
                // Input paused (a live pipe): tag and write what was read instead of waiting.
                // Flowing input never times out, so batches stay full.
                Err(RecvTimeoutError::Timeout) if !chunk.is_empty() => break,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => Ok(None),
            };
            // A record, good or bad, that an earlier run wrote; a failure of the input itself
            // (unreadable file) is no record.
            if matches!(
                next,
                Ok(Some(Item::Record(_)))
                    | Err(Error::Input { .. } | Error::UntaggableObject { .. })
            ) && self.passes_over()
            {
                continue;
            }
            match next {
                Ok(Some(Item::Record(rec))) => chunk.push(Slot::Good(rec)),
                Ok(Some(Item::EndOfSource(n))) => {
                    self.source = n + 1;
                    chunk.push(Slot::End(n));
                }
                Ok(None) => return (chunk, Some(End::Eof)),
                Err(e @ (Error::Input { .. } | Error::UntaggableObject { .. }))
                    if cfg.on_error == OnError::Skip =>
                {
                    self.errors += 1;
                    if self.errors <= SHOWN_PROBLEMS {
                        self.progress.println(&format!("ner-tag: {e}"));
                    }
                    chunk.push(Slot::Bad(BadRecord::from(e)));
                }
                Err(e) => return (chunk, Some(End::Fatal(e))),
            }
        }
        (chunk, None)
    }
}
