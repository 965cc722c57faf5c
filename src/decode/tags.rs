//! Decode stage: tag sets (IOB2, IOB1, IO, BIOES, BILOU) and when one tag continues an entity.

/// The role a tag's prefix gives it. BILOU's `L`/`U` are read as BIOES's `E`/`S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Begin,
    Inside,
    End,
    Single,
    Outside,
}

/// A tagging scheme, detected from a model's `id2label` or chosen for gold data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Iob2,
    Iob1,
    Io,
    Bioes,
    Bilou,
}

impl Scheme {
    /// Guesses the scheme from the label set: `E-`/`S-` → BIOES, `L-`/`U-` → BILOU, `B-` → IOB2,
    /// otherwise IO. (IOB1 uses the same labels as IOB2; it is only ever chosen explicitly.)
    pub fn detect<S: AsRef<str>>(labels: &[S]) -> Scheme {
        let has = |p: &str| labels.iter().any(|l| l.as_ref().starts_with(p));
        if has("E-") || has("S-") {
            Scheme::Bioes
        } else if has("L-") || has("U-") {
            Scheme::Bilou
        } else if has("B-") {
            Scheme::Iob2
        } else {
            Scheme::Io
        }
    }

    pub fn parse_name(s: &str) -> Option<Scheme> {
        match s.to_ascii_uppercase().as_str() {
            "IOB2" | "BIO" => Some(Scheme::Iob2),
            "IOB1" | "IOB" => Some(Scheme::Iob1),
            "IO" => Some(Scheme::Io),
            "BIOES" | "IOBES" => Some(Scheme::Bioes),
            "BILOU" => Some(Scheme::Bilou),
            _ => None,
        }
    }

    fn has_ends(self) -> bool {
        matches!(self, Scheme::Bioes | Scheme::Bilou)
    }
}

/// Splits a tag into its role and entity type. A tag without a known prefix (`PER`, `X-FOO`) is
/// an inside tag of type "the whole tag", as the `transformers` pipeline reads it; `O` is outside.
pub fn split(tag: &str) -> (Role, &str) {
    if tag == "O" {
        return (Role::Outside, "");
    }
    let role = match tag.get(..2) {
        Some("B-") => Role::Begin,
        Some("I-") => Role::Inside,
        Some("E-") | Some("L-") => Role::End,
        Some("S-") | Some("U-") => Role::Single,
        _ => return (Role::Inside, tag),
    };
    (role, &tag[2..])
}

/// The entity type an entity starting with `tag` gets: the text after the first `-`.
pub fn entity_type(tag: &str) -> &str {
    tag.split_once('-').map_or(tag, |(_, t)| t)
}

/// Whether `cur` continues the entity that `prev` is part of (both non-`O`).
///
/// IOB-style: same type and `cur` is not a begin tag — so a stray `I-X` after `O` or another type
/// starts a new entity, as conlleval does. BIOES/BILOU: `prev` must be B or I and `cur` I or E.
pub fn continues(prev: &str, cur: &str, scheme: Scheme) -> bool {
    let (pr, pt) = split(prev);
    let (cr, ct) = split(cur);
    if pr == Role::Outside || cr == Role::Outside || pt != ct {
        return false;
    }
    if scheme.has_ends() {
        matches!(pr, Role::Begin | Role::Inside) && matches!(cr, Role::Inside | Role::End)
    } else {
        cr != Role::Begin
    }
}

/// Groups a tag sequence into entity spans `(type, first, last)` (inclusive token indices).
pub fn spans<S: AsRef<str>>(tags: &[S], scheme: Scheme) -> Vec<(&str, usize, usize)> {
    let mut out: Vec<(&str, usize, usize)> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        let t = t.as_ref();
        if split(t).0 == Role::Outside {
            continue;
        }
        let joins = i > 0
            && out.last().is_some_and(|s| s.2 + 1 == i)
            && continues(tags[i - 1].as_ref(), t, scheme);
        match out.last_mut() {
            Some(last) if joins => last.2 = i,
            _ => out.push((entity_type(t), i, i)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_schemes() {
        assert_eq!(Scheme::detect(&["O", "B-PER", "I-PER"]), Scheme::Iob2);
        assert_eq!(
            Scheme::detect(&["O", "B-PER", "I-PER", "E-PER", "S-PER"]),
            Scheme::Bioes
        );
        assert_eq!(
            Scheme::detect(&["O", "B-PER", "L-PER", "U-PER"]),
            Scheme::Bilou
        );
        assert_eq!(Scheme::detect(&["O", "I-PER", "I-LOC"]), Scheme::Io);
    }

    #[test]
    fn iob_spans_follow_conlleval() {
        let tags = [
            "B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-ORG", "B-ORG",
        ];
        assert_eq!(
            spans(&tags, Scheme::Iob2),
            vec![
                ("PER", 0, 1),
                ("LOC", 3, 4),
                ("LOC", 5, 5),
                ("ORG", 6, 6),
                ("ORG", 7, 7),
                ("ORG", 8, 8)
            ]
        );
    }

    #[test]
    fn bioes_and_bilou_spans() {
        let t = [
            "S-PER", "B-LOC", "I-LOC", "E-LOC", "E-LOC", "B-ORG", "O", "I-ORG",
        ];
        assert_eq!(
            spans(&t, Scheme::Bioes),
            vec![
                ("PER", 0, 0),
                ("LOC", 1, 3),
                ("LOC", 4, 4),
                ("ORG", 5, 5),
                ("ORG", 7, 7)
            ]
        );
        let u = ["U-PER", "B-LOC", "L-LOC", "U-LOC"];
        assert_eq!(
            spans(&u, Scheme::Bilou),
            vec![("PER", 0, 0), ("LOC", 1, 2), ("LOC", 3, 3)]
        );
    }

    #[test]
    fn unknown_prefixes_never_panic() {
        for t in ["", "-", "B-", "X-FOO", "é", "B", "ü-x", "I-"] {
            let _ = split(t);
            let _ = spans(&[t, t, "O", t], Scheme::Bioes);
            let _ = spans(&[t, t], Scheme::Iob2);
        }
        assert_eq!(
            spans(&["PER", "PER", "LOC"], Scheme::Io),
            vec![("PER", 0, 1), ("LOC", 2, 2)]
        );
    }
}
