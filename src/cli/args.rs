//! The command line as clap parses it: the tagging options, the model options shared with `eval`,
//! and the value enums behind them. [`super::run`] turns them into the library's configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ner_tag::decode::Aggregation;

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
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) tag: TagArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Tag the tokens of gold CoNLL files and score them like conlleval / seqeval.
    #[command(
        after_help = "Examples:\n  ner-tag eval gold.conll                  # word-level, like conlleval\n  ner-tag eval --raw gold.conll            # the sentences as natural text, exact character spans\n  ner-tag eval -m ./ckpt --json gold.conll | jq -e '.micro.f1 > 0.89'"
    )]
    Eval(super::eval::EvalArgs),
}

/// How the model is found and run; shared by tagging and `eval`.
#[derive(Args, Debug)]
pub(crate) struct ModelArgs {
    /// Local checkpoint directory, hub id (owner/name), catalog alias (see --list-models), or
    /// `default`: the CoNLL-03 model built into ner-tag [default: $NER_TAG_MODEL, else `default`].
    #[arg(short, long, value_name = "HUB_ID|DIR|ALIAS")]
    pub(crate) model: Option<String>,

    /// Hub revision (branch, tag or commit) when --model is a hub id.
    #[arg(long, value_name = "REV")]
    pub(crate) revision: Option<String>,

    /// How predictions become entities: `word` splits raw text into the words CoNLL-style models
    /// are trained on and labels each by its first sub-token; `none|simple|first|average|max` are
    /// the transformers pipeline's strategies (`first` is bit-identical to the Python pipeline).
    #[arg(short, long, value_enum, default_value_t = AggregationArg::Word)]
    pub(crate) aggregation: AggregationArg,

    /// Tokens per window, special tokens included [default: what the model allows].
    #[arg(long, value_name = "N")]
    pub(crate) max_length: Option<usize>,

    /// Tokens shared by consecutive windows of a line longer than one window [default: 128, or
    /// half a window when the model's windows are shorter than 256 tokens].
    #[arg(long, value_name = "N")]
    pub(crate) stride: Option<usize>,

    /// Windows per forward pass [default: 32 on the CPU, 256 on a GPU].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) batch_size: Option<u32>,

    /// Worker threads for tokenizing, decoding and the CPU matrix kernels [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) threads: Option<u32>,

    /// Where the model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub(crate) device: String,

    /// Precision of the encoder's matrix products on CPU: f32, or int8 (per-channel int8 weights,
    /// per-row int8 activations; about twice as fast, F1 within a few tenths of a point).
    #[arg(long, value_enum, default_value_t = QuantizeArg::None)]
    pub(crate) quantize: QuantizeArg,

    /// What the encoder computes in: f32, f16 or bf16 [default: f16 on CUDA, f32 on CPU]. LayerNorm
    /// and softmax accumulate in f32 whatever it is; on the CPU, bf16 needs AVX512-BF16 (bf16
    /// products summed in f32) and f16 is refused.
    #[arg(long, value_name = "DTYPE", value_parser = ["f32", "f16", "bf16"])]
    pub(crate) dtype: Option<String>,

    /// Model implementation: native (our CPU kernels) or candle [default: native on CPU, candle
    /// on CUDA].
    #[arg(long, value_enum, hide = true)]
    pub(crate) backend: Option<BackendArg>,

    /// Records read and tagged together (bounds memory) [default: 16 × batch size, at least 256].
    #[arg(long, value_name = "N", hide = true)]
    pub(crate) read_ahead: Option<usize>,
}

#[derive(Args, Debug)]
pub(crate) struct TagArgs {
    /// Input files, read in order; stdin when none or `-`. One output record per input record.
    #[arg(value_name = "FILE", value_parser = clap::value_parser!(PathBuf))]
    pub(crate) files: Vec<PathBuf>,

    #[command(flatten)]
    pub(crate) model: ModelArgs,

    /// Input format: text lines, JSON objects (one per line), or CoNLL token-per-line sentences.
    #[arg(long, value_enum, default_value_t = InputFormatArg::Text)]
    pub(crate) input_format: InputFormatArg,

    /// The JSON field holding the text to tag (--input-format jsonl).
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub(crate) text_field: String,

    /// CoNLL input: the 1-based column of the gold tags [default: the last column holding tags].
    #[arg(long, value_name = "N")]
    pub(crate) gold_column: Option<usize>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = FormatArg::Jsonl)]
    pub(crate) format: FormatArg,

    /// Report start/end as UTF-8 byte offsets instead of character offsets.
    #[arg(long)]
    pub(crate) byte_offsets: bool,

    /// Print a summary on stderr at the end: records, error records, windows, tokens, entities
    /// per label, wall time, records/s, peak memory (RSS).
    #[arg(long)]
    pub(crate) stats: bool,

    /// No progress bar and no notes on stderr (problems are still reported). The bar is drawn
    /// only when stderr is a terminal.
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// A record that cannot be tagged: `skip` writes an error record in its place and exits 3 at
    /// the end; `fail` stops there with exit 1, everything before it written.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Skip)]
    pub(crate) on_error: OnErrorArg,

    /// Replace invalid UTF-8 with U+FFFD and tag the line (offsets index the replaced text).
    #[arg(long)]
    pub(crate) lossy: bool,

    /// Write the records to FILE instead of stdout, whole records flushed chunk by chunk.
    #[arg(short, long, value_name = "FILE", conflicts_with = "output_dir")]
    pub(crate) output: Option<PathBuf>,

    /// Write one output per input file under DIR, at the input's relative path (below the folder
    /// it was found in with -r) with the extension .jsonl/.conll/.html/.txt (-f redact).
    #[arg(long, value_name = "DIR")]
    pub(crate) output_dir: Option<PathBuf>,

    /// Read the files under folders given as inputs, in name order; hidden files and folders
    /// are skipped, symbolic links followed (loops are not).
    #[arg(short, long)]
    pub(crate) recursive: bool,

    /// With --output or --output-dir: keep the complete records an earlier (killed) run wrote
    /// there (per file), cut a torn last one, and tag on after them — nothing duplicated, nothing
    /// lost.
    #[arg(long)]
    pub(crate) resume: bool,

    /// Write the run's summary as JSON to FILE at the end (records, error records, windows, tokens,
    /// entities per label, wall time, records/s, peak RSS), for CI jobs.
    #[arg(long, value_name = "FILE")]
    pub(crate) stats_json: Option<PathBuf>,

    /// Tag only shard I of N (0-based): the records whose index over all inputs is I modulo N, with
    /// their file and line numbers unchanged. N jobs with I = 0…N-1 split a corpus between them.
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<String>,

    #[command(flatten)]
    pub(crate) filter: FilterArgs,

    /// With -f redact: what replaces an entity.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = RedactWithArg::Label)]
    pub(crate) redact_with: RedactWithArg,

    /// With -f label-studio: the `name` of the labeling config's <Labels> tag.
    #[arg(long, value_name = "NAME", default_value = "label")]
    pub(crate) ls_from_name: String,

    /// With -f label-studio: the `name` of the labeling config's <Text> tag.
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub(crate) ls_to_name: String,

    /// With -f redact of JSONL input: add `entities`, with offsets (characters) into the
    /// redacted text.
    #[arg(long)]
    pub(crate) redact_entities: bool,

    /// The key of --redact-with hash: equal keys give equal pseudonyms across files, shards and
    /// runs [default: $NER_TAG_REDACT_KEY].
    #[arg(long, value_name = "KEY")]
    pub(crate) redact_key: Option<String>,

    /// List the catalog aliases --model accepts, then exit.
    #[arg(long)]
    pub(crate) list_models: bool,
}

/// Which entities are kept, after decoding and before any output or count.
#[derive(Args, Debug)]
pub(crate) struct FilterArgs {
    /// Keep only entities of these types (comma-separated: PER,ORG). With `-a none` the type
    /// of the raw tag is matched (B-PER is PER).
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub(crate) labels: Option<Vec<String>>,

    /// Drop entities of these types (comma-separated: MISC).
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub(crate) ignore_labels: Vec<String>,

    /// Drop entities scored below SCORE (0 to 1).
    #[arg(long, value_name = "SCORE", value_parser = parse_score)]
    pub(crate) min_score: Option<f32>,
}

impl FilterArgs {
    pub(crate) fn into_filter(self) -> ner_tag::config::Filter {
        let trim = |v: Vec<String>| v.into_iter().map(|t| t.trim().to_string()).collect();
        ner_tag::config::Filter {
            labels: self.labels.map(trim),
            ignore: trim(self.ignore_labels),
            min_score: self.min_score,
        }
    }
}

pub(crate) fn parse_score(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("`{s}` is not a score between 0 and 1")),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FormatArg {
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
pub(crate) enum RedactWithArg {
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
pub(crate) enum InputFormatArg {
    Text,
    Jsonl,
    Conll,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum QuantizeArg {
    None,
    Int8,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum BackendArg {
    Native,
    Candle,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum OnErrorArg {
    Skip,
    Fail,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum AggregationArg {
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
