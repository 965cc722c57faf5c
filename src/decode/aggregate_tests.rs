//! Decode stage tests: the pipeline's aggregation strategies on hand-built tag sequences.

use super::*;

/// One single-letter word per tag (`a b c …`), scored 0.5, 0.51, 0.52, …, decoded with
/// `strategy`.
fn decode_tags(labels: &[&str], tags: &[usize], strategy: Aggregation) -> Vec<Entity> {
    let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    let n = labels.len();
    let letters: Vec<String> = (0..tags.len())
        .map(|i| char::from(b'a' + i as u8).to_string())
        .collect();
    let text = letters.join(" ");
    let window = Window {
        ids: (0..tags.len() as u32).collect(),
        offsets: (0..tags.len()).map(|i| (2 * i, 2 * i + 1)).collect(),
        special: vec![false; tags.len()],
        tokens: letters.clone(),
        words: (0..tags.len() as u32).map(Some).collect(),
    };
    let mut probs = Vec::new();
    for (i, &t) in tags.iter().enumerate() {
        let p = 0.5 + i as f32 / 100.0;
        probs.extend((0..n).map(|j| {
            if j == t {
                p
            } else {
                (1.0 - p) / (n - 1) as f32
            }
        }));
    }
    let ctx = DecodeContext {
        labels: &labels,
        scheme: Scheme::detect(&labels),
        subword_prefix: Some("##"),
        unk_id: None,
        aggregation: strategy,
    };
    let chars: Vec<char> = text.chars().collect();
    decode_line(&ctx, &chars, &[(&window, &probs[..])])
}

/// BIOES tags are grouped as the pipeline's `group_entities` groups them: its `get_tag`
/// knows only `B-`/`I-`, so `E-PER` and `S-PER` are inside tags of types "E-PER" and
/// "S-PER", which continue only themselves. Expected values printed by transformers 5.23's
/// `TokenClassificationPipeline.group_entities` on these tags (and `postprocess` dropping the
/// group `B-O` names `O`).
#[test]
fn bioes_tags_are_grouped_as_the_pipeline_groups_them() {
    let labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-O", "S-LOC"];
    // B-PER I-PER E-PER S-PER S-PER O E-PER E-PER I-PER B-O S-LOC
    let tags = [1, 2, 3, 4, 4, 0, 3, 3, 2, 5, 6];
    let want = [
        ("PER", 0, 3, 0.505),
        ("PER", 4, 5, 0.52),
        ("PER", 6, 9, 0.535),
        ("PER", 12, 15, 0.565),
        ("PER", 16, 17, 0.58),
        ("LOC", 20, 21, 0.6),
    ];
    for strategy in [
        Aggregation::Simple,
        Aggregation::First,
        Aggregation::Average,
        Aggregation::Max,
    ] {
        let entities = decode_tags(&labels, &tags, strategy);
        let got: Vec<(&str, usize, usize, f32)> = entities
            .iter()
            .map(|e| (e.label.as_str(), e.start, e.end, e.score))
            .collect();
        assert_eq!(got.len(), want.len(), "{strategy:?}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.0, g.1, g.2), (w.0, w.1, w.2), "{strategy:?}: {got:?}");
            assert!((g.3 - w.3).abs() < 1e-6, "{strategy:?}: {got:?}");
        }
    }
}

/// The same grouping for IOB2 tags is conlleval's: a stray `I-X` after `O` or another type
/// starts an entity, `B-X` always does.
#[test]
fn iob2_tags_are_grouped_as_before() {
    let labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];
    // B-PER I-PER B-PER O I-LOC I-PER I-PER
    let tags = [1, 2, 1, 0, 4, 2, 2];
    let got: Vec<(String, usize, usize)> = decode_tags(&labels, &tags, Aggregation::Simple)
        .into_iter()
        .map(|e| (e.label, e.start, e.end))
        .collect();
    let want = [("PER", 0, 3), ("PER", 4, 5), ("LOC", 8, 9), ("PER", 10, 13)];
    let want: Vec<(String, usize, usize)> = want
        .iter()
        .map(|&(l, a, b)| (l.to_string(), a, b))
        .collect();
    assert_eq!(got, want);
}

/// Found by the `tag_decoder` fuzzer: tokens whose offsets run backwards grouped into an
/// entity that ended before it started.
#[test]
fn spans_never_run_backwards() {
    let labels: Vec<String> = ["O", "B-PER", "I-PER"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let window = Window {
        ids: vec![5, 6, 7],
        offsets: vec![(30, 34), (10, 13), (2, 3)],
        special: vec![false; 3],
        tokens: vec!["abcd".into(), "##x".into(), "y".into()],
        words: vec![Some(0), Some(0), Some(1)],
    };
    let probs = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    let chars: Vec<char> = "x".repeat(40).chars().collect();
    for aggregation in [
        Aggregation::Simple,
        Aggregation::First,
        Aggregation::Average,
        Aggregation::Max,
    ] {
        let ctx = DecodeContext {
            labels: &labels,
            scheme: Scheme::Iob2,
            subword_prefix: Some("##"),
            unk_id: None,
            aggregation,
        };
        for e in decode_line(
            &ctx,
            &chars,
            &[(&window, &probs[..]), (&window, &probs[..])],
        ) {
            assert!(e.start <= e.end, "{aggregation:?}: {e:?}");
        }
    }
}
