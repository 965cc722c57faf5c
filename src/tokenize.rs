//! Tokenize/window stage: text line → overlapping token windows with character offsets.
//!
//! Uses the `tokenizers` crate, the same code the Python fast tokenizers run, so ids, offsets and
//! overflow windows match the `transformers` pipeline exactly. Long lines are split into windows of
//! at most `max_tokens` (special tokens included) overlapping by `stride` tokens, never truncated.

use std::path::Path;

use serde_json::Value;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{Encoding, ModelWrapper, PostProcessor, Tokenizer, TruncationDirection};

use crate::error::{Error, Result};

/// Overlap between windows when `--stride` is not given.
pub const DEFAULT_STRIDE: usize = 128;

/// One model input: a window of a line's tokens.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub ids: Vec<u32>,
    /// Character (Unicode scalar) offsets into the line, end exclusive; (0, 0) for special tokens.
    pub offsets: Vec<(usize, usize)>,
    pub special: Vec<bool>,
    /// Token strings as the vocabulary spells them (`##ing`, `▁Berlin`).
    pub tokens: Vec<String>,
    /// Index of the pre-tokenized word each token belongs to (None for special tokens).
    pub words: Vec<Option<u32>>,
}

/// What the tokenizer directory says about the limits of one window.
pub struct TokenizerInfo {
    /// `model_max_length` of tokenizer_config.json, when it is a real limit.
    pub model_max_length: Option<usize>,
}

pub struct TextTokenizer {
    /// The checkpoint's tokenizer without its post-processor: a line is encoded whole, cut into
    /// windows, and only then is each window post-processed (special tokens, offset trimming) —
    /// the order of the fast tokenizers' overflow truncation. Post-processing the whole line first
    /// would trim byte-level BPE offsets twice.
    inner: Tokenizer,
    post: Option<PostProcessorWrapper>,
    /// Byte-level BPE tokenizers without `add_prefix_space`: the same with it, for pre-split words
    /// (`is_split_into_words` needs `add_prefix_space=True`, as `transformers` prepares RoBERTa).
    words_with_prefix: Option<(Tokenizer, Option<PostProcessorWrapper>)>,
    /// WordPiece's `##`: the pipeline then tells sub-words by token length, else by spacing.
    subword_prefix: Option<String>,
    unk_id: Option<u32>,
    /// Text tokens per window (special tokens excluded) and the overlap between windows.
    body_tokens: usize,
    stride: usize,
    /// Why a long line is tokenized whole, not segment by segment ([`crate::segment::line_cuts`]).
    whole_lines: Option<String>,
}

impl TextTokenizer {
    /// Loads the checkpoint's tokenizer files ([`crate::tokenizer_files::load`]: `tokenizer.json`,
    /// else the files a slow tokenizer ships) with `tokenizer_config.json`'s options.
    pub fn load(dir: &Path) -> Result<(Self, TokenizerInfo)> {
        let config = read_tokenizer_config(dir)?;
        let inner = crate::tokenizer_files::load(dir, &config)?;
        let generic = crate::tokenizer_files::generic_backend(dir, &config);
        let config = crate::tokenizer_files::with_class_defaults(dir, config);
        Self::from_parts(inner, &config, generic)
    }

    /// The tokenizer of the built-in model, from the bytes of its `tokenizer.json` and
    /// `tokenizer_config.json`.
    pub fn from_bytes(json: &[u8], config: &str) -> Result<(Self, TokenizerInfo)> {
        let name = crate::model::bundled::BUILT_IN;
        let inner = Tokenizer::from_bytes(json).map_err(|e| {
            Error::model_file(
                format!("{name}/tokenizer.json"),
                format!("cannot load tokenizer: {e}"),
            )
        })?;
        let config: Value = serde_json::from_str(config).map_err(|e| {
            Error::model_file(
                format!("{name}/tokenizer_config.json"),
                format!("not valid JSON: {e}"),
            )
        })?;
        Self::from_parts(inner, &config, false) // WordPiece: no byte-level flags
    }

    /// `generic`: the tokenizer is used as tokenizer.json says, as `transformers`' generic backend
    /// does (see [`crate::tokenizer_files::generic_backend`]).
    fn from_parts(
        mut inner: Tokenizer,
        config: &Value,
        generic: bool,
    ) -> Result<(Self, TokenizerInfo)> {
        // Truncation/padding baked into tokenizer.json would silently cut or pad lines: windows set their own.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        // `RobertaTokenizer` & co. rebuild their pipeline from tokenizer_config.json's flags; the
        // generic backend keeps tokenizer.json's.
        let flag = |k: &str| config.get(k).and_then(Value::as_bool).filter(|_| !generic);
        let (prefix, trim) = (flag("add_prefix_space"), flag("trim_offsets"));
        let mut post = inner.get_post_processor().cloned();
        if let Some(pre) = inner.get_pre_tokenizer().cloned() {
            if let Some(pre) = byte_level_with(pre, prefix, trim) {
                inner.with_pre_tokenizer(Some(pre));
                post = post.map(|p| post_with(p, prefix, trim));
            }
        }
        inner.with_post_processor(None::<PostProcessorWrapper>);
        // Pre-split words: `RobertaTokenizer` & co. need `add_prefix_space=True` for them; the
        // generic backend encodes each word as it is.
        let words_with_prefix = match inner.get_pre_tokenizer().cloned() {
            Some(pre) if !generic && byte_level_prefix(&pre) == Some(false) => {
                let mut words = inner.clone();
                words.with_pre_tokenizer(byte_level_with(pre, Some(true), None));
                Some((words, post.clone().map(|p| post_with(p, Some(true), None))))
            }
            _ => None,
        };
        let subword_prefix = match inner.get_model() {
            ModelWrapper::WordPiece(wp) => Some(wp.continuing_subword_prefix.clone()),
            ModelWrapper::BPE(bpe) => bpe.get_continuing_subword_prefix().clone(),
            _ => None,
        }
        .filter(|p| !p.is_empty());
        let unk_token = config.get("unk_token").and_then(token_content);
        // The pipeline compares against `tokenizer.unk_token_id`, which comes from the config.
        let unk_id =
            unk_token
                .and_then(|t| inner.token_to_id(&t))
                .or_else(|| match inner.get_model() {
                    ModelWrapper::WordPiece(wp) => inner.token_to_id(&wp.unk_token),
                    _ => None,
                });
        let model_max_length = config
            .get("model_max_length")
            .and_then(Value::as_f64)
            .filter(|n| *n > 0.0 && *n < 1e9)
            .map(|n| n as usize);
        let whole_lines = crate::segment::line_cuts(&inner).err();
        Ok((
            Self {
                whole_lines,
                inner,
                post,
                words_with_prefix,
                subword_prefix,
                unk_id,
                body_tokens: usize::MAX,
                stride: 0,
            },
            TokenizerInfo { model_max_length },
        ))
    }

    /// Sets the window size (tokens, special included) and overlap used by [`Self::windows`].
    /// Without an explicit stride, windows overlap by 128 tokens, or half a window if that is less.
    /// `max_given`: the window size came from `--max-length` (errors name only the user's flags).
    pub fn set_windows(
        &mut self,
        max_tokens: usize,
        stride: Option<usize>,
        max_given: bool,
    ) -> Result<()> {
        let specials = self.post.as_ref().map_or(0, |p| p.added_tokens(false));
        let window = if max_given {
            format!("--max-length {max_tokens}")
        } else {
            format!("the model's {max_tokens}-token windows")
        };
        match stride {
            None if max_tokens <= specials => {
                return Err(Error::Usage(format!(
                    "{window}: no room for text after the model's {specials} special tokens"
                )))
            }
            Some(s) if max_tokens <= specials + s => {
                return Err(Error::Usage(format!(
                    "--stride {s} must be smaller than the {} text tokens of {window} ({specials} special tokens each)",
                    max_tokens.saturating_sub(specials)
                )))
            }
            _ => {}
        }
        let stride =
            stride.unwrap_or_else(|| DEFAULT_STRIDE.min(max_tokens.saturating_sub(specials) / 2));
        self.body_tokens = max_tokens - specials;
        self.stride = stride;
        Ok(())
    }

    /// Why long lines are tokenized whole (None: segment by segment, see [`crate::segment`]).
    pub fn whole_lines(&self) -> Option<&str> {
        self.whole_lines.as_deref()
    }

    /// The tokenizer (for text, or for pre-split words) and post-processor windows are made with.
    pub(crate) fn parts(&self, words: bool) -> (&Tokenizer, Option<&PostProcessorWrapper>) {
        match (&self.words_with_prefix, words) {
            (Some((tok, post)), true) => (tok, post.as_ref()),
            _ => (&self.inner, self.post.as_ref()),
        }
    }

    pub(crate) fn window_shape(&self) -> (usize, usize) {
        (self.body_tokens, self.stride)
    }

    pub fn subword_prefix(&self) -> Option<&str> {
        self.subword_prefix.as_deref()
    }

    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }

    /// Highest id the tokenizer can produce, to check against the embedding table.
    pub fn max_id(&self) -> u32 {
        self.inner
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// The windows of one line, in order: one unless the line is longer than a window.
    pub fn windows(&self, text: &str) -> Result<Vec<Window>> {
        let enc = self
            .inner
            .encode_char_offsets(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        split(enc, self.post.as_ref(), self.body_tokens, self.stride)
    }

    /// The windows of a pre-tokenized sentence (`is_split_into_words`): offsets are within each
    /// word. Byte-level BPE tokenizers encode each word with a prefix space whatever their own
    /// `add_prefix_space` says, except under the generic backend (ModernBERT), as `transformers`.
    pub fn windows_of_words(&self, words: &[&str]) -> Result<Vec<Window>> {
        let (tok, post) = self.parts(true);
        let enc = tok
            .encode_char_offsets(words, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        split(enc, post, self.body_tokens, self.stride)
    }

    /// The words the tokenizer's pre-tokenizer splits a line into, with character offsets.
    pub fn words(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let enc = self
            .inner
            .encode_char_offsets(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        listed_words(self.post.as_ref(), enc)
    }
}

/// The character spans of an encoding's words (each word's tokens merged), after the
/// post-processor's offset trimming: [`TextTokenizer::words`] of a line, or of one segment of it
/// ([`crate::windows::WindowStream::list_words`]).
pub(crate) fn listed_words(
    post: Option<&PostProcessorWrapper>,
    enc: Encoding,
) -> Result<Vec<(usize, usize)>> {
    let enc = post_process(post, enc, false)?;
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut last = None;
    for (w, &(s, e)) in enc.get_word_ids().iter().zip(enc.get_offsets()) {
        match (w, out.last_mut()) {
            (Some(w), Some(cur)) if last == Some(*w) => cur.1 = cur.1.max(e),
            (Some(w), _) => {
                out.push((s, e));
                last = Some(*w);
            }
            (None, _) => {}
        }
    }
    Ok(out)
}

/// Cuts a whole encoding into overlapping windows exactly as the fast tokenizers' overflow
/// truncation does (`Encoding::truncate`, right side), then post-processes each (special tokens,
/// offset trimming).
///
/// The tokenizer's own truncation is not used: tokenizers 0.23.2 stops tokenizing early when
/// truncation is set, so its overflow windows end after the second one.
fn split(
    mut enc: Encoding,
    post: Option<&PostProcessorWrapper>,
    body_tokens: usize,
    stride: usize,
) -> Result<Vec<Window>> {
    if enc.len() > body_tokens {
        enc.truncate(body_tokens, stride, TruncationDirection::Right);
    }
    let overflow = enc.take_overflowing();
    std::iter::once(enc)
        .chain(overflow)
        .map(|part| finish_window(post, part))
        .collect()
}

/// A window's text tokens post-processed into a model input (special tokens, offset trimming).
pub(crate) fn finish_window(post: Option<&PostProcessorWrapper>, part: Encoding) -> Result<Window> {
    Ok(window(&post_process(post, part, true)?))
}

/// What `Tokenizer::post_process` does without truncation or padding.
fn post_process(
    post: Option<&PostProcessorWrapper>,
    enc: Encoding,
    add_special_tokens: bool,
) -> Result<Encoding> {
    match post {
        Some(p) => p
            .process(enc, None, add_special_tokens)
            .map_err(|e| Error::Tokenizer(e.to_string())),
        None => Ok(enc),
    }
}

/// `add_prefix_space` of a byte-level pre-tokenizer (alone or in a sequence); None for others.
fn byte_level_prefix(pre: &PreTokenizerWrapper) -> Option<bool> {
    match pre {
        PreTokenizerWrapper::ByteLevel(b) => Some(b.add_prefix_space),
        PreTokenizerWrapper::Sequence(s) => s.as_ref().iter().find_map(byte_level_prefix),
        _ => None,
    }
}

/// The pre-tokenizer with its byte-level step's flags set where given; None if it has none.
fn byte_level_with(
    mut pre: PreTokenizerWrapper,
    prefix: Option<bool>,
    trim: Option<bool>,
) -> Option<PreTokenizerWrapper> {
    fn set(b: &mut ByteLevel, prefix: Option<bool>, trim: Option<bool>) {
        b.add_prefix_space = prefix.unwrap_or(b.add_prefix_space);
        b.trim_offsets = trim.unwrap_or(b.trim_offsets);
    }
    byte_level_prefix(&pre)?;
    match &mut pre {
        PreTokenizerWrapper::ByteLevel(b) => set(b, prefix, trim),
        PreTokenizerWrapper::Sequence(s) => {
            for p in s.as_mut() {
                if let PreTokenizerWrapper::ByteLevel(b) = p {
                    set(b, prefix, trim);
                }
            }
        }
        _ => {}
    }
    Some(pre)
}

/// The post-processor with the offset-trimming flags of RoBERTa / byte-level set where given.
fn post_with(
    post: PostProcessorWrapper,
    prefix: Option<bool>,
    trim: Option<bool>,
) -> PostProcessorWrapper {
    match post {
        PostProcessorWrapper::Roberta(r) => {
            let (p, t) = (r.add_prefix_space, r.trim_offsets);
            PostProcessorWrapper::Roberta(
                r.add_prefix_space(prefix.unwrap_or(p))
                    .trim_offsets(trim.unwrap_or(t)),
            )
        }
        PostProcessorWrapper::ByteLevel(mut b) => {
            b.add_prefix_space = prefix.unwrap_or(b.add_prefix_space);
            b.trim_offsets = trim.unwrap_or(b.trim_offsets);
            PostProcessorWrapper::ByteLevel(b)
        }
        other => other,
    }
}

fn window(e: &Encoding) -> Window {
    Window {
        ids: e.get_ids().to_vec(),
        offsets: e.get_offsets().to_vec(),
        special: e
            .get_special_tokens_mask()
            .iter()
            .map(|&m| m != 0)
            .collect(),
        tokens: e.get_tokens().to_vec(),
        words: e.get_word_ids().to_vec(),
    }
}

fn read_tokenizer_config(dir: &Path) -> Result<Value> {
    let path = dir.join("tokenizer_config.json");
    if !path.is_file() {
        return Ok(Value::Object(Default::default()));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::model_file(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::model_file(&path, format!("not valid JSON: {e}")))
}

/// A special token's text, whether the config stores it as a string or an AddedToken object.
fn token_content(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.get("content")?.as_str().map(str::to_string))
}
