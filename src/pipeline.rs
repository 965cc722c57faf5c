//! The run loop: input → tokenize/window → batch → model → decode → output, chunk by chunk.
//!
//! Ordered parallelism: read a bounded chunk of lines, tag it (tokenizing and decoding in
//! parallel, batches through the model), then write its records in input order from one writer.
//! Memory is bounded by the chunk size, however long the input.

use std::io::Write;

use std::time::Instant;

use rayon::prelude::*;

use crate::config::Config;
pub use crate::config::{Interrupt, OnError, TagOptions};
use crate::decode;
use crate::error::{Error, Result};
use crate::job::{Job, JobResult};
use crate::output::{Format, InputKind, Printer, TaggedRecord};
use crate::records::{Record, RecordReader};
pub use crate::tagger::{load_tagger, Tagger};

/// Summary of a run, for the stderr stats line and the exit status.
#[derive(Debug, Default)]
pub struct RunStats {
    pub lines: usize,
    pub entities: usize,
    /// Records that could not be tagged and got an error record instead.
    pub errors: usize,
    /// The signal that stopped the run early (SIGINT, SIGTERM), if one did.
    pub interrupted: Option<i32>,
}

/// Problems reported one per line on stderr, up to this many; the rest are counted.
const SHOWN_PROBLEMS: usize = 20;

/// An input record that could not be read or tagged.
struct BadRecord {
    name: String,
    line: usize,
    msg: String,
    /// The JSON object, when the line parsed as one: its error record keeps its fields.
    object: Option<Box<serde_json::Map<String, serde_json::Value>>>,
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

/// Tags every record of the configured inputs and writes one output record per input record,
/// an error record in place of each record that cannot be tagged.
pub fn tag_stream<W: Write>(tagger: &Tagger, cfg: &Config, out: W) -> Result<RunStats> {
    let started = Instant::now();
    let reader = RecordReader::new(cfg.inputs.clone(), cfg.input_format.clone()).lossy(cfg.lossy);
    let names = reader.source_names();
    let with_file = names.len() > 1;
    let mut printer = Printer::new(out, cfg.format, cfg.byte_offsets, tagger.aggregation);
    let mut stats = RunStats::default();
    let progress_redraws = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Records are read on their own thread, so a signal is noticed even while a read blocks on a
    // pipe that stays open; the bounded channel keeps memory bounded.
    let rx = reader.spawn(cfg.read_ahead);
    let mut chunk: Vec<std::result::Result<Record, BadRecord>> = Vec::with_capacity(cfg.read_ahead);
    let mut done = false;
    while !done {
        chunk.clear();
        while chunk.len() < cfg.read_ahead {
            if let Some(sig) = cfg.interrupt.as_ref().and_then(Interrupt::signal) {
                // Stop reading; what was read is still tagged and written below.
                stats.interrupted = Some(sig);
                done = true;
                break;
            }
            let next = match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(next) => next,
                // Input paused (a live pipe): tag and write what was read instead of waiting.
                // Flowing input never times out, so batches stay full.
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !chunk.is_empty() => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Ok(None),
            };
            match next {
                Ok(Some(rec)) => chunk.push(Ok(rec)),
                Ok(None) => {
                    done = true;
                    break;
                }
                Err(e @ (Error::Input { .. } | Error::UntaggableObject { .. }))
                    if cfg.on_error == OnError::Skip =>
                {
                    stats.errors += 1;
                    if stats.errors <= SHOWN_PROBLEMS {
                        eprintln!("ner-tag: {e}");
                    }
                    chunk.push(Err(BadRecord::from(e)));
                }
                Err(e) => {
                    // Stop here, but first write what was read before the bad record.
                    write_chunk(
                        tagger,
                        cfg,
                        &chunk,
                        &names,
                        with_file,
                        &mut printer,
                        &mut stats,
                    )?;
                    return Err(e);
                }
            }
        }
        write_chunk(
            tagger,
            cfg,
            &chunk,
            &names,
            with_file,
            &mut printer,
            &mut stats,
        )?;
        // Progress redraws in place on a terminal only: logs get the summary line alone.
        if cfg.stats && progress_redraws {
            let secs = started.elapsed().as_secs_f64();
            eprint!(
                "\rner-tag: {} records, {:.1} records/s",
                stats.lines,
                stats.lines as f64 / secs.max(1e-9)
            );
        }
    }
    if cfg.stats {
        let secs = started.elapsed().as_secs_f64();
        if progress_redraws {
            eprint!("\r{}\r", " ".repeat(60));
        }
        eprintln!(
            "ner-tag: {} records, {} entities in {:.2}s ({:.1} records/s)",
            stats.lines,
            stats.entities,
            secs,
            stats.lines as f64 / secs.max(1e-9)
        );
    }
    if stats.errors > 0 {
        let hidden = stats.errors.saturating_sub(SHOWN_PROBLEMS);
        let more = if hidden > 0 {
            format!(" ({hidden} not shown)")
        } else {
            String::new()
        };
        eprintln!("ner-tag: {} input record(s) could not be tagged{more}; error records written in their place", stats.errors);
    }
    Ok(stats)
}

/// Tags the good records of a chunk and writes every record, in input order, then flushes.
fn write_chunk<W: Write>(
    tagger: &Tagger,
    cfg: &Config,
    chunk: &[std::result::Result<Record, BadRecord>],
    names: &[String],
    with_file: bool,
    printer: &mut Printer<W>,
    stats: &mut RunStats,
) -> Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    let good: Vec<&Record> = chunk.iter().filter_map(|r| r.as_ref().ok()).collect();
    let tagged = tag_chunk(tagger, &good, cfg.format)?;
    let mut tagged = tagged.iter();
    let stdout_err = |e| Error::io("stdout", e);
    for slot in chunk {
        let rec = match slot {
            Ok(rec) => rec,
            Err(bad) => {
                printer
                    .write_error(
                        with_file.then_some(bad.name.as_str()),
                        bad.line,
                        &bad.msg,
                        bad.object.as_deref(),
                    )
                    .map_err(stdout_err)?;
                continue;
            }
        };
        let t = tagged.next().expect("one result per good record");
        let input = match rec {
            Record::Text { .. } => InputKind::Text,
            Record::Json { object, .. } => InputKind::Json(object),
            Record::Sentence { gold, .. } => InputKind::Sentence {
                predicted: &t.word_tags,
                gold: gold.as_deref(),
            },
        };
        let record = TaggedRecord {
            file: with_file.then(|| names[rec.source()].as_str()),
            line: rec.line(),
            text: &t.job.text,
            entities: &t.result.entities,
            words: &t.words,
            input,
        };
        printer.write(&record).map_err(stdout_err)?;
        stats.entities += t.result.entities.len();
    }
    stats.lines += chunk.len();
    printer.flush().map_err(stdout_err)
}

/// What tagging one record produced, ready for the printer.
struct Tagged<'a> {
    job: Job<'a>,
    result: JobResult,
    /// Character spans of the words CoNLL output lists.
    words: Vec<(usize, usize)>,
    word_tags: Vec<&'a str>,
}

/// Tags a chunk of records as jobs, all through one path.
fn tag_chunk<'a>(
    tagger: &'a Tagger,
    chunk: &[&'a Record],
    format: Format,
) -> Result<Vec<Tagged<'a>>> {
    let jobs: Vec<Job> = chunk
        .iter()
        .map(|r| Job::from_record(r, tagger.aggregation))
        .collect();
    let results = tagger.tag_jobs(&jobs)?;
    jobs.into_par_iter()
        .zip(results)
        .map(|(mut job, result)| {
            let words = match job.words.take() {
                Some(w) => w,
                // The pipeline's strategies: CoNLL output lists the tokenizer's words.
                None if format == Format::Conll => tagger.tokenizer.words(&job.text)?,
                None => Vec::new(),
            };
            let word_tags = result
                .word_labels
                .as_deref()
                .map_or_else(Vec::new, |l| decode::words::word_tags(tagger.labels(), l));
            Ok(Tagged {
                job,
                result,
                words,
                word_tags,
            })
        })
        .collect()
}

/// The whole job: resolve and load the model, then tag the inputs to stdout.
pub fn run(cfg: &Config) -> Result<RunStats> {
    let tagger = crate::tagger::load_checkpoint(&cfg.model.resolve()?, &cfg.runtime, &cfg.tag)?;
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    tag_stream(&tagger, cfg, out)
}
