//! Tokenizer-files stage, byte-level BPE: `vocab.json` + `merges.txt` with RoBERTa's rules.
//!
//! What `transformers`' `RobertaTokenizer` (and `RobertaConverter`) builds: a BPE model without
//! unknown token or sub-word prefix, the `ByteLevel` pre-tokenizer, and `RobertaProcessing`
//! (`<s> … </s>`), with `add_prefix_space` and `trim_offsets` from tokenizer_config.json.

use std::path::Path;

use serde_json::Value;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::Tokenizer;

use super::{add_tokens, named, special_text};
use crate::error::{Error, Result};

/// The RoBERTa tokenizer of the `vocab.json` + `merges.txt` in `dir`.
pub fn roberta(dir: &Path, config: &Value) -> Result<Tokenizer> {
    let vocab_path = dir.join("vocab.json");
    let merges_path = dir.join("merges.txt");
    let vocab = read_vocab(&vocab_path)?;
    let merges = read_merges(&merges_path)?;
    let model = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .continuing_subword_prefix(String::new())
        .end_of_word_suffix(String::new())
        .fuse_unk(false)
        .build()
        // a merge naming a token vocab.json lacks: the two files do not belong together
        .map_err(|e| Error::model_file(&merges_path, format!("does not fit vocab.json: {e}")))?;
    let flag = |k: &str, default: bool| config.get(k).and_then(Value::as_bool).unwrap_or(default);
    let add_prefix_space = flag("add_prefix_space", false);
    let trim_offsets = flag("trim_offsets", true);
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(
        ByteLevel::default().add_prefix_space(add_prefix_space),
    ));
    tok.with_decoder(Some(ByteLevel::default()));
    let specials = [
        ("bos_token", "<s>"),
        ("eos_token", "</s>"),
        ("unk_token", "<unk>"),
        ("sep_token", "</s>"),
        ("pad_token", "<pad>"),
        ("cls_token", "<s>"),
        ("mask_token", "<mask>"),
    ]
    .map(|(k, d)| (k, named(config, k, d)));
    add_tokens(&mut tok, config, Vec::new(), &specials)?;
    let id = |key: &str, default: &str| {
        let t = special_text(config, key, default);
        tok.token_to_id(&t)
            .map(|id| (t.clone(), id))
            .ok_or_else(|| Error::model_file(&vocab_path, format!("{key} {t:?} has no id")))
    };
    let processor = RobertaProcessing::new(id("sep_token", "</s>")?, id("cls_token", "<s>")?)
        .trim_offsets(trim_offsets)
        .add_prefix_space(add_prefix_space);
    tok.with_post_processor(Some(processor));
    Ok(tok)
}

/// `vocab.json`: one object, token → id.
fn read_vocab(path: &Path) -> Result<Vocab> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::model_file(path, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| Error::model_file(path, format!("not valid JSON: {e}")))?;
    let map = json
        .as_object()
        .ok_or_else(|| Error::model_file(path, "not a JSON object of token ids"))?;
    let mut vocab = Vocab::with_capacity(map.len());
    for (token, id) in map {
        let id = id
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| {
                Error::model_file(path, format!("token {token:?}: id {id} is not a u32"))
            })?;
        vocab.insert(token.clone(), id);
    }
    if vocab.is_empty() {
        return Err(Error::model_file(path, "no tokens"));
    }
    Ok(vocab)
}

/// `merges.txt`, read as the `tokenizers` BPE reads it: `#version` lines skipped, every other
/// line exactly two tokens separated by one space.
fn read_merges(path: &Path) -> Result<Merges> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::model_file(path, e))?;
    let mut merges = Merges::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("#version") {
            continue;
        }
        match line.split(' ').collect::<Vec<_>>()[..] {
            [a, b] => merges.push((a.to_string(), b.to_string())),
            _ => {
                return Err(Error::model_file(
                    path,
                    format!("line {}: expected two tokens separated by a space", n + 1),
                ))
            }
        }
    }
    Ok(merges)
}
