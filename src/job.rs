//! Job stage: records → one shape of tagging job — a text, and the words to label one by one
//! when there are words (a CoNLL sentence's tokens, or raw text split by [`crate::split`]).

use std::borrow::Cow;

use crate::decode::{Aggregation, Entity, WordLabel};
use crate::records::Record;

/// What the tagger runs on: every record becomes one.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub text: Cow<'a, str>,
    /// Character spans of the words labelled one each (`is_split_into_words`); `None` when the
    /// pipeline's strategies tag the text through the tokenizer's own pre-tokenizer.
    pub words: Option<Vec<(usize, usize)>>,
}

/// What tagging a job produced.
#[derive(Debug, Clone, Default)]
pub struct JobResult {
    /// Entities in character offsets of the job's text.
    pub entities: Vec<Entity>,
    /// One label per word, for jobs with words (`None` for a word the tokenizer dropped).
    pub word_labels: Option<Vec<Option<WordLabel>>>,
}

impl<'a> Job<'a> {
    /// Raw text: split into treebank words with `word` aggregation, else left to the tokenizer.
    pub fn text(text: &'a str, aggregation: Aggregation) -> Self {
        let words = (aggregation == Aggregation::Word).then(|| crate::split::split_words(text));
        Job {
            text: Cow::Borrowed(text),
            words,
        }
    }

    /// [`Job::text`] owning its text; `None`: no words yet (a long line, split as it streams).
    pub fn owned(text: String, aggregation: Option<Aggregation>) -> Job<'static> {
        let words =
            (aggregation == Some(Aggregation::Word)).then(|| crate::split::split_words(&text));
        Job {
            text: Cow::Owned(text),
            words,
        }
    }

    /// Pre-tokenized words, joined by single spaces into the job's text.
    pub fn tokens<S: AsRef<str>>(tokens: &[S]) -> Job<'static> {
        let mut text = String::new();
        let mut words = Vec::with_capacity(tokens.len());
        let mut at = 0;
        for (i, t) in tokens.iter().enumerate() {
            if i > 0 {
                text.push(' ');
                at += 1;
            }
            let t = t.as_ref();
            text.push_str(t);
            let n = t.chars().count();
            words.push((at, at + n));
            at += n;
        }
        Job {
            text: Cow::Owned(text),
            words: Some(words),
        }
    }

    pub fn from_record(rec: &'a Record, aggregation: Aggregation) -> Self {
        match rec {
            Record::Text { text, .. } | Record::Json { text, .. } => Job::text(text, aggregation),
            Record::Sentence { tokens, .. } => Job::tokens(tokens),
        }
    }

    /// The same job owning its text, to travel between the run loop's threads.
    pub fn into_owned(self) -> Job<'static> {
        Job {
            text: Cow::Owned(self.text.into_owned()),
            words: self.words,
        }
    }

    /// The words as slices of the text.
    pub fn word_strs(&self) -> Option<Vec<&str>> {
        let words = self.words.as_ref()?;
        let text: &str = &self.text;
        let bytes: Vec<usize> = text
            .char_indices()
            .map(|(b, _)| b)
            .chain([text.len()])
            .collect();
        Some(
            words
                .iter()
                .map(|&(s, e)| &text[bytes[s]..bytes[e]])
                .collect(),
        )
    }
}
