//! Evaluate stage for natural text (`ner-tag eval --raw`): gold CoNLL sentences are detokenized
//! into the text a person would write, tagged as raw text, and scored by exact
//! (type, start, end) character spans against the gold entities carried over to that text.

use std::time::Instant;

use super::chunks::chunks;
use super::corpus::{read_gold, EvalStats};
use super::metrics::Evaluation;
use crate::decode::{tags, Aggregation, Scheme};
use crate::error::Result;
use crate::input::Source;
use crate::job::Job;
use crate::progress::Progress;
use crate::tagger::Tagger;

/// Tokens written without a space before them.
const ATTACH_LEFT: &[&str] = &[
    ",", ".", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "n't", "'re", "'ve", "'m", "'ll", "'d",
];

/// Tokens written without a space after them.
const ATTACH_RIGHT: &[&str] = &["(", "[", "{", "$"];

/// Natural text from treebank tokens, and each token's character span in it: a space between
/// tokens except before closing punctuation and clitics (`, . ; : ! ? ) ] } %`, `'s n't 're 've
/// 'm 'll 'd`, any case) and after opening brackets and `$`; a `"` alternately opens (no space
/// after it) and closes (no space before it).
pub fn detokenize<S: AsRef<str>>(tokens: &[S]) -> (String, Vec<(usize, usize)>) {
    let mut text = String::new();
    let mut spans = Vec::with_capacity(tokens.len());
    let mut at = 0;
    let mut quote_open = false;
    let mut glue_next = true; // no space before the first token
    for t in tokens {
        let t = t.as_ref();
        let lower = t.to_lowercase();
        let (glue_left, glue_right) = if t == "\"" {
            quote_open = !quote_open;
            (!quote_open, quote_open)
        } else {
            (
                ATTACH_LEFT.contains(&lower.as_str()),
                ATTACH_RIGHT.contains(&t),
            )
        };
        if !(glue_next || glue_left) {
            text.push(' ');
            at += 1;
        }
        let n = t.chars().count();
        text.push_str(t);
        spans.push((at, at + n));
        at += n;
        glue_next = glue_right;
    }
    (text, spans)
}

/// Detokenizes every gold sentence of `files`, tags the texts with the tagger's aggregation and
/// scores the entities by exact character spans.
pub fn evaluate_raw(
    tagger: &Tagger,
    files: &[Source],
    scheme: Scheme,
    gold_column: Option<usize>,
    chunk_size: usize,
    progress: bool,
) -> Result<(Evaluation, EvalStats)> {
    let started = Instant::now();
    let sentences = read_gold(files, gold_column, scheme)?;
    let progress = Progress::sentences(progress, sentences.len());
    let mut eval = Evaluation::default();
    let mut stats = EvalStats::default();
    for chunk in sentences.chunks(chunk_size.max(1)) {
        let texts: Vec<(String, Vec<(usize, usize)>)> =
            chunk.iter().map(|s| detokenize(&s.tokens)).collect();
        let jobs: Vec<Job> = texts
            .iter()
            .map(|(text, _)| Job::text(text, tagger.aggregation))
            .collect();
        let results = tagger.tag_jobs(&jobs)?;
        for ((sentence, (_, spans)), result) in chunk.iter().zip(&texts).zip(results) {
            let gold = chunks(&sentence.gold)
                .into_iter()
                .map(|(kind, a, b)| (kind, spans[a].0, spans[b].1))
                .collect();
            let predicted = result
                .entities
                .into_iter()
                .map(|e| {
                    let kind = if tagger.aggregation == Aggregation::None {
                        tags::entity_type(&e.label).to_string()
                    } else {
                        e.label
                    };
                    (kind, e.start, e.end)
                })
                .collect();
            eval.add_spans(gold, predicted);
            stats.tokens += sentence.tokens.len();
        }
        stats.sentences += chunk.len();
        progress.set(stats.sentences);
    }
    progress.finish();
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((eval, stats))
}

#[cfg(test)]
mod tests {
    use super::detokenize;

    #[test]
    fn detokenizes_as_people_write() {
        let cases: &[(&str, &str)] = &[
            (
                "EU rejects German call to boycott British lamb .",
                "EU rejects German call to boycott British lamb.",
            ),
            ("Peter Blackburn", "Peter Blackburn"),
            ("BRUSSELS 1996-08-22", "BRUSSELS 1996-08-22"),
            (
                "\" We do n't support it , \" he said .",
                "\"We don't support it,\" he said.",
            ),
            (
                "Germany 's ( Reuters ) rate rose 5 % to $ 10 ; fine !",
                "Germany's (Reuters) rate rose 5% to $10; fine!",
            ),
            ("GERMANY 'S [ note ] { x }", "GERMANY'S [note] {x}"),
            (
                "he said \" yes \" and \" no \"",
                "he said \"yes\" and \"no\"",
            ),
            ("\"", "\""),
        ];
        for (tokens, want) in cases {
            let tokens: Vec<&str> = tokens.split(' ').collect();
            let (text, spans) = detokenize(&tokens);
            assert_eq!(&text, want);
            let chars: Vec<char> = text.chars().collect();
            for (t, &(s, e)) in tokens.iter().zip(&spans) {
                assert_eq!(chars[s..e].iter().collect::<String>(), *t);
            }
        }
    }
}
