//! Word-split stage: raw text → the words a CoNLL-trained model expects (`--aggregation word`).
//!
//! CoNLL-2003 and OntoNotes are tokenized the Penn Treebank way, and token-classification models
//! learn one label per such word. The tokenizer's own pre-tokenizer splits far more finely
//! (`U.S.` → `U` `.` `S` `.`), and pieces that were never labelled in training then start or break
//! entities. This stage recovers the treebank's words from natural text:
//!
//! 1. whitespace separates chunks;
//! 2. opening brackets and quotes come off a chunk's front, a currency sign off its amount
//!    (`$5`, `US$5` → `US$` `5`);
//! 3. closing punctuation (`, ; : ! ? ) ] } %`, closing quotes), clitics (`'s n't 're 've 'm 'll
//!    'd`), ellipses and a sentence-final period come off its end — but a period stays on
//!    initials and acronyms (`P.`, `U.S.`, `Iraq-U.N.`), known abbreviations (`Inc.`, `vs.`,
//!    `Calif.`) and a list number opening the line (`1.`);
//! 4. CJK ideographs become one word each (as BERT's tokenizer treats them); CJK and fullwidth
//!    punctuation, em dashes and `…` are words of their own.
//!
//! Everything else stays whole: hyphenated names and dates (`Chester-le-Street`, `1996-08-30`),
//! numbers (`1,000.5`, `10:30`), inner apostrophes (`O'Neill`), URLs and e-mail addresses.

/// Abbreviations that keep their period (compared case-insensitively, without the period).
const ABBREVIATIONS: &[&str] = &[
    // titles and ranks
    "mr", "mrs", "ms", "dr", "prof", "rev", "st", "jr", "sr", "gen", "gov", "sen", "rep", "lt",
    "col", "capt", "cpt", "sgt", "maj", "adm", "cmdr", "pres", "supt", "hon", "messrs", "mme",
    "mlle", // companies and places
    "inc", "corp", "co", "ltd", "plc", "bros", "dept", "univ", "assn", "ave", "blvd", "rd", "mt",
    "ft", "pt", "no", "nos", "vol", "vols", "pp", "fig", "vs", "etc", "approx", "est", "cf",
    // months and days
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon",
    "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
    // US states as the wire services abbreviate them
    "ala", "ariz", "ark", "calif", "colo", "conn", "del", "fla", "ga", "ill", "ind", "kan", "kans",
    "ky", "la", "md", "mass", "mich", "minn", "miss", "mo", "mont", "neb", "nev", "okla", "ore",
    "pa", "penn", "tenn", "tex", "va", "vt", "wash", "wis", "wyo",
];

/// Clitics split off the word they follow, as the treebank writes them.
const CLITICS: &[&str] = &["n't", "'s", "'re", "'ve", "'m", "'ll", "'d"];

/// The same clitics written with a typographic apostrophe, in the same order.
const CURLY_CLITICS: &[&str] = &["n’t", "’s", "’re", "’ve", "’m", "’ll", "’d"];

/// Characters split off the front of a chunk.
fn is_opener(c: char) -> bool {
    matches!(
        c,
        '(' | '[' | '{' | '"' | '“' | '‘' | '«' | '‹' | '„' | '‚' | '`' | '¿' | '¡'
    )
}

/// Characters split off the end of a chunk (periods and apostrophes have rules of their own).
fn is_closer(c: char) -> bool {
    matches!(
        c,
        ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '%' | '"' | '”' | '’' | '»' | '›'
    )
}

/// Characters that are words by themselves wherever they stand.
fn stands_alone(c: char) -> bool {
    matches!(c, '—' | '…')
        || is_cjk(c)
        // CJK punctuation (、。「」) and fullwidth ASCII punctuation (，！？：)
        || matches!(c as u32, 0x3001..=0x303F | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65)
}

/// CJK ideographs, which BERT's tokenizer splits one by one (`tokenize_chinese_chars`).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// The words of `text` as byte ranges, in order, non-empty, non-overlapping, never containing
/// whitespace; every non-whitespace character of `text` is in exactly one word.
pub fn split_bytes(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    split_range(text, 0..text.len(), &mut true, &mut out);
    out
}

/// The words of `text[range]` appended to `out`, as byte ranges of `text`: exactly the words
/// [`split_bytes`] finds there when `range` starts and ends at whitespace or the text's ends.
/// `first`: no word came before the range (cleared once one has).
pub fn split_range(
    text: &str,
    range: std::ops::Range<usize>,
    first: &mut bool,
    out: &mut Vec<(usize, usize)>,
) {
    let mut start = None;
    let end = range.end;
    for (i, c) in text[range.clone()]
        .char_indices()
        .map(|(i, c)| (range.start + i, c))
        .chain(std::iter::once((end, ' ')))
    {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                let last = text[i..].trim_start().is_empty();
                split_chunk(
                    text,
                    s,
                    i,
                    Place {
                        first: *first,
                        last,
                    },
                    out,
                );
                *first = false;
            }
        } else if stands_alone(c) {
            if let Some(s) = start.take() {
                split_chunk(
                    text,
                    s,
                    i,
                    Place {
                        first: *first,
                        last: false,
                    },
                    out,
                );
            }
            out.push((i, i + c.len_utf8()));
            *first = false;
        } else if start.is_none() {
            start = Some(i);
        }
    }
}

/// The words of `text` as character (Unicode scalar) ranges, end exclusive.
pub fn split_words(text: &str) -> Vec<(usize, usize)> {
    let bytes = split_bytes(text);
    let mut out = Vec::with_capacity(bytes.len());
    char_ranges(text, (0, 0), &bytes, &mut out);
    out
}

/// Appends the byte ranges `bytes` of `text` (in order, none before `from.0`) as character
/// ranges, counting from `from`: a byte position and its character index.
pub fn char_ranges(
    text: &str,
    from: (usize, usize),
    bytes: &[(usize, usize)],
    out: &mut Vec<(usize, usize)>,
) {
    let (mut b, mut c) = from;
    let mut to_char = |at: usize| {
        c += text[b..at].chars().count();
        b = at;
        c
    };
    for &(s, e) in bytes {
        let s = to_char(s);
        out.push((s, to_char(e)));
    }
}

/// Where a chunk stands in its text.
#[derive(Clone, Copy)]
struct Place {
    /// Opens the text, where `1.` numbers a list.
    first: bool,
    /// Ends the text, where a final period ends the sentence even after an abbreviation: the
    /// treebank writes `... in the U.S .` and `... Calif .`.
    last: bool,
}

impl Place {
    /// The place of what is left of a chunk once `peeled` came off its end: it still opens the
    /// text if nothing did, and still ends it if only closing quotes did.
    fn before(self, text: &str, peeled: &[(usize, usize)]) -> Place {
        let closing =
            |&(s, e): &(usize, usize)| matches!(&text[s..e], "\"" | "'" | "”" | "’" | "»");
        Place {
            first: self.first && peeled.is_empty(),
            last: self.last && peeled.iter().all(closing),
        }
    }
}

/// Splits the chunk `text[start..end]` (no whitespace) into words appended to `out`.
fn split_chunk(
    text: &str,
    mut start: usize,
    mut end: usize,
    place: Place,
    out: &mut Vec<(usize, usize)>,
) {
    // Front: openers one by one, then a currency sign's amount.
    while let Some(c) = text[start..end].chars().next() {
        if is_opener(c) || (c == '\'' && opens_quote(&text[start..end])) {
            out.push((start, start + c.len_utf8()));
            start += c.len_utf8();
        } else {
            break;
        }
    }
    if start == end {
        return;
    }
    let body = &text[start..end];
    if let Some(d) = body.find('$') {
        let prefix = &body[..d];
        let rest = &body[d + 1..];
        if !rest.is_empty() && prefix.chars().all(|c| c.is_ascii_uppercase()) && prefix.len() <= 3 {
            out.push((start, start + d + 1));
            start += d + 1;
        }
    }
    // Back: peeled words collected in reverse.
    let mut tail = Vec::new();
    while start < end {
        let word = &text[start..end];
        let last = word.chars().next_back().expect("non-empty");
        let n = last.len_utf8();
        if let Some(k) = clitic(word) {
            tail.push((end - k, end));
            end -= k;
        } else if is_closer(last) && word.len() > n {
            tail.push((end - n, end));
            end -= n;
        } else if (last == '\'' || last == '’') && word.len() > n && closes_quote(word) {
            tail.push((end - n, end));
            end -= n;
        } else if last == '.' && word.len() > 1 {
            let dots = word.len() - word.trim_end_matches('.').len();
            if dots == word.len() {
                break; // "..." is a word
            } else if dots > 1 {
                tail.push((end - dots, end));
                end -= dots;
            } else if keeps_period(&word[..word.len() - 1], place.before(text, &tail)) {
                break;
            } else {
                tail.push((end - 1, end));
                end -= 1;
            }
        } else {
            break;
        }
    }
    if start < end {
        out.push((start, end));
    }
    out.extend(tail.into_iter().rev());
}

/// Byte length of a clitic ending `word`, when something that can carry it comes before.
fn clitic(word: &str) -> Option<usize> {
    for (c, curly) in CLITICS.iter().zip(CURLY_CLITICS) {
        for v in [c, curly] {
            let k = v.len();
            let at = word.len().wrapping_sub(k);
            if word.len() > k && word.is_char_boundary(at) && word[at..].eq_ignore_ascii_case(v) {
                let before = word[..at].chars().next_back()?;
                let carries = if *c == "n't" {
                    before.is_alphabetic()
                } else {
                    before.is_alphanumeric() || before == '.' // `Corp.'s`, `U.N.'s`
                };
                return carries.then_some(k);
            }
        }
    }
    None
}

/// A leading apostrophe opens a quote when a letter follows and the chunk is not a clitic or an
/// elision (`'s`, `'em`, `'til`; `'90s` has a digit).
fn opens_quote(chunk: &str) -> bool {
    let first = chunk.chars().next().map_or(0, char::len_utf8);
    let lower = chunk.to_lowercase().replace(['’', '‘'], "'");
    chunk[first..]
        .chars()
        .next()
        .is_some_and(char::is_alphabetic)
        && !CLITICS.contains(&lower.as_str())
        && !matches!(
            lower.as_str(),
            "'em" | "'til" | "'n'" | "'cause" | "'tis" | "'twas"
        )
}

/// A trailing apostrophe closes a quote when the chunk opened one, or ends a plural possessive
/// (`Reuters'` → `Reuters` `'`, as the treebank writes it).
fn closes_quote(word: &str) -> bool {
    let before = word[..word.len() - word.chars().next_back().map_or(0, char::len_utf8)]
        .chars()
        .next_back();
    before.is_some_and(|c| c.is_alphabetic() || c == '.' || c == '!' || c == '?')
}

/// Whether `stem.` is one word: initials and acronyms (`P.`, `U.S.`, `a.m.`, `Iraq-U.N.`), a known
/// abbreviation, or — opening the line — a list number (`1.`).
fn keeps_period(stem: &str, place: Place) -> bool {
    if stem.is_empty() {
        return false;
    }
    if place.first && !place.last && stem.chars().all(|c| c.is_ascii_digit()) && stem.len() <= 3 {
        return true;
    }
    // The part after the last character that is neither a letter nor a period.
    let cut = stem.rfind(|c: char| !(c.is_alphabetic() || c == '.'));
    let tail = cut.map_or(stem, |i| {
        &stem[i + stem[i..].chars().next().map_or(1, char::len_utf8)..]
    });
    // Initials stand alone or after a hyphen (`Iraq-U.N.`), not inside paths (`example.com/a.b`).
    let letters_between_periods = cut.is_none_or(|i| stem[i..].starts_with('-'))
        && !tail.is_empty()
        && tail
            .split('.')
            .all(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic));
    !place.last
        && (letters_between_periods || ABBREVIATIONS.contains(&tail.to_lowercase().as_str()))
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
