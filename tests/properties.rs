//! Property tests: for arbitrary Unicode lines every entity is well-formed, and tag decoding
//! never panics and round-trips IOB2.

mod common;

use std::sync::OnceLock;

use ner_tag::decode::{tags, Aggregation, Scheme};
use ner_tag::eval::chunks::chunks;
use ner_tag::job::Job;
use ner_tag::pipeline::{load_tagger, TagOptions};
use ner_tag::runtime::Runtime;
use ner_tag::split::split_words;
use ner_tag::tagger::Tagger;
use proptest::prelude::*;

fn tagger() -> &'static Tagger {
    static T: OnceLock<Tagger> = OnceLock::new();
    T.get_or_init(|| {
        let opts = TagOptions {
            stride: Some(12),
            batch_size: 8,
            aggregation: Aggregation::Simple,
            ..TagOptions::default()
        };
        load_tagger(&common::fixture_model("tiny-bert"), &Runtime::cpu(), &opts).unwrap()
    })
}

/// Lines mixing ASCII, accents, combining marks, CJK, emoji, controls and whitespace.
fn line() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[a-zA-Z]{1,12}",
            Just(" ".to_string()),
            Just("\t".to_string()),
            "[.,;:!?'\"()-]",
            "\\PC{1,4}",
            Just("e\u{301}".to_string()),
            Just("👨\u{200d}👩\u{200d}👧".to_string()),
            Just("東京".to_string()),
            Just("\u{0}".to_string()),
            Just("[SEP]".to_string()),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn entities_are_well_formed(text in line()) {
        let t = tagger();
        let windows = vec![t.tokenizer.windows(&text).unwrap()];
        let tagged = t.run_model(windows).unwrap();
        let chars: Vec<char> = text.chars().collect();
        for aggregation in [Aggregation::None, Aggregation::Simple, Aggregation::First, Aggregation::Average, Aggregation::Max] {
            let ents = t.decode(&text, &tagged[0], aggregation);
            let mut last_end = 0;
            for e in &ents {
                prop_assert!(e.start < e.end && e.end <= chars.len(), "{e:?} in {} chars", chars.len());
                prop_assert!(e.start >= last_end, "overlapping or unsorted: {ents:?}");
                prop_assert!(e.score.is_finite() && e.score > 0.0 && e.score <= 1.0 + 1e-6);
                last_end = e.end;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The word splitter: sorted, non-empty, whitespace-free words covering every other character once.
    #[test]
    fn split_words_partition_the_non_space_text(text in line()) {
        let chars: Vec<char> = text.chars().collect();
        let words = split_words(&text);
        let mut last = 0;
        for &(s, e) in &words {
            prop_assert!(last <= s && s < e && e <= chars.len(), "{words:?}");
            prop_assert!(chars[last..s].iter().all(|c| c.is_whitespace()));
            prop_assert!(!chars[s..e].iter().any(|c| c.is_whitespace()));
            last = e;
        }
        prop_assert!(chars[last..].iter().all(|c| c.is_whitespace()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Word mode (the default) on arbitrary text: entities sorted, non-overlapping, inside the
    /// line, starting and ending on word boundaries, scores in (0, 1].
    #[test]
    fn word_mode_entities_are_well_formed(text in line()) {
        let t = tagger();
        let job = Job::text(&text, Aggregation::Word);
        let words = job.words.clone().unwrap();
        let result = t.tag_jobs(std::slice::from_ref(&job)).unwrap().remove(0);
        let chars = text.chars().count();
        prop_assert_eq!(result.word_labels.as_ref().map(Vec::len), Some(words.len()));
        let mut last_end = 0;
        for e in &result.entities {
            prop_assert!(e.start < e.end && e.end <= chars, "{e:?} in {chars} chars");
            prop_assert!(e.start >= last_end, "overlapping or unsorted: {:?}", result.entities);
            prop_assert!(words.iter().any(|w| w.0 == e.start) && words.iter().any(|w| w.1 == e.end));
            prop_assert!(e.score.is_finite() && e.score > 0.0 && e.score <= 1.0 + 1e-6);
            last_end = e.end;
        }
    }
}

/// Any IOB2 tag sequence over a small label set.
fn iob2_tags() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            Just("O"),
            Just("B-PER"),
            Just("I-PER"),
            Just("B-LOC"),
            Just("I-LOC")
        ]
        .prop_map(str::to_string),
        0..40,
    )
}

/// Writes spans back as canonical IOB2: B- on the first token of each entity, I- after.
fn encode(n: usize, spans: &[(&str, usize, usize)]) -> Vec<String> {
    let mut out = vec!["O".to_string(); n];
    for (kind, a, b) in spans {
        for (i, tag) in out.iter_mut().enumerate().take(b + 1).skip(*a) {
            *tag = format!("{}-{kind}", if i == *a { "B" } else { "I" });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn iob2_round_trips(seq in iob2_tags()) {
        let spans = tags::spans(&seq, Scheme::Iob2);
        let canonical = encode(seq.len(), &spans);
        // Decoding the canonical form gives the same entities, and encoding it again changes nothing.
        prop_assert_eq!(tags::spans(&canonical, Scheme::Iob2), spans.clone());
        let again = encode(canonical.len(), &tags::spans(&canonical, Scheme::Iob2));
        prop_assert_eq!(&again, &canonical);
        // The evaluation chunker (conlleval rules) finds the same entities.
        let from_eval: Vec<(String, usize, usize)> = chunks(&seq);
        let from_decoder: Vec<(String, usize, usize)> = spans.iter().map(|(k, a, b)| (k.to_string(), *a, *b)).collect();
        prop_assert_eq!(from_eval, from_decoder);
    }

    #[test]
    fn decoding_any_strings_never_panics(seq in proptest::collection::vec("\\PC{0,6}", 0..30)) {
        for scheme in [Scheme::Iob2, Scheme::Iob1, Scheme::Io, Scheme::Bioes, Scheme::Bilou] {
            let spans = tags::spans(&seq, scheme);
            for (_, a, b) in spans {
                prop_assert!(a <= b && b < seq.len());
            }
        }
        let _ = chunks(&seq);
        let _ = Scheme::detect(&seq);
    }
}
