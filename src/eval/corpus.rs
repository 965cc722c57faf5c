//! Evaluate stage driver: tags the tokens of gold CoNLL files and scores them.

use std::time::Instant;

use super::metrics::Evaluation;
use crate::decode::{words, Scheme};
use crate::error::{Error, Result};
use crate::input::{LineReader, Source};
use crate::job::Job;
use crate::progress::Progress;
use crate::records::{InputFormat, Record, RecordReader};
use crate::tagger::Tagger;

/// Throughput of an evaluation run.
#[derive(Debug, Default)]
pub struct EvalStats {
    pub sentences: usize,
    pub tokens: usize,
    pub seconds: f64,
}

/// Rewrites a tag of `scheme` into the prefixes the chunker reads (BILOU's L/U become E/S) and
/// rejects tags the scheme does not have.
fn normalize(tag: &str, scheme: Scheme) -> std::result::Result<String, String> {
    if tag == "O" {
        return Ok(tag.to_string());
    }
    let (prefix, rest) = tag.split_at(tag.find('-').map_or(0, |i| i));
    let allowed: &[&str] = match scheme {
        Scheme::Iob2 | Scheme::Iob1 => &["B", "I"],
        Scheme::Io => &["I"],
        Scheme::Bioes => &["B", "I", "E", "S"],
        Scheme::Bilou => &["B", "I", "L", "U"],
    };
    if rest.len() < 2 || !allowed.contains(&prefix) {
        return Err(format!(
            "tag \"{tag}\" is not a {scheme:?} tag (expected O or {}-TYPE)",
            allowed.join("-TYPE, ")
        ));
    }
    let prefix = match prefix {
        "L" => "E",
        "U" => "S",
        p => p,
    };
    Ok(format!("{prefix}{rest}"))
}

/// A sentence of a gold file, its tags normalized for the chunker.
pub(crate) struct GoldSentence {
    pub tokens: Vec<String>,
    pub gold: Vec<String>,
}

pub(crate) fn read_gold(
    files: &[Source],
    gold_column: Option<usize>,
    scheme: Scheme,
) -> Result<Vec<GoldSentence>> {
    let mut reader = RecordReader::new(files.to_vec(), InputFormat::Conll { gold_column });
    let names = reader.source_names();
    let mut out = Vec::new();
    while let Some(rec) = reader.next_record()? {
        let Record::Sentence {
            source,
            line,
            tokens,
            gold,
        } = rec
        else {
            continue;
        };
        let err = |line: usize, msg: String| Error::Input {
            name: names[source].clone(),
            line,
            msg,
        };
        let gold = gold.ok_or_else(|| {
            err(
                line,
                "no column of gold tags (expected `token ... TAG`)".into(),
            )
        })?;
        let gold = gold
            .iter()
            .enumerate()
            .map(|(i, t)| normalize(t, scheme).map_err(|m| err(line + i, m)))
            .collect::<Result<Vec<_>>>()?;
        out.push(GoldSentence { tokens, gold });
    }
    Ok(out)
}

/// Scores files whose last column is a prediction and the column before it the gold tag, as
/// conlleval reads its input; no model runs.
pub fn score_predictions(files: &[Source], scheme: Scheme) -> Result<(Evaluation, EvalStats)> {
    let started = Instant::now();
    let mut lines = LineReader::new(files.to_vec());
    let mut eval = Evaluation::default();
    let mut stats = EvalStats::default();
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    let mut flush = |gold: &mut Vec<String>, pred: &mut Vec<String>, stats: &mut EvalStats| {
        if !gold.is_empty() {
            eval.add(gold, pred);
            stats.sentences += 1;
            stats.tokens += gold.len();
            gold.clear();
            pred.clear();
        }
    };
    let mut last_source = None;
    while let Some(l) = lines.next_line()? {
        if last_source != Some(l.source) {
            flush(&mut gold, &mut pred, &mut stats);
            last_source = Some(l.source);
        }
        let fields: Vec<&str> = l.text.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "-DOCSTART-" {
            flush(&mut gold, &mut pred, &mut stats);
            continue;
        }
        let err = |msg: String| Error::Input {
            name: lines.sources()[l.source].name(),
            line: l.line,
            msg,
        };
        if fields.len() < 3 {
            return Err(err(format!(
                "{} columns: expected `token ... GOLD PREDICTED`",
                fields.len()
            )));
        }
        gold.push(normalize(fields[fields.len() - 2], scheme).map_err(err)?);
        pred.push(normalize(fields[fields.len() - 1], scheme).map_err(err)?);
    }
    flush(&mut gold, &mut pred, &mut stats);
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((eval, stats))
}

/// Tags every sentence of `files` word by word and scores the predictions against the gold
/// column. `scheme` says how the gold tags are written. `progress`: draw a bar on stderr.
pub fn evaluate(
    tagger: &Tagger,
    files: &[Source],
    scheme: Scheme,
    gold_column: Option<usize>,
    chunk_size: usize,
    progress: bool,
) -> Result<(Evaluation, EvalStats)> {
    let started = Instant::now();
    let sentences: Vec<(Vec<String>, Vec<String>)> = read_gold(files, gold_column, scheme)?
        .into_iter()
        .map(|s| (s.tokens, s.gold))
        .collect();
    let model_scheme = tagger.scheme;
    let progress = Progress::sentences(progress, sentences.len());
    let mut eval = Evaluation::default();
    let mut stats = EvalStats::default();
    for chunk in sentences.chunks(chunk_size.max(1)) {
        let jobs: Vec<Job> = chunk.iter().map(|(t, _)| Job::tokens(t)).collect();
        let results = tagger.tag_jobs(&jobs)?;
        for ((tokens, gold), result) in chunk.iter().zip(results) {
            let labels = result.word_labels.unwrap_or_default();
            let predicted: Vec<String> = words::word_tags(tagger.labels(), &labels)
                .into_iter()
                .map(|t| normalize(t, model_scheme).unwrap_or_else(|_| t.to_string()))
                .collect();
            eval.add(gold, &predicted);
            stats.tokens += tokens.len();
        }
        stats.sentences += chunk.len();
        progress.set(stats.sentences);
    }
    progress.finish();
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((eval, stats))
}
