//! Command line: clap arguments ([`args`]) → the checked [`ner_tag::config::Config`]; the `eval`
//! subcommand in [`eval`].

pub mod alloc;
mod args;
mod eval;

use std::path::PathBuf;

use clap::Parser;

pub use args::Cli;
use args::*;
use ner_tag::config::{Config, Shard};
use ner_tag::hub::{catalog, ModelSource};
use ner_tag::input::Source;
use ner_tag::output::target::Target;
use ner_tag::output::Format;
use ner_tag::pipeline::{self, Interrupt, OnError, TagOptions};
use ner_tag::records::InputFormat;
use ner_tag::runtime::{self, Backend, DeviceChoice, Quantize, Runtime};
use ner_tag::stats::StatsFile;

pub fn parse() -> Cli {
    Cli::parse()
}

impl ModelArgs {
    /// Sets up threads once, before any pool starts, opens the device and checks the model options.
    pub(crate) fn prepare(&self) -> anyhow::Result<(ModelSource, Runtime, TagOptions, usize)> {
        runtime::init_threads(self.threads.map(|n| n as usize))?;
        let device = DeviceChoice::parse(&self.device)?;
        let quantize = match self.quantize {
            QuantizeArg::None => Quantize::None,
            QuantizeArg::Int8 => Quantize::Int8,
        };
        let backend = self.backend.map(|b| match b {
            BackendArg::Native => Backend::Native,
            BackendArg::Candle => Backend::Candle,
        });
        let dtype = self
            .dtype
            .as_deref()
            .map(runtime::parse_dtype)
            .transpose()?;
        let rt = Runtime::open(device, backend, quantize, dtype)?;
        let spec = match &self.model {
            Some(m) => m.clone(),
            None => std::env::var("NER_TAG_MODEL")
                .ok()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| {
                    if ner_tag::model::bundled::has_bundled() {
                        "default".into()
                    } else {
                        "dslim/distilbert-NER".into()
                    }
                }),
        };
        let model = ModelSource::parse(&spec, self.revision.clone())?;
        // A GPU wants many windows per pass (a token budget of 256 × 128 padded tokens).
        let batch_size = self
            .batch_size
            .map_or(if rt.device.is_cpu() { 32 } else { 256 }, |b| b as usize);
        let opts = TagOptions {
            aggregation: self.aggregation.into(),
            max_length: self.max_length,
            stride: self.stride,
            batch_size,
        };
        let read_ahead = self.read_ahead.unwrap_or((batch_size * 16).max(256)).max(1);
        Ok((model, rt, opts, read_ahead))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Some(Command::Eval(args)) => eval::run(args).map(|()| Outcome::Done),
        None => run_tag(cli.tag),
    }
}

fn run_tag(args: TagArgs) -> anyhow::Result<Outcome> {
    if args.list_models {
        if ner_tag::model::bundled::has_bundled() {
            println!(
                "{:<28} {:<58} {:<12} F1 89.76 (CoNLL-2003 valid, measured by ner-tag eval; PER ORG LOC MISC)",
                "default", "built into ner-tag (models/bert-minilm-conll03)", "bert"
            );
        }
        for e in catalog() {
            let f1 = e.reported_f1.map_or("-".to_string(), |f| format!("{f:.2}"));
            println!(
                "{:<28} {:<58} {:<12} F1 {f1} ({}; {})",
                e.alias,
                e.hub_id,
                e.model_type,
                e.dataset,
                e.types.join(" ")
            );
        }
        return Ok(Outcome::Done);
    }
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    if args.resume && args.output.is_none() && args.output_dir.is_none() {
        return Err(ner_tag::error::Error::Usage(
            "--resume needs --output FILE or --output-dir DIR to resume into".into(),
        )
        .into());
    }
    if args.resume && matches!(args.format, FormatArg::Html | FormatArg::Spacy) {
        return Err(ner_tag::error::Error::Usage(
            "--resume works with line-by-line formats (an HTML page has a head and a foot; a .spacy file is one compressed block)"
                .into(),
        )
        .into());
    }
    if matches!(args.format, FormatArg::Spacy)
        && args.output.is_none()
        && args.output_dir.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return Err(ner_tag::error::Error::Usage(
            "-f spacy writes a binary DocBin: give -o FILE.spacy or --output-dir DIR, or redirect stdout".into(),
        )
        .into());
    }
    let format = match args.format {
        FormatArg::Jsonl => Format::Jsonl,
        FormatArg::Conll => Format::Conll,
        FormatArg::Html => Format::Html,
        FormatArg::LabelStudio => Format::LabelStudio,
        FormatArg::Spans => Format::Spans,
        FormatArg::Spacy => Format::Spacy,
        FormatArg::Redact => Format::Redact,
    };
    let redact = redaction(&args)?;
    let inputs =
        ner_tag::sources::collect(&args.files, args.recursive, args.output_dir.as_deref())?;
    let target = match (&args.output, &args.output_dir) {
        (Some(file), _) => Target::File(file.clone()),
        (None, Some(dir)) => Target::PerSource(ner_tag::sources::output_paths(
            &inputs,
            dir,
            match (format, &args.input_format) {
                // JSONL redacted in place is still JSONL.
                (Format::Redact, InputFormatArg::Jsonl) => "jsonl",
                _ => format.extension(),
            },
        )?),
        (None, None) => Target::Stdout,
    };
    ner_tag::sources::refuse_overwrites(&inputs, &target, args.stats_json.as_deref())?;
    // Beside a regular output file (not `-o /dev/null`), or in the output directory.
    let manifest = match (&args.output, &args.output_dir) {
        (Some(f), _) if std::fs::metadata(f).map_or(true, |m| m.is_file()) => {
            Some(ner_tag::output::manifest::beside(f))
        }
        (None, Some(dir)) => Some(ner_tag::output::manifest::in_dir(dir)),
        _ => None,
    };
    // Locked before anything is read or written: a second run on the file stops here.
    let stats_file = args
        .stats_json
        .as_deref()
        .map(StatsFile::lock)
        .transpose()?;
    let (model, runtime, tag, read_ahead) = args.model.prepare()?;
    let cfg = Config {
        model,
        inputs: inputs.into_iter().map(|i| i.source).collect(),
        input_format: match args.input_format {
            InputFormatArg::Text => InputFormat::Text,
            InputFormatArg::Jsonl => InputFormat::Jsonl {
                field: args.text_field,
            },
            InputFormatArg::Conll => InputFormat::Conll {
                gold_column: args.gold_column,
            },
        },
        format,
        byte_offsets: args.byte_offsets,
        tag,
        runtime,
        read_ahead,
        stats: args.stats,
        progress: ner_tag::progress::wanted(args.quiet),
        quiet: args.quiet,
        lossy: args.lossy,
        on_error: match args.on_error {
            OnErrorArg::Skip => OnError::Skip,
            OnErrorArg::Fail => OnError::Fail,
        },
        // Armed once the model has loaded: until then a signal has its default effect.
        interrupt: Some(Interrupt::on_signals()),
        shard,
        target,
        resume: args.resume,
        filter: args.filter.into_filter(),
        redact,
        redact_entities: args.redact_entities,
        ls_from_name: args.ls_from_name,
        ls_to_name: args.ls_to_name,
        manifest,
    };
    let stats = pipeline::run(&cfg)?;
    if let Some(file) = stats_file {
        file.write(&stats)?;
    }
    Ok(match (stats.interrupted, stats.errors) {
        (Some(signal), _) => Outcome::Interrupted(signal),
        (None, 0) => Outcome::Done,
        (None, _) => Outcome::SomeRecordsFailed,
    })
}

/// What `-f redact` replaces entities by; usage errors for a hash without a key and for input
/// that is not text lines.
fn redaction(args: &TagArgs) -> anyhow::Result<ner_tag::output::redact::Redaction> {
    use ner_tag::output::redact::Redaction;
    let usage = |m: &str| Err(ner_tag::error::Error::Usage(m.into()).into());
    if matches!(args.format, FormatArg::Redact)
        && !matches!(
            args.input_format,
            InputFormatArg::Text | InputFormatArg::Jsonl
        )
    {
        return usage(
            "-f redact writes lines back: it takes --input-format text or jsonl (not conll)",
        );
    }
    if args.redact_entities
        && !(matches!(args.format, FormatArg::Redact)
            && matches!(args.input_format, InputFormatArg::Jsonl))
    {
        return usage("--redact-entities goes with -f redact and --input-format jsonl");
    }
    Ok(match args.redact_with {
        RedactWithArg::Label => Redaction::Label,
        RedactWithArg::Mask => Redaction::Mask,
        RedactWithArg::Remove => Redaction::Remove,
        RedactWithArg::Hash => {
            let key = args.redact_key.clone().or_else(|| {
                std::env::var("NER_TAG_REDACT_KEY")
                    .ok()
                    .filter(|k| !k.is_empty())
            });
            match key {
                Some(k) if !k.is_empty() => Redaction::Hash(k.into_bytes()),
                _ => {
                    return usage(
                        "--redact-with hash needs a key: --redact-key KEY or $NER_TAG_REDACT_KEY",
                    )
                }
            }
        }
    })
}

/// How a successful run ended, for the exit status.
pub enum Outcome {
    Done,
    /// Error records were written (exit 3).
    SomeRecordsFailed,
    /// Stopped by a signal after writing what was read (exit 128 + signal).
    Interrupted(i32),
}

pub(crate) fn sources(files: &[PathBuf]) -> Vec<Source> {
    if files.is_empty() {
        vec![Source::Stdin]
    } else {
        files.iter().map(Source::parse).collect()
    }
}
