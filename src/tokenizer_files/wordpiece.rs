//! Tokenizer-files stage, WordPiece: the tokenizer `BertTokenizer` builds from `vocab.txt`.

use std::path::Path;

use serde_json::Value;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, Tokenizer};

use super::token_content;
use crate::error::{Error, Result};

/// The tokenizer `BertTokenizer` builds from `vocab.txt`, with `tokenizer_config.json`'s options.
pub fn from_vocab(dir: &Path, config: &Value) -> Result<Tokenizer> {
    let vocab = dir.join("vocab.txt");
    let flag = |k: &str, default: bool| config.get(k).and_then(Value::as_bool).unwrap_or(default);
    let special = |k: &str, default: &str| {
        config
            .get(k)
            .and_then(token_content)
            .unwrap_or_else(|| default.to_string())
    };
    let (unk, cls, sep, pad, mask) = (
        special("unk_token", "[UNK]"),
        special("cls_token", "[CLS]"),
        special("sep_token", "[SEP]"),
        special("pad_token", "[PAD]"),
        special("mask_token", "[MASK]"),
    );
    let vocab_str = vocab
        .to_str()
        .ok_or_else(|| Error::model_file(&vocab, "path is not UTF-8"))?;
    let model = WordPiece::from_file(vocab_str)
        .unk_token(unk.clone())
        .build()
        .map_err(|e| Error::model_file(&vocab, format!("cannot read vocabulary: {e}")))?;
    let mut tok = Tokenizer::new(model);
    let lowercase = flag("do_lower_case", true);
    let strip_accents = config.get("strip_accents").and_then(Value::as_bool);
    let normalizer = BertNormalizer::new(
        true,
        flag("tokenize_chinese_chars", true),
        strip_accents,
        lowercase,
    );
    tok.with_normalizer(Some(normalizer))
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    let id = |t: &str| {
        tok.token_to_id(t).ok_or_else(|| {
            Error::model_file(
                &vocab,
                format!("special token {t} is not in the vocabulary"),
            )
        })
    };
    let processor = BertProcessing::new((sep.clone(), id(&sep)?), (cls.clone(), id(&cls)?));
    tok.with_post_processor(Some(processor));
    let specials: Vec<AddedToken> = [pad, unk, cls, sep, mask]
        .into_iter()
        .map(|t| AddedToken::from(t, true))
        .collect();
    tok.add_special_tokens(specials)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(tok)
}
