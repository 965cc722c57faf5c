//! Fuzzes the word-split stage and the natural-text detokenizer on arbitrary UTF-8: words are
//! sorted, non-empty, whitespace-free and cover every other character exactly once; job words
//! slice the text; detokenized token spans slice the detokenized text back into the tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ner_tag::decode::Aggregation;
use ner_tag::eval::detokenize;
use ner_tag::job::Job;
use ner_tag::split::{split_bytes, split_words};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let bytes = split_bytes(&text);
    let mut last = 0;
    for &(s, e) in &bytes {
        assert!(last <= s && s < e && e <= text.len(), "{bytes:?}");
        assert!(text[last..s].chars().all(char::is_whitespace));
        assert!(!text[s..e].chars().any(char::is_whitespace));
        last = e;
    }
    assert!(text[last..].chars().all(char::is_whitespace));

    let chars = split_words(&text);
    assert_eq!(chars.len(), bytes.len());
    let job = Job::text(&text, Aggregation::Word);
    let words = job.word_strs().expect("word mode has words");
    for (w, &(s, e)) in words.iter().zip(&bytes) {
        assert_eq!(*w, &text[s..e]);
    }

    let tokens: Vec<&str> = text.split_whitespace().collect();
    let (detok, spans) = detokenize(&tokens);
    let c: Vec<char> = detok.chars().collect();
    for (t, &(s, e)) in tokens.iter().zip(&spans) {
        assert_eq!(c[s..e].iter().collect::<String>(), *t);
    }
});
