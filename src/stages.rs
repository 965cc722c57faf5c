//! The run loop's stages for one chunk: tokenize ([`prepare`], host, parallel), model
//! ([`forward`], the device; long lines streamed there), decode + write ([`Writer`]).

use std::time::Instant;

use rayon::prelude::*;

use crate::batch::TaggedLine;
use crate::chunker::Slot;
use crate::config::{Filter, Interrupt};
use crate::decode;
use crate::decode::spill::EntitySpill;
use crate::error::Result;
use crate::job::{Job, JobResult};
use crate::long_line::LongTagged;
use crate::output::{ErrorRecord, Format, InputKind, Printer, TaggedRecord};
use crate::progress::Progress;
use crate::records::Record;
use crate::stats::RunStats;
use crate::tagger::Tagger;
use crate::tokenize::Window;

/// A chunk on its way through the stages: its records, a job per good record, their windows
/// (after tokenizing) and probabilities (after the model).
pub(crate) struct Chunk {
    slots: Vec<Slot>,
    jobs: Vec<Job<'static>>,
    windows: Vec<Vec<Window>>,
    tagged: Vec<TaggedLine>,
    /// Per job: whether it is a long line, tagged as a stream in the model stage
    /// ([`Tagger::tag_long`]), and once it is, what that produced.
    long: Vec<(bool, Option<LongTagged>)>,
    /// The output lists words (CoNLL, spans): long lines keep theirs ([`prepare`]).
    keep_words: bool,
    /// Seconds the model stage took on it.
    model_secs: f64,
}

/// Tokenize stage (host, parallel). A record's text moves into its job; a long line's job gets
/// no words and no windows yet.
pub(crate) fn prepare(tagger: &Tagger, mut slots: Vec<Slot>, format: Format) -> Result<Chunk> {
    let (jobs, long): (Vec<Job<'static>>, Vec<(bool, Option<LongTagged>)>) = slots
        .par_iter_mut()
        .filter_map(|s| match s {
            Slot::Good(r) => Some(r),
            _ => None,
        })
        .map(|r| match r {
            Record::Text { text, .. } | Record::Json { text, .. } => {
                let text = std::mem::take(text);
                match tagger.is_long(&text) {
                    true => (Job::owned(text, None), (true, None)),
                    false => (Job::owned(text, Some(tagger.aggregation)), (false, None)),
                }
            }
            r => (
                Job::from_record(r, tagger.aggregation).into_owned(),
                (false, None),
            ),
        })
        .unzip();
    let windows = jobs
        .par_iter()
        .zip(&long)
        .map(|(job, l)| match l.0 {
            true => Ok(Vec::new()),
            false => tagger.job_windows(job),
        })
        .collect::<Result<_>>()?;
    Ok(Chunk {
        slots,
        jobs,
        windows,
        tagged: Vec::new(),
        long,
        // Word mode lists the words it split the line into; otherwise CoNLL lists the
        // tokenizer's words, which a long line's stream gives as it goes (spaCy formats split
        // the line into words in the writer, [`finish_jobs`]).
        keep_words: match tagger.aggregation {
            decode::Aggregation::Word => {
                matches!(format, Format::Conll | Format::Spans | Format::Spacy)
            }
            _ => format == Format::Conll,
        },
        model_secs: 0.0,
    })
}

/// Model stage (the device). With `stop`, a signal received while the chunk's batches run ends
/// it between two batches ([`Error::Interrupted`]): one enormous line is thousands of batches.
/// Long lines are tagged here, one after another, each as a stream.
pub(crate) fn forward(
    tagger: &Tagger,
    mut chunk: Chunk,
    stop: Option<&Interrupt>,
) -> Result<Chunk> {
    let started = Instant::now();
    let stop = || stop.is_some_and(|i| i.signal().is_some());
    chunk.tagged = tagger.run_model_until(std::mem::take(&mut chunk.windows), &stop)?;
    for (job, long) in chunk.jobs.iter_mut().zip(&mut chunk.long) {
        if long.0 {
            let mut tagged = tagger.tag_long(&job.text, chunk.keep_words, &stop)?;
            job.words = tagged.words.take();
            long.1 = Some(tagged);
        }
    }
    chunk.model_secs = started.elapsed().as_secs_f64();
    Ok(chunk)
}

/// Decode + write stage: drives the printer and keeps the counts.
pub(crate) struct Writer<'p> {
    pub(crate) printer: &'p mut (dyn Printer + Send),
    pub(crate) names: Vec<String>,
    /// Each source's name as bytes, where `names` lost some (not UTF-8).
    pub(crate) raw_names: Vec<Option<Vec<u8>>>,
    /// The source records come from now (sources end in order).
    pub(crate) source: usize,
    /// Records name their file (several inputs into one output).
    pub(crate) with_file: bool,
    pub(crate) stats: RunStats,
    pub(crate) started: Instant,
    pub(crate) progress: &'p Progress,
    /// Entities kept, before they are printed or counted.
    pub(crate) filter: &'p Filter,
}

impl Writer<'_> {
    /// Decodes the good records of a tagged chunk and writes every record, in input order, then
    /// flushes.
    pub(crate) fn write(&mut self, tagger: &Tagger, format: Format, chunk: Chunk) -> Result<()> {
        self.stats.model_secs += chunk.model_secs;
        for t in &chunk.tagged {
            self.stats.windows += t.windows.len();
            self.stats.tokens += t.windows.iter().map(|w| w.ids.len()).sum::<usize>();
        }
        for t in chunk.long.iter().filter_map(|l| l.1.as_ref()) {
            self.stats.windows += t.windows;
            self.stats.tokens += t.tokens;
        }
        if chunk.slots.is_empty() {
            return Ok(());
        }
        let mut long = chunk.long;
        // A long text line's entities stay spilled when the printer writes them as they come.
        let streamed: Vec<bool> = chunk
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Good(r) => {
                    Some(matches!(r, Record::Text { .. }) && format.streams_entities())
                }
                _ => None,
            })
            .collect();
        let (results, spills): (Vec<JobResult>, Vec<Option<EntitySpill>>) = chunk
            .jobs
            .par_iter()
            .zip(chunk.tagged.par_iter())
            .zip(long.par_iter_mut())
            .zip(&streamed)
            .map(|(((job, t), l), &streamed)| match l.1.take() {
                Some(l) => {
                    let (entities, spill) = match streamed {
                        true => (Vec::new(), Some(l.entities)),
                        false => (l.entities.into_vec()?, None),
                    };
                    let word_labels = l.word_labels;
                    Ok((
                        JobResult {
                            entities,
                            word_labels,
                        },
                        spill,
                    ))
                }
                None => Ok((tagger.decode_job(job, t), None)),
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        let tagged = finish_jobs(tagger, chunk.jobs, results, format, self.filter)?;
        let mut tagged = tagged.iter();
        let mut spills = spills.into_iter();
        for slot in &chunk.slots {
            let rec = match slot {
                Slot::Good(rec) => rec,
                Slot::Bad(bad) => {
                    let raw = self.raw_names.get(self.source).and_then(Option::as_deref);
                    self.printer.error(&ErrorRecord {
                        file: self.with_file.then_some(bad.name.as_str()),
                        file_bytes: raw.filter(|_| self.with_file),
                        line: bad.line,
                        msg: &bad.msg,
                        object: bad.object.as_deref(),
                    })?;
                    self.stats.lines += 1;
                    continue;
                }
                Slot::End(n) => {
                    self.source = n + 1;
                    self.printer.end_source(*n)?;
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
                file: self.with_file.then(|| self.names[rec.source()].as_str()),
                file_bytes: self.raw_names[rec.source()]
                    .as_deref()
                    .filter(|_| self.with_file),
                line: rec.line(),
                text: &t.job.text,
                entities: &t.result.entities,
                words: &t.words,
                input,
                framing: match rec {
                    Record::Text { framing, .. } => *framing,
                    _ => Default::default(),
                },
            };
            if let Some(spill) = spills.next().expect("one per good record") {
                let (filter, aggregation) = (self.filter, tagger.aggregation);
                let stats = &mut self.stats;
                let mut entities = spill
                    .into_entities()?
                    .filter(|e| e.as_ref().map_or(true, |e| filter.keeps(e, aggregation)))
                    .inspect(|e| {
                        if let Ok(e) = e {
                            stats.count_entity(e);
                        }
                    });
                self.printer.record_streamed(&record, &mut entities)?;
                self.stats.lines += 1;
                continue;
            }
            self.printer.record(&record)?;
            self.stats.lines += 1;
            for e in &t.result.entities {
                self.stats.count_entity(e);
            }
        }
        self.printer.flush()?;
        let secs = self.started.elapsed().as_secs_f64();
        self.progress
            .tagged(self.stats.lines, self.stats.entities, secs);
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<RunStats> {
        self.printer.finish()?;
        let mut stats = self.stats;
        stats.wall_secs = self.started.elapsed().as_secs_f64();
        Ok(stats)
    }
}

/// What tagging one record produced, ready for the printer.
struct Tagged<'t> {
    job: Job<'static>,
    result: JobResult,
    /// Character spans of the words CoNLL output lists.
    words: Vec<(usize, usize)>,
    word_tags: Vec<&'t str>,
}

/// Pairs each job with its result (the entities `filter` keeps) and the words CoNLL output lists.
fn finish_jobs<'t>(
    tagger: &'t Tagger,
    jobs: Vec<Job<'static>>,
    results: Vec<JobResult>,
    format: Format,
    filter: &Filter,
) -> Result<Vec<Tagged<'t>>> {
    jobs.into_par_iter()
        .zip(results)
        .map(|(mut job, mut result)| {
            if !filter.is_empty() {
                result
                    .entities
                    .retain(|e| filter.keeps(e, tagger.aggregation));
            }
            let words = match job.words.take() {
                Some(w) => w,
                // The pipeline's strategies: CoNLL output lists the tokenizer's words.
                None if format == Format::Conll => tagger.tokenizer.words(&job.text)?,
                // spaCy / Prodigy tokens: the words word mode splits a line into.
                None if matches!(format, Format::Spans | Format::Spacy) => {
                    crate::split::split_words(&job.text)
                }
                None => Vec::new(),
            };
            let mut word_tags = result
                .word_labels
                .as_deref()
                .map_or_else(Vec::new, |l| decode::words::word_tags(tagger.labels(), l));
            if !filter.is_empty() {
                // A word of an entity filtered out is tagged `O`; kept entities keep their tags.
                for (tag, &(ws, we)) in word_tags.iter_mut().zip(&words) {
                    let kept = result.entities.iter().any(|e| e.start < we && ws < e.end);
                    if *tag != "O" && !kept {
                        *tag = "O";
                    }
                }
            }
            Ok(Tagged {
                job,
                result,
                words,
                word_tags,
            })
        })
        .collect()
}
