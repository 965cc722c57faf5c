//! End-to-end parity with `../shared/reference`: what the `transformers` pipeline outputs with
//! the real CoNLL-03 checkpoints of `../shared/models` on every CoNLL-2003 validation sentence.
//! What README claims: every line identical (3,250/3,250, and every 40-sentence document), scores
//! within 5e-5 (measured: up to 9.3e-6; other CPUs' SIMD paths round the last bits differently).
//! `../shared` missing fails these tests (see `common::shared`).

mod common;

use ner_tag::decode::Aggregation;
use ner_tag::pipeline::{load_tagger, TagOptions};
use ner_tag::runtime::Runtime;
use serde_json::Value;

/// Tags the reference's texts once and checks each strategy's decoding against its file.
fn check(model: &str, reference_prefix: &str, strategies: &[(&str, Aggregation)]) {
    let Some(shared) = common::shared() else {
        eprintln!("SKIPPED: ../shared is not on this machine, so {reference_prefix} parity was not checked");
        return;
    };
    let opts = TagOptions {
        stride: Some(128),
        batch_size: 32,
        ..TagOptions::default()
    };
    let t = load_tagger(&shared.join("models").join(model), &Runtime::cpu(), &opts).unwrap();
    let first = common::read_jsonl(&shared.join(format!(
        "reference/{reference_prefix}.{}.jsonl",
        strategies[0].0
    )));
    let lines: Vec<String> = first
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    let windows = lines
        .iter()
        .map(|l| t.tokenizer.windows(l).unwrap())
        .collect();
    let tagged = t.run_model(windows).unwrap();
    for (strategy, aggregation) in strategies {
        let reference = common::read_jsonl(
            &shared.join(format!("reference/{reference_prefix}.{strategy}.jsonl")),
        );
        let got: Vec<Value> = lines
            .iter()
            .zip(&tagged)
            .enumerate()
            .map(|(i, (line, tl))| common::record(i, line, &t.decode(line, tl, *aggregation)))
            .collect();
        let p = common::parity(&reference, &got);
        eprintln!(
            "{model} {reference_prefix}.{strategy}: {}/{} lines identical ({:.3} %), max score diff {:.2e}",
            p.identical,
            p.lines,
            100.0 * p.rate(),
            p.max_score_diff
        );
        assert!(p.lines > 0, "{model} {strategy}: empty reference");
        assert_eq!(
            p.identical,
            p.lines,
            "{model} {strategy}: {}",
            p.first_mismatch.unwrap_or_default()
        );
        assert!(
            p.max_score_diff <= 5e-5,
            "{model} {strategy}: score diff {}",
            p.max_score_diff
        );
    }
}

#[test]
fn bert_valid_all_strategies() {
    check(
        "bert-minilm-conll03",
        "bert-valid",
        &[
            ("none", Aggregation::None),
            ("simple", Aggregation::Simple),
            ("first", Aggregation::First),
            ("average", Aggregation::Average),
            ("max", Aggregation::Max),
        ],
    );
}

#[test]
fn distilbert_valid_simple() {
    check(
        "distilbert-minilm-conll03",
        "distilbert-valid",
        &[("simple", Aggregation::Simple)],
    );
}

#[test]
fn xlmr_valid_simple() {
    check(
        "xlmr-minilm-conll03",
        "xlmr-valid",
        &[("simple", Aggregation::Simple)],
    );
}

#[test]
fn bert_long_documents_windowed_with_stride_128() {
    check(
        "bert-minilm-conll03",
        "bert-valid-docs40",
        &[
            ("first", Aggregation::First),
            ("simple", Aggregation::Simple),
        ],
    );
}
