//! Evaluate stage: tag sequences → entity chunks, with conlleval's / seqeval's default
//! (non-strict) rules, so scores equal what `conlleval` and `seqeval` report.
//!
//! A chunk ends before a tag when the previous tag closes it (B/I followed by B, S or O; E or S
//! followed by anything) or the type changes; a chunk starts at B or S, at I or E after O, E or S,
//! or on a change of type — which is how a stray `I-X` starts an entity.

/// Prefix and type as seqeval splits a tag: first character, and what follows the first `-`.
fn split(tag: &str) -> (char, &str) {
    let mut chars = tag.chars();
    let prefix = chars.next().unwrap_or('O');
    let rest = chars.as_str();
    let kind = rest.split_once('-').map_or(rest, |(_, t)| t);
    (prefix, if kind.is_empty() { "_" } else { kind })
}

fn end_of_chunk(prev: char, tag: char, prev_type: &str, kind: &str) -> bool {
    matches!(prev, 'E' | 'S')
        || (matches!(prev, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev != 'O' && prev != '.' && prev_type != kind)
}

fn start_of_chunk(prev: char, tag: char, prev_type: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_type != kind)
}

/// Entity chunks `(type, first, last)` of one sentence, inclusive token indices.
pub fn chunks<S: AsRef<str>>(tags: &[S]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let (mut prev, mut prev_type) = ('O', String::new());
    let mut begin = 0;
    for (i, tag) in tags
        .iter()
        .map(AsRef::as_ref)
        .chain(std::iter::once("O"))
        .enumerate()
    {
        let (t, kind) = split(tag);
        if end_of_chunk(prev, t, &prev_type, kind) {
            out.push((prev_type.clone(), begin, i - 1));
        }
        if start_of_chunk(prev, t, &prev_type, kind) {
            begin = i;
        }
        prev = t;
        prev_type = kind.to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chunks;

    fn c(tags: &[&str]) -> Vec<(String, usize, usize)> {
        chunks(tags)
    }

    fn e(kind: &str, a: usize, b: usize) -> (String, usize, usize) {
        (kind.to_string(), a, b)
    }

    #[test]
    fn iob2() {
        assert_eq!(
            c(&["B-PER", "I-PER", "O", "B-LOC"]),
            vec![e("PER", 0, 1), e("LOC", 3, 3)]
        );
        assert_eq!(
            c(&["B-PER", "B-PER", "I-PER"]),
            vec![e("PER", 0, 0), e("PER", 1, 2)]
        );
    }

    #[test]
    fn stray_inside_tags_start_entities() {
        // conlleval: I after O starts a chunk; a type change ends one and starts another.
        assert_eq!(
            c(&["O", "I-ORG", "I-ORG", "I-LOC", "O"]),
            vec![e("ORG", 1, 2), e("LOC", 3, 3)]
        );
        assert_eq!(c(&["I-MISC"]), vec![e("MISC", 0, 0)]);
        assert_eq!(c(&["B-PER", "I-LOC"]), vec![e("PER", 0, 0), e("LOC", 1, 1)]);
    }

    #[test]
    fn iob1_and_bioes() {
        assert_eq!(
            c(&["I-PER", "I-PER", "B-PER", "O"]),
            vec![e("PER", 0, 1), e("PER", 2, 2)]
        );
        assert_eq!(
            c(&["S-PER", "B-LOC", "I-LOC", "E-LOC", "E-LOC"]),
            vec![e("PER", 0, 0), e("LOC", 1, 3), e("LOC", 4, 4)]
        );
    }

    #[test]
    fn empty_and_outside() {
        assert!(c(&[]).is_empty());
        assert!(c(&["O", "O"]).is_empty());
    }
}
