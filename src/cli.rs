//! Command line: clap arguments → the checked [`ner_tag::config::Config`].

use clap::{Parser, ValueEnum};

use ner_tag::config::{Config, DeviceChoice};
use ner_tag::decode::Aggregation;
use ner_tag::hub::{catalog, ModelSource};
use ner_tag::input::Source;
use ner_tag::output::Format;
use ner_tag::pipeline::{self, TagOptions};

const EXAMPLES: &str = "\
Examples:
  printf 'My name is Wolfgang and I live in Berlin\\n' | ner-tag --model ../shared/models/bert-minilm-conll03
  ner-tag -m dslim/distilbert-NER corpus.txt > entities.jsonl
  ner-tag -m ./my-checkpoint -f conll -a first a.txt b.txt
  ner-tag -m distilbert-ner --aggregation simple --stride 64 long-documents.txt | jq .entities

Exit status: 0 success, 1 failure (one line on stderr), 2 usage error.";

#[derive(Parser, Debug)]
#[command(name = "ner-tag", version, about = "Tag named entities in text with Hugging Face token-classification models", after_help = EXAMPLES)]
pub struct Args {
    /// Input files, read in order; stdin when none or `-`. One output record per input line.
    #[arg(value_name = "FILE")]
    files: Vec<String>,

    /// Local checkpoint directory, hub id (owner/name) or catalog alias (see --list-models).
    #[arg(
        short,
        long,
        value_name = "HUB_ID|DIR",
        default_value = "dslim/distilbert-NER"
    )]
    model: String,

    /// Hub revision (branch, tag or commit) when --model is a hub id.
    #[arg(long, value_name = "REV")]
    revision: Option<String>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = FormatArg::Jsonl)]
    format: FormatArg,

    /// How sub-token predictions become entities (the transformers pipeline's strategies).
    #[arg(short, long, value_enum, default_value_t = AggregationArg::First)]
    aggregation: AggregationArg,

    /// Report start/end as UTF-8 byte offsets instead of character offsets.
    #[arg(long)]
    byte_offsets: bool,

    /// Tokens per window, special tokens included [default: what the model allows].
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,

    /// Tokens shared by consecutive windows of a line longer than one window [default: 128, or
    /// half a window when the model's windows are shorter than 256 tokens].
    #[arg(long, value_name = "N")]
    stride: Option<usize>,

    /// Windows per forward pass.
    #[arg(short, long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch_size: u32,

    /// Worker threads for tokenizing, decoding and the CPU matrix kernels [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,

    /// Where the model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: String,

    /// Lines read and tagged together (bounds memory) [default: 16 × batch size, at least 256].
    #[arg(long, value_name = "N", hide = true)]
    read_ahead: Option<usize>,

    /// Print progress and a throughput summary on stderr.
    #[arg(long)]
    stats: bool,

    /// List the catalog aliases --model accepts, then exit.
    #[arg(long)]
    list_models: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Jsonl,
    Conll,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AggregationArg {
    None,
    Simple,
    First,
    Average,
    Max,
}

impl From<AggregationArg> for Aggregation {
    fn from(a: AggregationArg) -> Self {
        match a {
            AggregationArg::None => Aggregation::None,
            AggregationArg::Simple => Aggregation::Simple,
            AggregationArg::First => Aggregation::First,
            AggregationArg::Average => Aggregation::Average,
            AggregationArg::Max => Aggregation::Max,
        }
    }
}

pub fn parse() -> Args {
    Args::parse()
}

fn config(args: Args) -> anyhow::Result<Config> {
    let device = DeviceChoice::parse(&args.device)?;
    let model = ModelSource::parse(&args.model, args.revision)?;
    let inputs = if args.files.is_empty() {
        vec![Source::Stdin]
    } else {
        args.files.iter().map(|f| Source::parse(f)).collect()
    };
    let batch_size = args.batch_size as usize;
    Ok(Config {
        model,
        inputs,
        format: match args.format {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Conll => Format::Conll,
        },
        byte_offsets: args.byte_offsets,
        tag: TagOptions {
            aggregation: args.aggregation.into(),
            max_length: args.max_length,
            stride: args.stride,
            batch_size,
        },
        device,
        read_ahead: args.read_ahead.unwrap_or((batch_size * 16).max(256)).max(1),
        stats: args.stats,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list_models {
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
        return Ok(());
    }
    if let Some(n) = args.threads {
        // candle's CPU kernels size their pool from RAYON_NUM_THREADS; set it before any pool starts.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global()?;
    }
    let cfg = config(args)?;
    pipeline::run(&cfg)?;
    Ok(())
}
