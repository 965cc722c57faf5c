//! Tokenize stage, long lines: a line's windows a segment at a time, equal to the windows of the
//! whole line ([`crate::tokenize::TextTokenizer::windows`] / `windows_of_words`).
//!
//! Each segment ends at a cut point of [`crate::segment`]; its encoding (offsets shifted into the
//! line's characters, word ids past the words before it) joins the tokens not yet in a complete
//! window. Windows are cut from those tokens as `Encoding::truncate` cuts the whole line's —
//! every `body − stride` tokens, `body` long — and a window is given out once a token beyond it
//! exists (or the line ends); the last, still growing window is kept for the next segment. What is
//! held at any time is one segment's tokens and one window's.

use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{Encoding, Tokenizer, TruncationDirection};

use crate::error::{Error, Result};
use crate::segment::{text_cut, word_cut};
use crate::tokenize::{finish_window, listed_words, TextTokenizer, Window};

/// The windows of one line, produced segment by segment.
pub struct WindowStream<'a> {
    tok: &'a Tokenizer,
    post: Option<&'a PostProcessorWrapper>,
    body: usize,
    stride: usize,
    text: &'a str,
    /// Word mode: the line split into words ([`crate::split`]), encoded as pre-split words.
    words: bool,
    /// Target bytes per segment; the whole line at once when the tokenizer cannot be cut.
    segment: usize,
    /// Byte where the next segment starts, the characters and words before it.
    at: usize,
    chars_before: usize,
    words_before: u32,
    /// Word mode: no word was found yet ([`crate::split::split_range`]'s `first`).
    first_chunk: bool,
    /// Tokens from the next window's start on.
    pending: Option<Encoding>,
    done: bool,
    /// Word mode: character spans of the words found since [`WindowStream::take_spans`].
    spans: Vec<(usize, usize)>,
    /// Text mode, when asked ([`WindowStream::list_words`]): the tokenizer's words so far, and
    /// the last token before them (each segment is post-processed after it: byte-level offset
    /// trimming spares a line's first token only).
    text_words: Option<(Vec<(usize, usize)>, Option<Encoding>)>,
}

impl<'a> WindowStream<'a> {
    /// `segment`: target bytes of text per segment.
    pub fn new(tokenizer: &'a TextTokenizer, text: &'a str, words: bool, segment: usize) -> Self {
        let (tok, post) = tokenizer.parts(words);
        let (body, stride) = tokenizer.window_shape();
        let whole = !words && tokenizer.whole_lines().is_some();
        WindowStream {
            tok,
            post,
            body,
            stride,
            text,
            words,
            segment: if whole { usize::MAX } else { segment.max(1) },
            at: 0,
            chars_before: 0,
            words_before: 0,
            first_chunk: true,
            pending: None,
            done: false,
            spans: Vec::new(),
            text_words: None,
        }
    }

    /// Text mode: also list the tokenizer's words, segment by segment — what
    /// [`TextTokenizer::words`] gives for the whole line (CoNLL output of a long line), taken with
    /// [`WindowStream::take_text_words`].
    pub fn list_words(mut self) -> Self {
        self.text_words = (!self.words).then(Default::default);
        self
    }

    /// The tokenizer's words listed so far ([`WindowStream::list_words`]), or `None`.
    pub fn take_text_words(&mut self) -> Option<Vec<(usize, usize)>> {
        self.text_words.take().map(|w| w.0)
    }

    /// Every window has been given out.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The windows the next segment completes, in order: none or some, and at the line's end the
    /// last ones.
    pub fn next_windows(&mut self) -> Result<Vec<Window>> {
        if self.done {
            return Ok(Vec::new());
        }
        let (text, at) = (self.text, self.at);
        let end = match self.words {
            true => word_cut(text, at, self.segment),
            false => text_cut(text, at, self.segment),
        };
        let enc = match self.words {
            true => self.encode_words(at, end)?,
            false => self.encode_text(&text[at..end])?,
        };
        if let Some((list, before)) = self.text_words.as_mut().filter(|_| !enc.is_empty()) {
            let mut tokens = before.take().unwrap_or_default();
            let skip = usize::from(!tokens.is_empty());
            tokens.merge_with(enc.clone(), false);
            list.extend(listed_words(self.post, tokens)?.into_iter().skip(skip));
            let mut last = enc.clone();
            last.truncate(1, 0, TruncationDirection::Left);
            drop(last.take_overflowing());
            *before = Some(last);
        }
        self.chars_before += text[at..end].chars().count();
        self.at = end;
        let last = end == text.len();
        let mut tokens = match self.pending.take() {
            Some(mut p) => {
                p.merge_with(enc, false);
                p
            }
            None => enc,
        };
        let mut out = Vec::new();
        if tokens.len() > self.body {
            tokens.truncate(self.body, self.stride, TruncationDirection::Right);
            let rest = tokens.take_overflowing();
            let mut parts: Vec<Encoding> = std::iter::once(tokens).chain(rest).collect();
            if !last {
                // Ends where the tokens end: complete only once a token beyond it exists.
                self.pending = parts.pop();
            }
            for part in parts {
                out.push(finish_window(self.post, part)?);
            }
        } else if last {
            out.push(finish_window(self.post, tokens)?);
        } else {
            self.pending = Some(tokens);
        }
        self.done = last;
        Ok(out)
    }

    /// Every window of the line (tests and small lines).
    pub fn collect_all(mut self) -> Result<Vec<Window>> {
        let mut out = Vec::new();
        while !self.done {
            out.extend(self.next_windows()?);
        }
        Ok(out)
    }

    /// No token of a later window starts before this character.
    pub fn char_floor(&self) -> usize {
        let held = self.pending.as_ref().map(|p| p.get_offsets());
        held.into_iter()
            .flatten()
            .map(|o| o.0)
            .fold(self.chars_before, usize::min)
    }

    /// No later window holds a word before this one (word mode).
    pub fn word_floor(&self) -> usize {
        let held = self.pending.as_ref().and_then(|p| p.get_word_ids().first());
        held.copied().flatten().unwrap_or(self.words_before) as usize
    }

    /// Word mode: the character spans of the words found since the last call, in order.
    pub fn take_spans(&mut self) -> Vec<(usize, usize)> {
        std::mem::take(&mut self.spans)
    }

    fn encode_text(&mut self, segment: &str) -> Result<Encoding> {
        let mut enc = self
            .tok
            .encode_char_offsets(segment, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let shift = self.chars_before;
        for o in enc.get_offsets_mut() {
            *o = (o.0 + shift, o.1 + shift);
        }
        let words = self.words_before;
        let mut next = words;
        for w in enc.get_word_ids_mut().iter_mut().flatten() {
            *w += words;
            next = next.max(*w + 1);
        }
        self.words_before = next;
        Ok(enc)
    }

    /// The words of `text[at..end]` encoded as pre-split words (offsets stay within each word).
    fn encode_words(&mut self, at: usize, end: usize) -> Result<Encoding> {
        let text = self.text;
        let mut bytes = Vec::new();
        crate::split::split_range(text, at..end, &mut self.first_chunk, &mut bytes);
        crate::split::char_ranges(text, (at, self.chars_before), &bytes, &mut self.spans);
        if bytes.is_empty() {
            return Ok(Encoding::default());
        }
        let words: Vec<&str> = bytes.iter().map(|&(s, e)| &text[s..e]).collect();
        let mut enc = self
            .tok
            .encode_char_offsets(words.as_slice(), false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let base = self.words_before;
        for w in enc.get_word_ids_mut().iter_mut().flatten() {
            *w += base;
        }
        self.words_before += words.len() as u32;
        Ok(enc)
    }
}
