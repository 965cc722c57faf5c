//! Fuzzes the decode stage: arbitrary tag sequences through every scheme and the evaluation
//! chunker, and arbitrary windows (ids, offsets, special flags, probabilities) through every
//! aggregation strategy. No panic; every entity stays inside its line, sorted, non-overlapping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ner_tag::decode::aggregate::{decode_line, Aggregation, DecodeContext};
use ner_tag::decode::{tags, words, Scheme};
use ner_tag::eval::chunks::chunks;
use ner_tag::tokenize::Window;

const LABELS: [&str; 9] = ["O", "B-PER", "I-PER", "E-PER", "S-LOC", "I-LOC", "X-Y", "PER", "B-"];

fuzz_target!(|data: &[u8]| {
    // 1. Tags: arbitrary strings, split on a separator byte.
    let text = String::from_utf8_lossy(data);
    let seq: Vec<&str> = text.split('|').collect();
    for scheme in [Scheme::Iob2, Scheme::Iob1, Scheme::Io, Scheme::Bioes, Scheme::Bilou] {
        for (_, a, b) in tags::spans(&seq, scheme) {
            assert!(a <= b && b < seq.len());
        }
    }
    let _ = chunks(&seq);
    let _ = Scheme::detect(&seq);

    // 2. Windows built from the bytes: 4 bytes a token (id, start, length, flags), a line of chars.
    if data.len() < 2 {
        return;
    }
    let line: Vec<char> = text.chars().take(64).collect();
    let labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
    let n = labels.len();
    let mut window = Window::default();
    let mut probs = Vec::new();
    for (i, t) in data.chunks_exact(4).enumerate().take(40) {
        let start = usize::from(t[1] % 70);
        window.ids.push(u32::from(t[0] % 8));
        window.offsets.push((start, start + usize::from(t[2] % 9)));
        window.special.push(t[3] & 1 == 1);
        window.tokens.push(if t[3] & 2 == 2 { format!("##{}", t[0]) } else { "x".repeat(usize::from(t[2] % 5)) });
        window.words.push((t[3] & 4 == 0).then_some((i / 2) as u32));
        let hot = usize::from(t[3]) % n;
        probs.extend((0..n).map(|j| if j == hot { 0.9 } else { 0.1 / (n - 1) as f32 }));
    }
    for aggregation in [Aggregation::Word, Aggregation::None, Aggregation::Simple, Aggregation::First, Aggregation::Average, Aggregation::Max] {
        for (prefix, unk) in [(Some("##"), Some(0)), (None, None)] {
            let ctx = DecodeContext { labels: &labels, scheme: Scheme::detect(&labels), subword_prefix: prefix, unk_id: unk, aggregation };
            let pairs = [(&window, probs.as_slice()), (&window, probs.as_slice())];
            for windows in [&pairs[..1], &pairs[..]] {
                let ents = decode_line(&ctx, &line, windows);
                let mut last_end = 0;
                for e in &ents {
                    assert!(e.start <= e.end && e.end <= line.len(), "{e:?}");
                    if windows.len() > 1 {
                        assert!(e.start >= last_end || e.start == e.end, "overlap after merging: {ents:?}");
                    }
                    last_end = last_end.max(e.end);
                }
            }
            let labels_of_words = words::word_labels(&ctx, 24, &pairs);
            let spans: Vec<(usize, usize)> = (0..24).map(|i| (2 * i, 2 * i + 1)).collect();
            let mut last_end = 0;
            for e in words::word_entities(&ctx, &spans, &labels_of_words) {
                assert!(e.start >= last_end && e.start < e.end && e.end <= 47, "{e:?}");
                last_end = e.end;
            }
        }
    }
});
