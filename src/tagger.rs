//! The tagger: a loaded model, its tokenizer and decoding settings, taking jobs through
//! tokenize → batch → model → decode. Holds no per-run state.

use std::path::Path;

use rayon::prelude::*;

use crate::batch::{self, BatchPolicy, TaggedLine};
use crate::config::TagOptions;
use crate::decode::{aggregate, words, Aggregation, DecodeContext, Entity, Scheme};
use crate::error::{Error, Result};
use crate::job::{Job, JobResult};
use crate::long_line::{LongTagged, Stages, StreamLimits};
use crate::model::{Checkpoint, TokenClassifier};
use crate::runtime::{Backend, Runtime};
use crate::tokenize::{TextTokenizer, Window};

pub struct Tagger {
    pub model: TokenClassifier,
    pub tokenizer: TextTokenizer,
    pub scheme: Scheme,
    pub aggregation: Aggregation,
    pub batching: BatchPolicy,
    /// Which lines are tagged as a stream of windows ([`crate::long_line`]), in which pieces.
    pub stream: StreamLimits,
}

/// Loads a checkpoint directory and checks that its parts fit together.
pub fn load_tagger(dir: &Path, rt: &Runtime, opts: &TagOptions) -> Result<Tagger> {
    load_checkpoint(&Checkpoint::Dir(dir.to_path_buf()), rt, opts)
}

/// Loads a checkpoint directory or the built-in model and checks that its parts fit together.
pub fn load_checkpoint(ckpt: &Checkpoint, rt: &Runtime, opts: &TagOptions) -> Result<Tagger> {
    let model = TokenClassifier::load_checkpoint(ckpt, rt)?;
    let (mut tokenizer, info) = match ckpt {
        Checkpoint::Dir(dir) => TextTokenizer::load(dir)?,
        Checkpoint::BuiltIn => {
            let b = crate::model::bundled::bundled()?;
            TextTokenizer::from_bytes(b.tokenizer, b.tokenizer_config)?
        }
    };
    let dir = ckpt.display();
    let cfg = model.config();
    if tokenizer.max_id() as usize >= cfg.vocab_size {
        return Err(Error::model_file(
            &dir,
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
    tokenizer.set_windows(max_tokens, opts.stride, opts.max_length.is_some())?;
    let scheme = Scheme::detect(&cfg.labels);
    let batch_size = opts.batch_size.max(1);
    Ok(Tagger {
        model,
        tokenizer,
        scheme,
        aggregation: opts.aggregation,
        batching: BatchPolicy {
            batch_size,
            // Unpadded on the native backend: 2,048 real tokens keep the matrix products
            // efficient and each thread's activations near 40 MB for base-sized models.
            max_batch_tokens: batch_size
                * if rt.backend == Backend::Native {
                    64
                } else {
                    128
                },
            parallel_batches: rt.parallel_batches(),
        },
        stream: StreamLimits::default(),
    })
}

impl Tagger {
    pub fn labels(&self) -> &[String] {
        &self.model.config().labels
    }

    pub fn context(&self) -> DecodeContext<'_> {
        self.context_with(self.aggregation)
    }

    fn context_with(&self, aggregation: Aggregation) -> DecodeContext<'_> {
        DecodeContext {
            labels: self.labels(),
            scheme: self.scheme,
            subword_prefix: self.tokenizer.subword_prefix(),
            unk_id: self.tokenizer.unk_id(),
            aggregation,
        }
    }

    /// Runs windows through the model in batches; probabilities grouped by line, in order.
    pub fn run_model(&self, windows: Vec<Vec<Window>>) -> Result<Vec<TaggedLine>> {
        self.run_model_until(windows, &|| false)
    }

    /// [`Tagger::run_model`], asking `stop` before each batch (on CPU): once it says so, the
    /// run ends with [`crate::error::Error::Interrupted`].
    pub fn run_model_until(
        &self,
        windows: Vec<Vec<Window>>,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<Vec<TaggedLine>> {
        batch::run_model(&self.model, &self.batching, windows, stop)
    }

    /// Entities of a line whose windows have been through the model, decoded with one of the
    /// pipeline's strategies (one model run can be decoded with every strategy).
    pub fn decode(&self, line: &str, tagged: &TaggedLine, aggregation: Aggregation) -> Vec<Entity> {
        let chars: Vec<char> = line.chars().collect();
        aggregate::decode_line(&self.context_with(aggregation), &chars, &tagged.pairs())
    }

    /// Tags lines with the pipeline's strategies (the tokenizer decides what a word is).
    pub fn tag(&self, lines: &[&str]) -> Result<Vec<Vec<Entity>>> {
        let jobs: Vec<Job> = lines
            .iter()
            .map(|l| Job {
                text: (*l).into(),
                words: None,
            })
            .collect();
        Ok(self
            .tag_jobs(&jobs)?
            .into_iter()
            .map(|r| r.entities)
            .collect())
    }

    /// Tags a chunk of jobs: tokenize in parallel, one model run over all their windows, decode
    /// in parallel. Jobs with words get one label per word (from its first sub-token, or the mean /
    /// most confident one with `average` / `max`) and entities over whole words.
    pub fn tag_jobs(&self, jobs: &[Job]) -> Result<Vec<JobResult>> {
        let tagged = self.run_model(self.windows(jobs)?)?;
        Ok(self.decode_jobs(jobs, &tagged))
    }

    /// The tokenize stage of [`Tagger::tag_jobs`]: each job's windows, in parallel.
    pub fn windows(&self, jobs: &[Job]) -> Result<Vec<Vec<Window>>> {
        jobs.par_iter().map(|job| self.job_windows(job)).collect()
    }

    /// One job's windows.
    pub fn job_windows(&self, job: &Job) -> Result<Vec<Window>> {
        match job.word_strs() {
            Some(words) => self.tokenizer.windows_of_words(&words),
            None => self.tokenizer.windows(&job.text),
        }
    }

    /// The decode stage of [`Tagger::tag_jobs`]: jobs whose windows have been through the model.
    pub fn decode_jobs(&self, jobs: &[Job], tagged: &[TaggedLine]) -> Vec<JobResult> {
        jobs.par_iter()
            .zip(tagged.par_iter())
            .map(|(job, t)| self.decode_job(job, t))
            .collect()
    }

    /// [`Tagger::decode_jobs`] for one job.
    pub fn decode_job(&self, job: &Job, t: &TaggedLine) -> JobResult {
        let ctx = self.context();
        match &job.words {
            Some(spans) => {
                let labels = words::word_labels(&ctx, spans.len(), &t.pairs());
                JobResult {
                    entities: words::word_entities(&ctx, spans, &labels),
                    word_labels: Some(labels),
                }
            }
            None => JobResult {
                entities: self.decode(&job.text, t, self.aggregation),
                word_labels: None,
            },
        }
    }

    /// Whether a text line is tagged as a stream ([`Tagger::tag_long`]) rather than whole.
    pub fn is_long(&self, text: &str) -> bool {
        text.len() > self.stream.long_line_bytes
    }

    /// Tags one text line a group of windows at a time ([`crate::long_line`]): the entities
    /// [`Tagger::tag_jobs`] finds for `Job::text(text, aggregation)`, in bounded memory. With
    /// `keep_words`, every word too (and its label, in word mode: [`crate::long_line::tag_line`]). `stop` is asked between segments
    /// and batches; once it says so, this ends with [`Error::Interrupted`].
    pub fn tag_long(
        &self,
        text: &str,
        keep_words: bool,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<LongTagged> {
        let stages = Stages {
            tokenizer: &self.tokenizer,
            model: &self.model,
            policy: &self.batching,
            ctx: self.context(),
            limits: self.stream,
        };
        let word_mode = self.aggregation == Aggregation::Word;
        crate::long_line::tag_line(&stages, text, word_mode, keep_words, stop)
    }

    /// Every window [`Tagger::tag_long`] runs for `text`, in order (`words`: word mode).
    pub fn stream_windows(&self, text: &str, words: bool) -> Result<Vec<Window>> {
        let segment = self.stream.segment_bytes;
        crate::windows::WindowStream::new(&self.tokenizer, text, words, segment).collect_all()
    }
}
