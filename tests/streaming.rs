//! Long lines as streams: a line tokenized a segment at a time gives the windows of the whole
//! line, and tagged a group of windows at a time the entities of tagging it whole — for every
//! tokenizer family of the fixtures (BERT/DistilBERT/ELECTRA WordPiece, RoBERTa/ModernBERT
//! byte-level BPE, XLM-R/DeBERTa-v3 SentencePiece, slow-tokenizer files), with segments forced
//! down to a few bytes so that cuts fall everywhere: next to multi-byte and astral characters,
//! in runs of spaces, inside words longer than a segment.

mod common;

use ner_tag::config::TagOptions;
use ner_tag::decode::{Aggregation, Entity};
use ner_tag::job::Job;
use ner_tag::long_line::StreamLimits;
use ner_tag::runtime::Runtime;
use ner_tag::tagger::load_tagger;
use ner_tag::tokenize::{TextTokenizer, Window};
use ner_tag::windows::WindowStream;

/// Every fixture tokenizer directory (the models, and `tiny-camembert-spm`'s files alone).
fn tokenizer_dirs() -> Vec<&'static str> {
    let mut dirs = common::FIXTURE_MODELS.to_vec();
    dirs.push("tiny-camembert-spm");
    dirs
}

/// Fixture tokenizers whose `tokenizer.json` one family or another: each must stream.
const MUST_STREAM: &[&str] = &[
    "tiny-bert",
    "tiny-distilbert-f16",
    "tiny-electra",
    "tiny-roberta-bpe",
    "tiny-roberta-bpe-prefix",
    "tiny-roberta-bpe-untrimmed",
    "tiny-modernbert",
    "tiny-xlmr-unigram",
    "tiny-deberta-v3",
];

/// Lines that put cut points next to everything a tokenizer could get wrong.
fn lines() -> Vec<String> {
    let inputs = std::fs::read_to_string(common::root().join("tests/fixtures/inputs.txt")).unwrap();
    let joined: String = inputs.lines().collect::<Vec<_>>().join(" ");
    vec![
        joined.clone(),
        format!("  {joined}   "),
        "Peter Smith lives in Berlin . ".repeat(12),
        "a  b   c    d 😀 😀😀 e\u{301} \u{301}x 𝔘𝔫𝔦 中文 字 é\té\u{a0}é x".repeat(3),
        format!(
            "{} Berlin {} end",
            "Donaudampfschifffahrt".repeat(4),
            "ü".repeat(30)
        ),
        "<mask> [MASK] <s> x</s> [CLS]Berlin [SEP] <unk> ".repeat(3),
        "x \u{600} y \u{200b} z \u{0} w \u{1f}q U.S. Inc. ... 'em don't \"q\" (a) $5 1.".repeat(2),
        " ".repeat(9),
        "Berlin".to_string(),
        String::new(),
    ]
}

/// A window's fields, to compare.
type Fields<'w> = (
    &'w [u32],
    &'w [(usize, usize)],
    &'w [bool],
    &'w [String],
    &'w [Option<u32>],
);

fn key(w: &Window) -> Fields<'_> {
    (&w.ids, &w.offsets, &w.special, &w.tokens, &w.words)
}

fn assert_same(got: &[Window], want: &[Window], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: window count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(key(g), key(w), "{what}: window {i}");
    }
}

#[test]
fn streamed_windows_are_the_windows_of_the_whole_line() {
    for name in tokenizer_dirs() {
        let dir = common::fixture_model(name);
        let (mut tok, _) = TextTokenizer::load(&dir).unwrap();
        eprintln!(
            "{name}: long lines {}",
            match tok.whole_lines() {
                None => "stream".to_string(),
                Some(why) => format!("are tokenized whole: {why}"),
            }
        );
        if MUST_STREAM.contains(&name) {
            assert_eq!(tok.whole_lines(), None, "{name}");
        }
        for (max, stride) in [(12, Some(3)), (9, Some(0)), (40, None)] {
            tok.set_windows(max, stride, true).unwrap();
            for line in lines() {
                let words = ner_tag::split::split_words(&line);
                let job = Job::text(&line, Aggregation::Word);
                let strs = job.word_strs().unwrap();
                assert_eq!(job.words.as_ref().unwrap(), &words);
                let whole = tok.windows(&line).unwrap();
                let whole_words = tok.windows_of_words(&strs).unwrap();
                for segment in [1, 2, 3, 5, 8, 13, 64, 1 << 20] {
                    let what = format!("{name} max {max} segment {segment} {line:?}");
                    let text = WindowStream::new(&tok, &line, false, segment).collect_all();
                    assert_same(&text.unwrap(), &whole, &what);
                    let mut stream = WindowStream::new(&tok, &line, true, segment);
                    let mut got = Vec::new();
                    let mut spans = Vec::new();
                    while !stream.is_done() {
                        got.extend(stream.next_windows().unwrap());
                        spans.extend(stream.take_spans());
                    }
                    assert_same(&got, &whole_words, &format!("{what} (words)"));
                    assert_eq!(spans, words, "{what}: word spans");
                }
            }
        }
    }
}

fn close(got: &[Entity], want: &[Entity], what: &str) {
    let strip = |es: &[Entity]| -> Vec<(String, usize, usize)> {
        es.iter()
            .map(|e| (e.label.clone(), e.start, e.end))
            .collect()
    };
    assert_eq!(strip(got), strip(want), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.score - w.score).abs() < 1e-5, "{what}: {g:?} vs {w:?}");
    }
}

#[test]
fn streamed_lines_have_the_entities_of_the_whole_line() {
    let never = || false;
    for name in common::FIXTURE_MODELS {
        let dir = common::fixture_model(name);
        for aggregation in [
            Aggregation::Word,
            Aggregation::None,
            Aggregation::Simple,
            Aggregation::First,
            Aggregation::Average,
            Aggregation::Max,
        ] {
            let opts = TagOptions {
                aggregation,
                max_length: Some(14),
                stride: Some(4),
                ..TagOptions::default()
            };
            let mut tagger = load_tagger(&dir, &Runtime::cpu(), &opts).unwrap();
            for line in lines() {
                let want = tagger.tag_jobs(&[Job::text(&line, aggregation)]).unwrap();
                let want = &want[0];
                for (segment, group) in [(1, 1), (4, 30), (16, 7), (1 << 20, 0)] {
                    tagger.stream = StreamLimits {
                        long_line_bytes: 0,
                        segment_bytes: segment,
                        group_tokens: group,
                    };
                    let what =
                        format!("{name} {aggregation:?} segment {segment} group {group} {line:?}");
                    let mut got = tagger.tag_long(&line, true, &never).unwrap();
                    let entities = std::mem::take(&mut got.entities).into_vec().unwrap();
                    close(&entities, &want.entities, &what);
                    if aggregation == Aggregation::Word {
                        let labels = got.word_labels.as_ref().unwrap();
                        let want_labels = want.word_labels.as_ref().unwrap();
                        let tags =
                            |l: &[Option<ner_tag::decode::WordLabel>]| -> Vec<Option<usize>> {
                                l.iter().map(|w| w.map(|w| w.tag)).collect()
                            };
                        assert_eq!(tags(labels), tags(want_labels), "{what}: word labels");
                        assert_eq!(
                            got.words.as_deref(),
                            Some(&ner_tag::split::split_words(&line)[..])
                        );
                    } else {
                        // CoNLL output's words: the tokenizer's words of the whole line.
                        let want_words = tagger.tokenizer.words(&line).unwrap();
                        assert_eq!(got.words.as_deref(), Some(&want_words[..]), "{what}: words");
                    }
                    let windows = tagger.stream_windows(&line, aggregation == Aggregation::Word);
                    let n = windows
                        .unwrap()
                        .iter()
                        .filter(|w| !w.ids.is_empty())
                        .count();
                    assert_eq!(got.windows, n, "{what}: windows run");
                }
            }
        }
    }
}

/// A stop request ends a long line between two segments or batches, with nothing returned.
#[test]
fn a_stop_request_ends_a_long_line() {
    let dir = common::fixture_model("tiny-bert");
    let mut tagger = load_tagger(&dir, &Runtime::cpu(), &TagOptions::default()).unwrap();
    tagger.stream.segment_bytes = 64;
    let line = "Peter Smith lives in Berlin . ".repeat(2_000);
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let stop = || asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 5;
    let err = tagger.tag_long(&line, false, &stop).err();
    assert!(matches!(err, Some(ner_tag::Error::Interrupted)), "{err:?}");
    assert!(asked.load(std::sync::atomic::Ordering::Relaxed) >= 6);
}
