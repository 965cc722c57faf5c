//! Tokenize stage, long lines: where a line can be cut into segments that tokenize exactly as
//! the whole line does, and which tokenizers allow it.
//!
//! A segment ends just before a space (U+0020) whose preceding character is "solid": not
//! whitespace, not a control, not a grapheme-`Prepend` character. The segment after it then starts
//! with that space. For the tokenizers allowed here, encoding `text[..p]` and `text[p..]` and
//! shifting the second one's offsets gives the encoding of `text`:
//!
//! - whitespace-splitting pre-tokenizers (`BertPreTokenizer`, `Whitespace`, `WhitespaceSplit` as
//!   the first step; BERT, DistilBERT, ELECTRA): the space is dropped between two pieces, and every
//!   later step works piece by piece;
//! - byte-level BPE (`ByteLevel` with its GPT-2 regex alone; RoBERTa, ModernBERT): no alternative
//!   of the regex matches a non-space followed by a space, so no piece spans the cut, and the
//!   piece after it starts with the space (` Berlin`) as in the whole line; `add_prefix_space`
//!   adds nothing to a text that starts with a space;
//! - Metaspace with `split` (SentencePiece: XLM-R, DeBERTa-v3): the space becomes `▁` and starts
//!   the next piece (`▁Berlin`) either way; the prefix `▁` is not added to a text starting with
//!   `▁`.
//!
//! The normalizer must be character- or grapheme-local (`BertNormalizer`, `NFC`…`NFKD`,
//! `Lowercase`, `StripAccents`, `Nmt`, `Precompiled`, a `Replace` that cannot match across the
//! space, `Strip` where it cannot see the cut). Added tokens must not contain whitespace nor strip
//! it on their right. Anything else — a `Split` regex, `ByteLevel` without its regex, a `Prepend`
//! normalizer, Metaspace without `split`, no pre-tokenizer — is tokenized whole
//! ([`line_cuts`] says why). Pre-split words (word mode) are always encoded independently, so
//! a word list can be cut between any two words ([`word_cut`]).

use serde_json::Value;
use tokenizers::Tokenizer;

/// Whether a line may be cut at [`text_cut`]'s points for this tokenizer; the reason if not.
pub fn line_cuts(tok: &Tokenizer) -> Result<(), String> {
    for t in tok.get_added_tokens_decoder().values() {
        if t.rstrip || t.content.chars().any(char::is_whitespace) {
            return Err(format!(
                "added token {:?} strips or holds whitespace",
                t.content
            ));
        }
    }
    let json = |v: serde_json::Result<Value>| v.map_err(|e| e.to_string());
    let pre = match tok.get_pre_tokenizer() {
        Some(p) => json(serde_json::to_value(p))?,
        None => return Err("no pre-tokenizer: the line is one piece".into()),
    };
    let mut steps = Vec::new();
    flatten(&pre, "pretokenizers", &mut steps);
    let norm = match tok.get_normalizer() {
        Some(n) => json(serde_json::to_value(n))?,
        None => Value::Null,
    };
    let mut norms = Vec::new();
    flatten(&norm, "normalizers", &mut norms);
    let first = steps.first().map_or("", |s| kind(s));
    let family = match first {
        "BertPreTokenizer" | "Whitespace" | "WhitespaceSplit" => Family::SplitsOnWhitespace,
        "ByteLevel" if steps.len() == 1 && steps[0]["use_regex"] != Value::Bool(false) => {
            Family::ByteLevel
        }
        "Metaspace" if steps.len() == 1 && steps[0]["split"] != Value::Bool(false) => {
            Family::Metaspace
        }
        _ => return Err(format!("pre-tokenizer {pre}")),
    };
    let (mut removes, mut strips_right) = (false, false);
    for n in &norms {
        match (kind(n), family) {
            ("NFC" | "NFD" | "NFKC" | "NFKD" | "Lowercase", _) => {}
            (_, Family::ByteLevel) => return Err(format!("normalizer {n} before byte-level BPE")),
            ("BertNormalizer" | "StripAccents" | "Nmt" | "Precompiled", _) => removes = true,
            ("Replace", _) => removes |= replace_is_safe(n)?,
            ("Strip", f) => {
                let left = n["strip_left"] == Value::Bool(true);
                if left && f != Family::SplitsOnWhitespace {
                    return Err("normalizer Strip on the left".into());
                }
                strips_right |= n["strip_right"] == Value::Bool(true);
            }
            _ => return Err(format!("normalizer {n}")),
        }
    }
    // Metaspace keeps a trailing space as a `▁` piece: a segment's right strip must find none,
    // which holds only when no step can remove the solid character before the cut.
    if strips_right && removes && family == Family::Metaspace {
        return Err("normalizer Strip on the right after one that removes characters".into());
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    SplitsOnWhitespace,
    ByteLevel,
    Metaspace,
}

fn kind(v: &Value) -> &str {
    v["type"].as_str().unwrap_or("")
}

/// The steps of a `Sequence` (nested ones too), or the one step.
fn flatten<'v>(v: &'v Value, key: &str, out: &mut Vec<&'v Value>) {
    match (kind(v), v.get(key).and_then(Value::as_array)) {
        ("Sequence", Some(steps)) => steps.iter().for_each(|s| flatten(s, key, out)),
        _ if v.is_null() => {}
        _ => out.push(v),
    }
}

/// Regex patterns of `Replace` normalizers that only ever match whitespace.
const WHITESPACE_REGEXES: &[&str] = &[
    r"\s{2,}|[\n\r\t]",
    r"\s{2,}",
    r" {2,}",
    r"\s+",
    r" +",
    r"[\n\r\t]",
    r"\s",
];

/// Whether a `Replace` normalizer cannot match across a cut, and (Ok value) whether it may remove
/// characters. Whitespace is replaced only by a space, so the cut's space stays one.
fn replace_is_safe(n: &Value) -> Result<bool, String> {
    let content = n["content"].as_str().unwrap_or("");
    let unsafe_ = || Err(format!("normalizer {n}"));
    let ws_content = content.starts_with(' ') && !content[1..].contains(char::is_whitespace);
    match (
        n["pattern"]["String"].as_str(),
        n["pattern"]["Regex"].as_str(),
    ) {
        (Some(s), _) if !s.is_empty() => {
            let ws_at_start = s.starts_with(char::is_whitespace);
            if s.chars().skip(1).any(char::is_whitespace) {
                return unsafe_();
            }
            match ws_at_start {
                true if ws_content => Ok(false),
                false if !content.contains(char::is_whitespace) => Ok(content.is_empty()),
                _ => unsafe_(),
            }
        }
        (_, Some(r)) if WHITESPACE_REGEXES.contains(&r) && content == " " => Ok(false),
        _ => unsafe_(),
    }
}

/// Characters with Grapheme_Cluster_Break=Prepend, which join the character after them (a
/// grapheme-wise normalizer would see them with the space).
fn prepends(c: char) -> bool {
    matches!(c as u32,
        0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x0D4E | 0x110BD | 0x110CD
        | 0x111C2..=0x111C3 | 0x1193F | 0x11941 | 0x11A3A | 0x11A84..=0x11A89 | 0x11D46 | 0x11F02)
}

fn solid(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && c != '\u{180E}' && !prepends(c)
}

/// Whether `text` may be cut at byte `p` (a character boundary): before a space after a solid
/// character.
fn text_cut_at(text: &str, p: usize) -> bool {
    text.as_bytes().get(p) == Some(&b' ') && text[..p].chars().next_back().is_some_and(solid)
}

/// Where the segment of `text` starting at byte `from` ends: the cut point nearest below
/// `from + target` bytes, else the first one above, else the end of the text.
pub fn text_cut(text: &str, from: usize, target: usize) -> usize {
    nearest(text, from, target, |p| text_cut_at(text, p))
}

/// [`text_cut`] for word mode: before any whitespace, which words never contain and the word
/// splitter treats as a chunk boundary ([`crate::split`]).
pub fn word_cut(text: &str, from: usize, target: usize) -> usize {
    nearest(text, from, target, |p| {
        text[p..].chars().next().is_some_and(char::is_whitespace)
    })
}

fn nearest(text: &str, from: usize, target: usize, ok: impl Fn(usize) -> bool) -> usize {
    let mut aim = from.saturating_add(target.max(1));
    if aim >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(aim) {
        aim -= 1;
    }
    let below = text[from..aim]
        .char_indices()
        .rev()
        .map(|(b, _)| from + b)
        .take_while(|&p| p > from)
        .find(|&p| ok(p));
    below
        .or_else(|| {
            text[aim..]
                .char_indices()
                .map(|(b, _)| aim + b)
                .find(|&p| p > from && ok(p))
        })
        .unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_before_a_space_after_a_solid_character() {
        let text = "ab  c d\u{600} e";
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < text.len() {
            at = text_cut(text, at, 1);
            cuts.push(at);
        }
        // not inside "  " after its first space, not after the Prepend character U+0600
        assert_eq!(cuts, vec![2, 5, text.len()]);
        assert_eq!(word_cut("ab  c", 0, 1), 2);
        assert_eq!(word_cut("ab  c", 2, 1), 3);
        assert_eq!(
            text_cut("abcdef gh", 0, 3),
            6,
            "a word longer than a segment"
        );
        assert_eq!(text_cut("é😀é x", 0, 3), "é😀é".len());
    }
}
