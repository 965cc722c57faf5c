//! Command line: clap arguments → the checked [`ner_tag::config::Config`]; the `eval`
//! subcommand in [`eval`].

pub mod alloc;
mod eval;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ner_tag::config::{Config, Shard};
use ner_tag::decode::Aggregation;
use ner_tag::hub::{catalog, ModelSource};
use ner_tag::input::Source;
use ner_tag::output::target::Target;
use ner_tag::output::Format;
use ner_tag::pipeline::{self, Interrupt, OnError, TagOptions};
use ner_tag::records::InputFormat;
use ner_tag::runtime::{self, Backend, DeviceChoice, Quantize, Runtime};
use ner_tag::stats::StatsFile;

const EXAMPLES: &str = "\
Examples:
  printf 'My name is Wolfgang and I live in Berlin\\n' | ner-tag      # built-in model, offline
  ner-tag corpus.txt > entities.jsonl
  ner-tag -f conll a.txt b.txt
  ner-tag -r corpus/ --output-dir tagged/ --resume   # a file per input; rerun after a kill
  ner-tag --input-format jsonl --text-field body docs.jsonl | jq -c .entities
  tail -f app.log | ner-tag --input-format jsonl --text-field msg      # records as lines arrive
  ner-tag -a first corpus.txt        # exactly the transformers pipeline's entities
  ner-tag -m distilbert-ner corpus.txt   # a catalog model from the Hugging Face Hub (--list-models)
  ner-tag eval --raw gold.conll      # F1 on gold CoNLL sentences written as natural text

Exit status: 0 success; 1 failure (one line on stderr); 2 usage error; 3 some input records could
not be tagged (error records written in their place); 130/143 stopped by SIGINT/SIGTERM after
writing what was read.";

#[derive(Parser, Debug)]
#[command(
    name = "ner-tag",
    version,
    about = "Tag named entities in text with Hugging Face token-classification models",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    tag: TagArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Tag the tokens of gold CoNLL files and score them like conlleval / seqeval.
    #[command(
        after_help = "Examples:\n  ner-tag eval gold.conll                  # word-level, like conlleval\n  ner-tag eval --raw gold.conll            # the sentences as natural text, exact character spans\n  ner-tag eval -m ./ckpt --json gold.conll | jq -e '.micro.f1 > 0.89'"
    )]
    Eval(eval::EvalArgs),
}

/// How the model is found and run; shared by tagging and `eval`.
#[derive(Args, Debug)]
pub(crate) struct ModelArgs {
    /// Local checkpoint directory, hub id (owner/name), catalog alias (see --list-models), or
    /// `default`: the CoNLL-03 model built into ner-tag [default: $NER_TAG_MODEL, else `default`].
    #[arg(short, long, value_name = "HUB_ID|DIR|ALIAS")]
    model: Option<String>,

    /// Hub revision (branch, tag or commit) when --model is a hub id.
    #[arg(long, value_name = "REV")]
    revision: Option<String>,

    /// How predictions become entities: `word` splits raw text into the words CoNLL-style models
    /// are trained on and labels each by its first sub-token; `none|simple|first|average|max` are
    /// the transformers pipeline's strategies (`first` is bit-identical to the Python pipeline).
    #[arg(short, long, value_enum, default_value_t = AggregationArg::Word)]
    aggregation: AggregationArg,

    /// Tokens per window, special tokens included [default: what the model allows].
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,

    /// Tokens shared by consecutive windows of a line longer than one window [default: 128, or
    /// half a window when the model's windows are shorter than 256 tokens].
    #[arg(long, value_name = "N")]
    stride: Option<usize>,

    /// Windows per forward pass [default: 32 on the CPU, 256 on a GPU].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch_size: Option<u32>,

    /// Worker threads for tokenizing, decoding and the CPU matrix kernels [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,

    /// Where the model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: String,

    /// Precision of the encoder's matrix products on CPU: f32, or int8 (per-channel int8 weights,
    /// per-row int8 activations; about twice as fast, F1 within a few tenths of a point).
    #[arg(long, value_enum, default_value_t = QuantizeArg::None)]
    quantize: QuantizeArg,

    /// What the encoder computes in: f32, f16 or bf16 [default: f16 on CUDA, f32 on CPU]. LayerNorm
    /// and softmax accumulate in f32 whatever it is; on the CPU, bf16 needs AVX512-BF16 (bf16
    /// products summed in f32) and f16 is refused.
    #[arg(long, value_name = "DTYPE", value_parser = ["f32", "f16", "bf16"])]
    dtype: Option<String>,

    /// Model implementation: native (our CPU kernels) or candle [default: native on CPU, candle
    /// on CUDA].
    #[arg(long, value_enum, hide = true)]
    backend: Option<BackendArg>,

    /// Records read and tagged together (bounds memory) [default: 16 × batch size, at least 256].
    #[arg(long, value_name = "N", hide = true)]
    read_ahead: Option<usize>,
}

#[derive(Args, Debug)]
struct TagArgs {
    /// Input files, read in order; stdin when none or `-`. One output record per input record.
    #[arg(value_name = "FILE", value_parser = clap::value_parser!(PathBuf))]
    files: Vec<PathBuf>,

    #[command(flatten)]
    model: ModelArgs,

    /// Input format: text lines, JSON objects (one per line), or CoNLL token-per-line sentences.
    #[arg(long, value_enum, default_value_t = InputFormatArg::Text)]
    input_format: InputFormatArg,

    /// The JSON field holding the text to tag (--input-format jsonl).
    #[arg(long, value_name = "NAME", default_value = "text")]
    text_field: String,

    /// CoNLL input: the 1-based column of the gold tags [default: the last column holding tags].
    #[arg(long, value_name = "N")]
    gold_column: Option<usize>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = FormatArg::Jsonl)]
    format: FormatArg,

    /// Report start/end as UTF-8 byte offsets instead of character offsets.
    #[arg(long)]
    byte_offsets: bool,

    /// Print a summary on stderr at the end: records, error records, windows, tokens, entities
    /// per label, wall time, records/s, peak memory (RSS).
    #[arg(long)]
    stats: bool,

    /// No progress bar and no notes on stderr (problems are still reported). The bar is drawn
    /// only when stderr is a terminal.
    #[arg(short, long)]
    quiet: bool,

    /// A record that cannot be tagged: `skip` writes an error record in its place and exits 3 at
    /// the end; `fail` stops there with exit 1, everything before it written.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Skip)]
    on_error: OnErrorArg,

    /// Replace invalid UTF-8 with U+FFFD and tag the line (offsets index the replaced text).
    #[arg(long)]
    lossy: bool,

    /// Write the records to FILE instead of stdout, whole records flushed chunk by chunk.
    #[arg(short, long, value_name = "FILE", conflicts_with = "output_dir")]
    output: Option<PathBuf>,

    /// Write one output per input file under DIR, at the input's relative path (below the folder
    /// it was found in with -r) with the extension .jsonl/.conll/.html/.txt (-f redact).
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,

    /// Read the files under folders given as inputs, in name order; hidden files and folders
    /// are skipped, symbolic links followed (loops are not).
    #[arg(short, long)]
    recursive: bool,

    /// With --output or --output-dir: keep the complete records an earlier (killed) run wrote
    /// there (per file), cut a torn last one, and tag on after them — nothing duplicated, nothing
    /// lost.
    #[arg(long)]
    resume: bool,

    /// Write the run's summary as JSON to FILE at the end (records, error records, windows, tokens,
    /// entities per label, wall time, records/s, peak RSS), for CI jobs.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,

    /// Tag only shard I of N (0-based): the records whose index over all inputs is I modulo N, with
    /// their file and line numbers unchanged. N jobs with I = 0…N-1 split a corpus between them.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,

    #[command(flatten)]
    filter: FilterArgs,

    /// With -f redact: what replaces an entity.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = RedactWithArg::Label)]
    redact_with: RedactWithArg,

    /// With -f label-studio: the `name` of the labeling config's <Labels> tag.
    #[arg(long, value_name = "NAME", default_value = "label")]
    ls_from_name: String,

    /// With -f label-studio: the `name` of the labeling config's <Text> tag.
    #[arg(long, value_name = "NAME", default_value = "text")]
    ls_to_name: String,

    /// With -f redact of JSONL input: add `entities`, with offsets (characters) into the
    /// redacted text.
    #[arg(long)]
    redact_entities: bool,

    /// The key of --redact-with hash: equal keys give equal pseudonyms across files, shards and
    /// runs [default: $NER_TAG_REDACT_KEY].
    #[arg(long, value_name = "KEY")]
    redact_key: Option<String>,

    /// List the catalog aliases --model accepts, then exit.
    #[arg(long)]
    list_models: bool,
}

/// Which entities are kept, after decoding and before any output or count.
#[derive(Args, Debug)]
struct FilterArgs {
    /// Keep only entities of these types (comma-separated: PER,ORG). With `-a none` the type
    /// of the raw tag is matched (B-PER is PER).
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    labels: Option<Vec<String>>,

    /// Drop entities of these types (comma-separated: MISC).
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    ignore_labels: Vec<String>,

    /// Drop entities scored below SCORE (0 to 1).
    #[arg(long, value_name = "SCORE", value_parser = parse_score)]
    min_score: Option<f32>,
}

impl FilterArgs {
    fn into_filter(self) -> ner_tag::config::Filter {
        let trim = |v: Vec<String>| v.into_iter().map(|t| t.trim().to_string()).collect();
        ner_tag::config::Filter {
            labels: self.labels.map(trim),
            ignore: trim(self.ignore_labels),
            min_score: self.min_score,
        }
    }
}

fn parse_score(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("`{s}` is not a score between 0 and 1")),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Jsonl,
    Conll,
    /// One self-contained HTML page, entities highlighted (no scripts, no network).
    Html,
    /// Each input line written back with its entities replaced (see --redact-with).
    Redact,
    /// One Label Studio task per record (JSONL), the entities as predictions to correct.
    LabelStudio,
    /// spaCy / Prodigy JSONL: text, tokens, spans snapped to the tokens.
    Spans,
    /// A binary spaCy DocBin (`.spacy`, for `spacy train` and `DocBin().from_disk`), written
    /// whole at the end: needs -o FILE, --output-dir or a redirected stdout.
    Spacy,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RedactWithArg {
    /// `[PER]`.
    Label,
    /// One `█` per character of the entity.
    Mask,
    /// Nothing: the entity is cut out.
    Remove,
    /// A keyed pseudonym `PER_3f2a9c` (HMAC-SHA256 of the entity text; needs a key).
    Hash,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum InputFormatArg {
    Text,
    Jsonl,
    Conll,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum QuantizeArg {
    None,
    Int8,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Native,
    Candle,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OnErrorArg {
    Skip,
    Fail,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AggregationArg {
    Word,
    None,
    Simple,
    First,
    Average,
    Max,
}

impl From<AggregationArg> for Aggregation {
    fn from(a: AggregationArg) -> Self {
        match a {
            AggregationArg::Word => Aggregation::Word,
            AggregationArg::None => Aggregation::None,
            AggregationArg::Simple => Aggregation::Simple,
            AggregationArg::First => Aggregation::First,
            AggregationArg::Average => Aggregation::Average,
            AggregationArg::Max => Aggregation::Max,
        }
    }
}

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
        files.iter().map(|f| Source::parse(f)).collect()
    }
}
