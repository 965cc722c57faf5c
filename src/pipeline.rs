//! The run loop: input → tokenize/window → batch → model → decode → output, chunk by chunk.
//!
//! Ordered parallelism: read a bounded chunk of lines, tag it (tokenizing and decoding in
//! parallel, batches through the model), then write its records in input order from one writer.
//! Memory is bounded by the chunk size, however long the input; a long line inside a chunk is
//! tagged a group of windows at a time ([`crate::long_line`]). The stages are [`crate::stages`].

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use crate::chunker::{Chunker, End, SHOWN_PROBLEMS};
use crate::config::Config;
pub use crate::config::{Interrupt, OnError, TagOptions};
use crate::error::{Error, Result};
use crate::output::target::Skip;
use crate::output::{Format, PrintOptions, Printer};
use crate::progress::Progress;
use crate::records::RecordReader;
use crate::stages::{forward, prepare, Chunk, Writer};
pub use crate::stats::RunStats;
pub use crate::tagger::{load_tagger, Tagger};
/// Tags every record of the configured inputs and writes one output record per input record,
/// an error record in place of each record that cannot be tagged, through `printer`.
///
/// On CPU the stages of a chunk run one after another, each using every core. On a GPU they
/// overlap: while the device runs chunk n, chunk n+1 is read and tokenized and chunk n−1 decoded
/// and written, so the GPU does not wait on the host.
/// The records of `skip` are passed over: an earlier run wrote them.
pub fn tag_stream(
    tagger: &Tagger,
    cfg: &Config,
    skip: Skip,
    printer: &mut (dyn Printer + Send),
) -> Result<RunStats> {
    let bytes = Arc::new(AtomicU64::new(0));
    // Sizing the inputs (a stat per file) is only for a bar that is drawn.
    let total = cfg
        .progress
        .then(|| crate::input::LineReader::total_bytes(&cfg.inputs))
        .flatten();
    let progress = Progress::tagging(cfg.progress, total, bytes.clone());
    let reader = RecordReader::new(cfg.inputs.clone(), cfg.input_format.clone())
        .lossy(cfg.lossy)
        .count_bytes(bytes);
    let names = reader.source_names();
    let mut writer = Writer {
        printer,
        with_file: names.len() > 1 && !cfg.target.per_source(),
        names,
        raw_names: reader.raw_source_names(),
        source: 0,
        stats: RunStats::default(),
        started: Instant::now(),
        progress: &progress,
        filter: &cfg.filter,
    };
    // Records are read on their own thread, so a signal is noticed even while a read blocks on a
    // pipe that stays open; the bounded channel keeps memory bounded.
    let mut chunker = Chunker {
        rx: reader.spawn(cfg.read_ahead, cfg.shard),
        cfg,
        progress: &progress,
        errors: 0,
        source: 0,
        skip,
    };
    writer.printer.begin()?;
    let end = if tagger.batching.parallel_batches {
        loop {
            let (slots, end) = chunker.next();
            // The records read before a signal are tagged and written; a signal that comes
            // while a chunk's batches run drops that chunk (what was written before it stays).
            let stop = match end {
                Some(End::Interrupted(_)) => None,
                _ => cfg.interrupt.as_ref(),
            };
            let chunk = match forward(tagger, prepare(tagger, slots, cfg.format)?, stop) {
                Err(Error::Interrupted) => match cfg.interrupt.as_ref().and_then(|i| i.signal()) {
                    Some(sig) => break End::Interrupted(sig),
                    None => return Err(Error::Interrupted),
                },
                other => other?,
            };
            writer.write(tagger, cfg.format, chunk)?;
            if let Some(end) = end {
                break end;
            }
        }
    } else {
        overlapped(tagger, cfg.format, &mut chunker, &mut writer)?
    };
    let mut stats = writer.finish()?;
    progress.finish();
    stats.errors += chunker.errors;
    match end {
        End::Eof => {}
        End::Interrupted(sig) => stats.interrupted = Some(sig),
        End::Fatal(e) => return Err(e),
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

/// The GPU's run loop: reading + tokenizing here, the model on its own thread, decoding +
/// writing on another, two chunks in flight between stages at most (memory stays bounded).
fn overlapped(
    tagger: &Tagger,
    format: Format,
    chunker: &mut Chunker,
    writer: &mut Writer,
) -> Result<End> {
    use std::sync::mpsc::sync_channel;
    std::thread::scope(|s| {
        let (to_model, model_rx) = sync_channel::<Chunk>(1);
        let (to_writer, writer_rx) = sync_channel::<Result<Chunk>>(1);
        s.spawn(move || {
            crate::altstack::for_this_thread();
            for chunk in model_rx {
                let done = forward(tagger, chunk, None);
                let failed = done.is_err();
                if to_writer.send(done).is_err() || failed {
                    break;
                }
            }
        });
        let writing = s.spawn(move || -> Result<()> {
            crate::altstack::for_this_thread();
            for chunk in writer_rx {
                writer.write(tagger, format, chunk?)?;
            }
            Ok(())
        });
        let end = loop {
            let (slots, end) = chunker.next();
            let sent = match prepare(tagger, slots, format) {
                Ok(chunk) => to_model.send(chunk).is_ok(),
                Err(e) => break End::Fatal(e),
            };
            // A closed channel means a later stage failed: its error is returned below.
            if !sent {
                break End::Eof;
            }
            if let Some(end) = end {
                break end;
            }
        };
        drop(to_model);
        writing.join().expect("writer thread panicked")?;
        Ok(end)
    })
}

/// The whole job: lock the output target, resolve and load the model, open the target (passing
/// over what an earlier run wrote there with `--resume`), tag the inputs into it.
pub fn run(cfg: &Config) -> Result<RunStats> {
    // The output is this run's before the model loads (a second run on it stops at once), and is
    // cut only once the model has loaded (a model that fails to load leaves it as it was).
    let locked = cfg.target.lock(cfg.format, cfg.resume)?;
    let mut manifest = cfg
        .manifest
        .as_deref()
        .map(crate::output::manifest::RunManifest::lock)
        .transpose()?;
    let checkpoint = cfg.model.resolve()?;
    let tagger = crate::tagger::load_checkpoint(&checkpoint, &cfg.runtime, &cfg.tag)?;
    cfg.filter.check(tagger.labels())?;
    // `--resume` continues only what this run's settings wrote; the manifest then says them.
    if let Some(m) = &mut manifest {
        let settings = cfg.output_settings(&checkpoint);
        if cfg.resume && locked.kept_records() > 0 {
            m.check_resume(&settings, &locked.name())?;
        }
        m.write(&settings)?;
    }
    // Until now a signal has its default effect (it stops a download or a quantization at once);
    // from here on it stops the run after what was read is written.
    if let Some(interrupt) = &cfg.interrupt {
        interrupt.arm()?;
    }
    let opts = PrintOptions {
        format: cfg.format,
        byte_offsets: cfg.byte_offsets,
        aggregation: tagger.aggregation,
        redact: cfg.redact.clone(),
        redact_json: match &cfg.input_format {
            crate::records::InputFormat::Jsonl { field } => {
                Some(crate::output::redact::JsonRedaction {
                    text_field: field.clone(),
                    entities: cfg.redact_entities,
                })
            }
            _ => None,
        },
        label_studio: crate::output::label_studio::LabelStudio {
            from_name: cfg.ls_from_name.clone(),
            to_name: cfg.ls_to_name.clone(),
            text_key: match &cfg.input_format {
                crate::records::InputFormat::Jsonl { field } => field.clone(),
                _ => "text".into(),
            },
            model_version: cfg.model.name(),
        },
    };
    let mut opened = locked.open(opts)?;
    let kept = opened.skip.total();
    if kept > 0 && !cfg.quiet {
        eprintln!(
            "ner-tag: {}: resuming after the {kept} complete record(s) written there",
            opened.name
        );
    }
    let mut stats = tag_stream(&tagger, cfg, opened.skip, opened.printer.as_mut())?;
    stats.lines += kept;
    if cfg.stats {
        eprintln!("{}", stats.summary());
    }
    Ok(stats)
}
