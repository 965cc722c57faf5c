//! Batch stage: windows of many lines → length-sorted batches under a token budget → model →
//! per-window label probabilities, returned in input order.

use rayon::prelude::*;

use crate::decode::{aggregate, words, Aggregation, DecodeContext, Entity, Scheme, WordLabel};
use crate::error::{Error, Result};
use crate::model::TokenClassifier;
use crate::tokenize::{TextTokenizer, Window};

/// A loaded model with its tokenizer and decoding settings: tags text, holds no per-run state.
pub struct Tagger {
    pub model: TokenClassifier,
    pub tokenizer: TextTokenizer,
    pub scheme: Scheme,
    pub aggregation: Aggregation,
    pub batch_size: usize,
    /// Tokens per forward pass (padded ones included where the backend pads), so a batch of long
    /// windows does not take more memory than a batch of short ones.
    pub max_batch_tokens: usize,
    /// Run whole batches in parallel (CPU), instead of one at a time (GPU).
    pub parallel_batches: bool,
}

/// The windows of one line and, once the model has run, their probabilities.
pub struct TaggedLine {
    pub windows: Vec<Window>,
    pub probs: Vec<Vec<f32>>,
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

    /// Entities of a line whose windows have been through the model, decoded with `aggregation`
    /// (one model run can be decoded with every strategy).
    pub fn decode(&self, line: &str, tagged: &TaggedLine, aggregation: Aggregation) -> Vec<Entity> {
        let chars: Vec<char> = line.chars().collect();
        let pairs: Vec<(&Window, &[f32])> = tagged
            .windows
            .iter()
            .zip(tagged.probs.iter().map(Vec::as_slice))
            .collect();
        aggregate::decode_line(&self.context_with(aggregation), &chars, &pairs)
    }

    /// Tags a chunk of lines: tokenize in parallel, run the model over sorted batches, decode in
    /// parallel. Entity offsets are in characters of each line.
    pub fn tag(&self, lines: &[&str]) -> Result<Vec<Vec<Entity>>> {
        let windows = lines
            .par_iter()
            .map(|l| self.tokenizer.windows(l))
            .collect::<Result<Vec<_>>>()?;
        let tagged = self.run_model(windows)?;
        Ok(lines
            .par_iter()
            .zip(tagged.par_iter())
            .map(|(line, t)| self.decode(line, t, self.aggregation))
            .collect())
    }

    /// One forward pass over a batch of windows; their probabilities, in batch order.
    fn forward_group(
        &self,
        group: &[(usize, usize, usize)],
        windows: &[&Vec<Window>],
        n_labels: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<&[u32]> = group
            .iter()
            .map(|&(_, l, w)| windows[l][w].ids.as_slice())
            .collect();
        let logits = self.model.forward(&ids)?;
        logits
            .iter()
            .map(|row| {
                if row.iter().any(|x| !x.is_finite()) {
                    return Err(Error::Model {
                        model: "forward pass".into(),
                        msg: "produced NaN/inf logits".into(),
                    });
                }
                Ok(aggregate::softmax_rows(row, n_labels))
            })
            .collect()
    }

    /// Tags pre-tokenized sentences: one label per given word (`None` for words the tokenizer
    /// dropped), decided by the word's first sub-token or per the aggregation strategy.
    pub fn tag_words(&self, sentences: &[Vec<&str>]) -> Result<Vec<Vec<Option<WordLabel>>>> {
        let windows = sentences
            .par_iter()
            .map(|words| self.tokenizer.windows_of_words(words))
            .collect::<Result<Vec<_>>>()?;
        let tagged = self.run_model(windows)?;
        let ctx = self.context();
        Ok(sentences
            .par_iter()
            .zip(tagged.par_iter())
            .map(|(words, t)| {
                let pairs: Vec<(&Window, &[f32])> = t
                    .windows
                    .iter()
                    .zip(t.probs.iter().map(Vec::as_slice))
                    .collect();
                words::word_labels(&ctx, words.len(), &pairs)
            })
            .collect())
    }

    /// Runs every window through the model, sorted by length so padding stays small.
    pub fn run_model(&self, windows: Vec<Vec<Window>>) -> Result<Vec<TaggedLine>> {
        let n_labels = self.labels().len();
        let mut jobs: Vec<(usize, usize, usize)> = windows
            .iter()
            .enumerate()
            .flat_map(|(l, ws)| {
                ws.iter()
                    .enumerate()
                    .map(move |(w, win)| (win.ids.len(), l, w))
            })
            .collect();
        jobs.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut out: Vec<TaggedLine> = windows
            .into_iter()
            .map(|ws| TaggedLine {
                probs: vec![Vec::new(); ws.len()],
                windows: ws,
            })
            .collect();
        // Cut the sorted jobs into batches: at most batch_size windows and max_batch_tokens padded tokens.
        let mut groups = Vec::new();
        let mut start = 0;
        while start < jobs.len() {
            let len = jobs[start].0.max(1);
            let rows = self
                .batch_size
                .min((self.max_batch_tokens / len).max(1))
                .min(jobs.len() - start);
            groups.push(&jobs[start..start + rows]);
            start += rows;
        }
        let windows: Vec<&Vec<Window>> = out.iter().map(|t| &t.windows).collect();
        let run = |group: &&[(usize, usize, usize)]| self.forward_group(group, &windows, n_labels);
        // On CPU, whole batches run side by side, each single-threaded inside candle: that keeps
        // both cores busy without candle's per-operation synchronisation, and makes results
        // independent of the thread count.
        let results: Vec<Vec<Vec<f32>>> = if self.parallel_batches {
            groups.par_iter().map(run).collect::<Result<_>>()?
        } else {
            groups.iter().map(run).collect::<Result<_>>()?
        };
        for (group, probs) in groups.iter().zip(results) {
            for (&(_, l, w), p) in group.iter().zip(probs) {
                out[l].probs[w] = p;
            }
        }
        Ok(out)
    }
}
