//! The run loop: input → tokenize/window → batch → model → decode → output, chunk by chunk.
//!
//! Ordered parallelism: read a bounded chunk of lines, tag it (tokenizing and decoding in
//! parallel, batches through the model), then write its records in input order from one writer.
//! Memory is bounded by the chunk size, however long the input.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use rayon::prelude::*;

use crate::batch::Tagger;
use crate::config::Config;
use crate::decode::{Aggregation, Scheme};
use crate::error::{Error, Result};
use crate::input::{LineReader, LineRecord};
use crate::model::TokenClassifier;
use crate::output::{Format, Printer, TaggedRecord};
use crate::tokenize::TextTokenizer;

/// Settings that shape how a model is run, independent of where its input comes from.
#[derive(Debug, Clone)]
pub struct TagOptions {
    pub aggregation: Aggregation,
    pub max_length: Option<usize>,
    /// Overlap of windows; `None`: 128 tokens, or half a window for models with short windows.
    pub stride: Option<usize>,
    pub batch_size: usize,
}

impl Default for TagOptions {
    fn default() -> Self {
        Self {
            aggregation: Aggregation::First,
            max_length: None,
            stride: None,
            batch_size: 32,
        }
    }
}

/// Loads a checkpoint directory and checks that its parts fit together.
pub fn load_tagger(dir: &Path, device: &Device, opts: &TagOptions) -> Result<Tagger> {
    let model = TokenClassifier::load(dir, device)?;
    let (mut tokenizer, info) = TextTokenizer::load(dir)?;
    let cfg = model.config();
    if tokenizer.max_id() as usize >= cfg.vocab_size {
        return Err(Error::model_file(
            dir,
            format!(
                "tokenizer has ids up to {} but the embedding table has {} rows (vocab_size): tokenizer and weights do not belong together",
                tokenizer.max_id(),
                cfg.vocab_size
            ),
        ));
    }
    let model_limit = cfg.max_tokens();
    let default_len = info
        .model_max_length
        .map_or(model_limit, |m| m.min(model_limit));
    let max_tokens = match opts.max_length {
        Some(n) if n > model_limit => {
            return Err(Error::Usage(format!(
                "--max-length {n} exceeds what the model allows ({model_limit} tokens)"
            )))
        }
        Some(n) => n,
        None => default_len,
    };
    tokenizer.set_windows(max_tokens, opts.stride)?;
    let scheme = Scheme::detect(&cfg.labels);
    Ok(Tagger {
        model,
        tokenizer,
        scheme,
        aggregation: opts.aggregation,
        batch_size: opts.batch_size.max(1),
        max_batch_tokens: opts.batch_size.max(1) * 128,
    })
}

/// Summary of a run, for the stderr stats line.
#[derive(Debug, Default)]
pub struct RunStats {
    pub lines: usize,
    pub entities: usize,
}

/// Tags every line of the configured inputs and writes one record per line to `out`.
pub fn tag_stream<W: Write>(tagger: &Tagger, cfg: &Config, out: W) -> Result<RunStats> {
    let started = Instant::now();
    let mut reader = LineReader::new(cfg.inputs.clone());
    let names: Vec<String> = reader.sources().iter().map(|s| s.name()).collect();
    let with_file = names.len() > 1;
    let mut printer = Printer::new(out, cfg.format, cfg.byte_offsets, tagger.aggregation);
    let mut stats = RunStats::default();
    let mut chunk: Vec<LineRecord> = Vec::with_capacity(cfg.read_ahead);
    loop {
        chunk.clear();
        while chunk.len() < cfg.read_ahead {
            match reader.next_line()? {
                Some(rec) => chunk.push(rec),
                None => break,
            }
        }
        if chunk.is_empty() {
            break;
        }
        let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
        let entities = tagger.tag(&texts)?;
        let words: Vec<Vec<(usize, usize)>> = if cfg.format == Format::Conll {
            texts
                .par_iter()
                .map(|t| tagger.tokenizer.words(t))
                .collect::<Result<_>>()?
        } else {
            vec![Vec::new(); texts.len()]
        };
        for ((rec, ents), words) in chunk.iter().zip(&entities).zip(&words) {
            let record = TaggedRecord {
                file: with_file.then(|| names[rec.source].as_str()),
                line: rec.line,
                text: &rec.text,
                entities: ents,
                words,
            };
            printer.write(&record).map_err(|e| Error::io("stdout", e))?;
            stats.entities += ents.len();
        }
        stats.lines += chunk.len();
        printer.flush().map_err(|e| Error::io("stdout", e))?;
        if cfg.stats {
            let secs = started.elapsed().as_secs_f64();
            eprint!(
                "\rner-tag: {} lines, {:.1} lines/s",
                stats.lines,
                stats.lines as f64 / secs.max(1e-9)
            );
        }
    }
    if cfg.stats {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "\rner-tag: {} lines, {} entities in {:.2}s ({:.1} lines/s)",
            stats.lines,
            stats.entities,
            secs,
            stats.lines as f64 / secs.max(1e-9)
        );
    }
    Ok(stats)
}

/// The whole job: resolve and load the model, then tag the inputs to stdout.
pub fn run(cfg: &Config) -> Result<RunStats> {
    let dir = cfg.model.resolve()?;
    let device = cfg.device.open()?;
    let tagger = load_tagger(&dir, &device, &cfg.tag)?;
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    tag_stream(&tagger, cfg, out)
}
