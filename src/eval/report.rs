//! Evaluate stage: prints an [`Evaluation`] in conlleval's layout, seqeval's classification
//! report layout, or as JSON for CI gates.

use std::fmt::Write;

use serde_json::json;

use super::metrics::Evaluation;

/// conlleval's report, to the character.
pub fn conlleval(e: &Evaluation) -> String {
    let o = &e.overall;
    let what = if e.texts > 0 && e.tokens == 0 {
        format!("{} texts (exact character spans)", e.texts)
    } else {
        format!("{} tokens", e.tokens)
    };
    let mut s = format!(
        "processed {what} with {} phrases; found: {} phrases; correct: {}.\n",
        o.gold, o.found, o.correct
    );
    if e.tokens == 0 && e.texts > 0 {
        let _ = writeln!(
            s,
            "precision: {:6.2}%; recall: {:6.2}%; FB1: {:6.2}",
            100.0 * o.precision(),
            100.0 * o.recall(),
            100.0 * o.f1()
        );
    } else if e.tokens > 0 {
        let _ = writeln!(
            s,
            "accuracy: {:6.2}%; precision: {:6.2}%; recall: {:6.2}%; FB1: {:6.2}",
            100.0 * e.accuracy(),
            100.0 * o.precision(),
            100.0 * o.recall(),
            100.0 * o.f1()
        );
    }
    for (kind, c) in &e.by_type {
        let _ = writeln!(
            s,
            "{kind:>17}: precision: {:6.2}%; recall: {:6.2}%; FB1: {:6.2}  {}",
            100.0 * c.precision(),
            100.0 * c.recall(),
            100.0 * c.f1(),
            c.found
        );
    }
    s
}

/// seqeval's `classification_report(digits=4)` layout.
pub fn seqeval(e: &Evaluation) -> String {
    let digits = 4;
    let width = e
        .by_type
        .keys()
        .map(|k| k.chars().count())
        .chain([12, digits])
        .max()
        .unwrap_or(12);
    let mut s = format!(
        "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n",
        "", "precision", "recall", "f1-score", "support"
    );
    let row = |s: &mut String, name: &str, p: f64, r: f64, f: f64, n: usize| {
        let _ = writeln!(
            s,
            "{name:>width$}  {p:>9.digits$} {r:>9.digits$} {f:>9.digits$} {n:>9}"
        );
    };
    for (kind, c) in &e.by_type {
        row(&mut s, kind, c.precision(), c.recall(), c.f1(), c.gold);
    }
    s.push('\n');
    let o = &e.overall;
    let n = o.gold;
    row(&mut s, "micro avg", o.precision(), o.recall(), o.f1(), n);
    let (p, r, f) = e.macro_avg();
    row(&mut s, "macro avg", p, r, f, n);
    let (p, r, f) = e.weighted_avg();
    row(&mut s, "weighted avg", p, r, f, n);
    s
}

/// A machine-readable metrics object.
pub fn json(e: &Evaluation) -> serde_json::Value {
    let per = |c: &super::metrics::Counts| {
        json!({"precision": c.precision(), "recall": c.recall(), "f1": c.f1(),
               "support": c.gold, "found": c.found, "correct": c.correct})
    };
    let (mp, mr, mf) = e.macro_avg();
    let (wp, wr, wf) = e.weighted_avg();
    json!({
        "tokens": e.tokens,
        "texts": e.texts,
        "accuracy": if e.tokens > 0 { json!(e.accuracy()) } else { json!(null) },
        "micro": per(&e.overall),
        "macro": {"precision": mp, "recall": mr, "f1": mf},
        "weighted": {"precision": wp, "recall": wr, "f1": wf},
        "types": e.by_type.iter().map(|(k, c)| (k.clone(), per(c))).collect::<serde_json::Map<_, _>>(),
    })
}
