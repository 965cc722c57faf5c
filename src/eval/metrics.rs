//! Evaluate stage: counts gold and predicted chunks and tags, as conlleval does, and turns them
//! into precision / recall / F1 per type and overall.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::chunks::chunks;

/// Per-type chunk counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Chunks in the gold data ("phrases").
    pub gold: usize,
    /// Chunks predicted ("found").
    pub found: usize,
    /// Predicted chunks with the same type, start and end as a gold chunk.
    pub correct: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.found)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.gold)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Everything conlleval counts over a corpus.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Natural texts scored by character spans (`eval --raw`); tokens and tag accuracy then
    /// stay 0, as the predicted words need not be the gold tokens.
    pub texts: usize,
    pub tokens: usize,
    pub correct_tags: usize,
    pub overall: Counts,
    pub by_type: BTreeMap<String, Counts>,
}

impl Evaluation {
    /// Adds one sentence's gold and predicted tags (same length).
    pub fn add<S: AsRef<str>, T: AsRef<str>>(&mut self, gold: &[S], pred: &[T]) {
        debug_assert_eq!(gold.len(), pred.len());
        self.tokens += gold.len();
        self.correct_tags += gold
            .iter()
            .zip(pred)
            .filter(|(g, p)| g.as_ref() == p.as_ref())
            .count();
        self.count(chunks(gold), chunks(pred));
    }

    /// Adds one natural text's gold and predicted entities, `(type, start, end)` in characters:
    /// a prediction is correct when type, start and end all match a gold entity.
    pub fn add_spans(
        &mut self,
        gold: Vec<(String, usize, usize)>,
        pred: Vec<(String, usize, usize)>,
    ) {
        self.texts += 1;
        self.count(gold, pred);
    }

    fn count(&mut self, gold: Vec<(String, usize, usize)>, pred: Vec<(String, usize, usize)>) {
        let g: BTreeSet<_> = gold.into_iter().collect();
        let p: BTreeSet<_> = pred.into_iter().collect();
        for (kind, _, _) in &g {
            self.by_type.entry(kind.clone()).or_default().gold += 1;
        }
        for (kind, _, _) in &p {
            self.by_type.entry(kind.clone()).or_default().found += 1;
        }
        for (kind, _, _) in g.intersection(&p) {
            self.by_type.entry(kind.clone()).or_default().correct += 1;
        }
        self.overall = self
            .by_type
            .values()
            .fold(Counts::default(), |a, c| Counts {
                gold: a.gold + c.gold,
                found: a.found + c.found,
                correct: a.correct + c.correct,
            });
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.correct_tags, self.tokens)
    }

    /// Unweighted mean over types of (precision, recall, F1).
    pub fn macro_avg(&self) -> (f64, f64, f64) {
        let n = self.by_type.len().max(1) as f64;
        let sum = self.by_type.values().fold((0.0, 0.0, 0.0), |a, c| {
            (a.0 + c.precision(), a.1 + c.recall(), a.2 + c.f1())
        });
        (sum.0 / n, sum.1 / n, sum.2 / n)
    }

    /// Mean over types weighted by gold support.
    pub fn weighted_avg(&self) -> (f64, f64, f64) {
        let total = self.overall.gold.max(1) as f64;
        let sum = self.by_type.values().fold((0.0, 0.0, 0.0), |a, c| {
            let w = c.gold as f64;
            (
                a.0 + w * c.precision(),
                a.1 + w * c.recall(),
                a.2 + w * c.f1(),
            )
        });
        (sum.0 / total, sum.1 / total, sum.2 / total)
    }
}
