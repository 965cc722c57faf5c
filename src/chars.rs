//! Decode and output stages' view of a line's characters: character offsets → byte positions and
//! character slices, without a `Vec<char>` or a byte position per character.
//!
//! Offsets are in characters (Unicode scalars) everywhere; a 100 MB line as `Vec<char>` would be
//! 400 MB and as one `usize` per character 800 MB. This index keeps one byte position every
//! [`STEP`] characters (1/16 byte per character) and walks at most `STEP` characters from there.

/// Characters between two remembered byte positions.
const STEP: usize = 128;

/// Byte positions of every [`STEP`]-th character of a text.
pub struct CharIndex<'t> {
    text: &'t str,
    /// `marks[k]`: byte position of character `k * STEP`.
    marks: Vec<usize>,
    len: usize,
}

impl<'t> CharIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut marks = Vec::with_capacity(text.len() / STEP + 1);
        let mut len = 0;
        for (b, _) in text.char_indices() {
            if len % STEP == 0 {
                marks.push(b);
            }
            len += 1;
        }
        if len % STEP == 0 {
            marks.push(text.len());
        }
        CharIndex { text, marks, len }
    }

    /// Characters in the text.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Byte position of character `c`, or of the text's end for `c` at or past it.
    pub fn at(&self, c: usize) -> usize {
        if c >= self.len {
            return self.text.len();
        }
        let from = self.marks[c / STEP];
        match self.text[from..].char_indices().nth(c % STEP) {
            Some((b, _)) => from + b,
            None => self.text.len(),
        }
    }

    /// Characters `lo..hi` (clamped to the text).
    pub fn chars(&self, lo: usize, hi: usize) -> Vec<char> {
        let (lo, hi) = (lo.min(self.len), hi.min(self.len));
        if lo >= hi {
            return Vec::new();
        }
        self.text[self.at(lo)..].chars().take(hi - lo).collect()
    }
}

/// The characters of a line that one window's offsets reach: `chars[i]` is the line's character
/// `base + i`, `len` the line's length in characters.
pub struct LineChars<'c> {
    pub chars: &'c [char],
    pub base: usize,
    pub len: usize,
}

impl LineChars<'_> {
    /// The line's character `i`, if this view holds it.
    pub fn get(&self, i: usize) -> Option<char> {
        self.chars.get(i.checked_sub(self.base)?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_positions_match_char_indices() {
        for text in [
            "",
            "a",
            "héllo wörld 😀 ok",
            &"x😀é ".repeat(200),
            &"ab".repeat(STEP),
        ] {
            let idx = CharIndex::new(text);
            let want: Vec<usize> = text
                .char_indices()
                .map(|(b, _)| b)
                .chain([text.len()])
                .collect();
            assert_eq!(idx.len(), want.len() - 1);
            for (c, &b) in want.iter().enumerate() {
                assert_eq!(idx.at(c), b, "{text:?} char {c}");
            }
            assert_eq!(idx.at(want.len() + 5), text.len());
            let chars: Vec<char> = text.chars().collect();
            for (lo, hi) in [(0, 3), (1, 200), (127, 300), (5, 2)] {
                let (l, h) = (lo.min(chars.len()), hi.min(chars.len()));
                let want: Vec<char> = if l < h {
                    chars[l..h].to_vec()
                } else {
                    Vec::new()
                };
                assert_eq!(idx.chars(lo, hi), want);
            }
        }
    }
}
