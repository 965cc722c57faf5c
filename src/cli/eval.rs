//! Command line, `eval`: tag gold CoNLL files and score them like conlleval / seqeval.

use clap::{Args, ValueEnum};

use ner_tag::decode::Scheme;
use ner_tag::eval::{self, report};

use super::{sources, ModelArgs};

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// Gold CoNLL files: token first, gold tag last, blank lines between sentences.
    #[arg(value_name = "GOLD.conll", required = true)]
    #[arg(value_parser = clap::value_parser!(std::path::PathBuf))]
    files: Vec<std::path::PathBuf>,

    /// No progress bar and no timing line on stderr. The bar is drawn only when stderr is a
    /// terminal.
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    model: ModelArgs,

    /// Report layout.
    #[arg(long, value_enum, default_value_t = ReportArg::Conlleval)]
    report: ReportArg,

    /// Print the metrics as one JSON object instead of a report.
    #[arg(long)]
    json: bool,

    /// How the gold tags are written.
    #[arg(long, value_enum, default_value_t = SchemeArg::Iob2)]
    scheme: SchemeArg,

    /// The 1-based column of the gold tags [default: the last column holding tags].
    #[arg(long, value_name = "N")]
    gold_column: Option<usize>,

    /// Score files that already hold predictions (last column) next to gold tags (the column
    /// before), as conlleval does; no model is loaded.
    #[arg(long, conflicts_with = "raw")]
    predictions: bool,

    /// Natural-text evaluation: detokenize each gold sentence into text as people write it, tag
    /// the text with --aggregation, and score entities by exact (type, start, end) character
    /// spans.
    #[arg(long)]
    raw: bool,

    /// Refused (eval scores every entity the model predicts): accepted only to say so.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    labels: Option<String>,
    #[arg(long, hide = true, allow_hyphen_values = true)]
    ignore_labels: Option<String>,
    #[arg(long, hide = true, allow_hyphen_values = true)]
    min_score: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportArg {
    Conlleval,
    Seqeval,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SchemeArg {
    Iob1,
    Iob2,
    Bioes,
    Bilou,
}

pub(crate) fn run(args: EvalArgs) -> anyhow::Result<()> {
    if args.labels.is_some() || args.ignore_labels.is_some() || args.min_score.is_some() {
        return Err(ner_tag::Error::Usage(
            "eval scores every entity the model predicts: --labels, --ignore-labels and --min-score are for tagging".into(),
        )
        .into());
    }
    let scheme = match args.scheme {
        SchemeArg::Iob1 => Scheme::Iob1,
        SchemeArg::Iob2 => Scheme::Iob2,
        SchemeArg::Bioes => Scheme::Bioes,
        SchemeArg::Bilou => Scheme::Bilou,
    };
    let files = sources(&args.files);
    let (evaluation, stats) = if args.predictions {
        eval::score_predictions(&files, scheme)?
    } else {
        let (model, rt, opts, read_ahead) = args.model.prepare()?;
        let tagger = ner_tag::tagger::load_checkpoint(&model.resolve()?, &rt, &opts)?;
        let bar = ner_tag::progress::wanted(args.quiet);
        if args.raw {
            eval::evaluate_raw(&tagger, &files, scheme, args.gold_column, read_ahead, bar)?
        } else {
            eval::evaluate(&tagger, &files, scheme, args.gold_column, read_ahead, bar)?
        }
    };
    let text = if args.json {
        format!("{}\n", report::json(&evaluation))
    } else {
        match args.report {
            ReportArg::Conlleval => report::conlleval(&evaluation),
            ReportArg::Seqeval => report::seqeval(&evaluation),
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| ner_tag::Error::io("stdout", e))?;
    if !args.predictions && !args.quiet {
        eprintln!(
            "ner-tag eval: {} sentences, {} tokens in {:.2}s ({:.0} tokens/s)",
            stats.sentences,
            stats.tokens,
            stats.seconds,
            stats.tokens as f64 / stats.seconds.max(1e-9)
        );
    }
    Ok(())
}
