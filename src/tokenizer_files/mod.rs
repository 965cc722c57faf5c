//! Tokenizer-files stage: builds the `tokenizers` tokenizer from whichever files a checkpoint ships.
//!
//! Tried in the order `transformers` prefers them: `tokenizer.json`; `vocab.txt` (WordPiece,
//! [`wordpiece`]); `vocab.json` + `merges.txt` (byte-level BPE with RoBERTa's rules, [`bpe`]);
//! `sentencepiece.bpe.model` (XLM-R, CamemBERT) and `spm.model` (DeBERTa-v2/v3), both read by
//! [`sentencepiece`] and assembled by [`unigram`]. Each builder mirrors what `transformers` 5 builds
//! from the same files (its tokenizer classes' `__init__` and `convert_slow_tokenizer`), chosen
//! by tokenizer_config.json's `tokenizer_class`, else by config.json's `model_type`.

pub mod bpe;
pub mod sentencepiece;
pub mod unigram;
pub mod wordpiece;

use std::path::Path;

use serde_json::Value;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{Error, Result};

/// The layouts [`load`] knows, in the order it tries them.
pub const LAYOUTS: &str =
    "tokenizer.json, vocab.txt, vocab.json + merges.txt, sentencepiece.bpe.model or spm.model";

/// The tokenizer of checkpoint directory `dir`; `config` is its tokenizer_config.json (an empty
/// object when it has none).
pub fn load(dir: &Path, config: &Value) -> Result<Tokenizer> {
    let json = dir.join("tokenizer.json");
    if json.is_file() {
        return Tokenizer::from_file(&json)
            .map_err(|e| Error::model_file(&json, format!("cannot load tokenizer: {e}")));
    }
    if dir.join("vocab.txt").is_file() {
        return wordpiece::from_vocab(dir, config);
    }
    let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
    if vocab.is_file() && merges.is_file() {
        return match family(dir, config) {
            None => bpe::roberta(dir, config),
            Some(f) if ROBERTA_LIKE.contains(&f.class.as_str()) => bpe::roberta(dir, config),
            Some(f) => Err(unsupported(&vocab, &f, "RobertaTokenizer")),
        };
    }
    let spm = dir.join("sentencepiece.bpe.model");
    if spm.is_file() {
        return match family(dir, config) {
            Some(f) if f.class == "CamembertTokenizer" => unigram::camembert(&spm, config),
            Some(f) if f.class != "XLMRobertaTokenizer" => Err(unsupported(
                &spm,
                &f,
                "XLMRobertaTokenizer or CamembertTokenizer",
            )),
            _ => unigram::xlm_roberta(&spm, config),
        };
    }
    let spm = dir.join("spm.model");
    if spm.is_file() {
        return match family(dir, config) {
            Some(f) if f.class != "DebertaV2Tokenizer" => {
                Err(unsupported(&spm, &f, "DebertaV2Tokenizer"))
            }
            _ => unigram::deberta_v2(&spm, config),
        };
    }
    let half = match (vocab.is_file(), merges.is_file()) {
        (true, false) => " (vocab.json is there without its merges.txt)",
        (false, true) => " (merges.txt is there without its vocab.json)",
        _ => "",
    };
    Err(Error::model_file(
        dir,
        format!("no tokenizer: expected {LAYOUTS}{half}"),
    ))
}

/// `config` with the unknown token `transformers`' tokenizer class defaults to when the config
/// names none (old XLM-R checkpoints ship `{"model_max_length": 512}`): the pipeline compares
/// ids with that class's `unk_token_id`. Only for the layouts built here from slow files.
pub fn with_class_defaults(dir: &Path, mut config: Value) -> Value {
    if dir.join("tokenizer.json").is_file() || dir.join("vocab.txt").is_file() {
        return config;
    }
    let bpe = dir.join("vocab.json").is_file() && dir.join("merges.txt").is_file();
    let unk = if bpe || dir.join("sentencepiece.bpe.model").is_file() {
        "<unk>"
    } else if dir.join("spm.model").is_file() {
        "[UNK]"
    } else {
        return config;
    };
    if let Some(m) = config.as_object_mut() {
        m.entry("unk_token").or_insert_with(|| Value::from(unk));
    }
    config
}

/// Model types `transformers` 5 always loads with its generic `TokenizersBackend`, whatever
/// tokenizer_config.json's `tokenizer_class` says (`MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS` in
/// `models/auto/tokenization_auto.py`; the encoder families ner-tag runs).
const GENERIC_BACKEND_MODELS: &[&str] = &["modernbert"];

/// Whether `transformers` loads this tokenizer.json as it is, with the generic backend
/// (`TokenizersBackend`, alias `PreTrainedTokenizerFast`) that does not rebuild its pipeline from
/// tokenizer_config.json's `add_prefix_space`/`trim_offsets` (and so encodes pre-split words
/// without a prefix space), rather than with a class such as `RobertaTokenizer` that does.
pub fn generic_backend(dir: &Path, config: &Value) -> bool {
    let model_type = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("model_type")?.as_str().map(str::to_string));
    if model_type.is_some_and(|t| GENERIC_BACKEND_MODELS.contains(&t.as_str())) {
        return true;
    }
    matches!(
        config.get("tokenizer_class").and_then(Value::as_str),
        Some("PreTrainedTokenizerFast" | "TokenizersBackend")
    )
}

/// Tokenizer classes whose vocab.json + merges.txt `transformers` converts with RoBERTa's rules.
const ROBERTA_LIKE: &[&str] = &[
    "RobertaTokenizer",
    "BartTokenizer",
    "LongformerTokenizer",
    "LEDTokenizer",
    "MvpTokenizer",
];

/// Which tokenizer class the checkpoint asks for, and where it says so.
struct Family {
    class: String,
    source: String,
}

/// tokenizer_config.json's `tokenizer_class` (without its `Fast` suffix), else the class
/// `transformers` maps config.json's `model_type` to.
fn family(dir: &Path, config: &Value) -> Option<Family> {
    if let Some(c) = config.get("tokenizer_class").and_then(Value::as_str) {
        return Some(Family {
            class: c.strip_suffix("Fast").unwrap_or(c).to_string(),
            source: format!("tokenizer_class \"{c}\""),
        });
    }
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let model_type = serde_json::from_str::<Value>(&text)
        .ok()?
        .get("model_type")?
        .as_str()?
        .to_string();
    let class = match model_type.as_str() {
        "roberta" => "RobertaTokenizer",
        "bart" => "BartTokenizer",
        "longformer" => "LongformerTokenizer",
        "xlm-roberta" => "XLMRobertaTokenizer",
        "camembert" => "CamembertTokenizer",
        "deberta-v2" => "DebertaV2Tokenizer",
        _ => "",
    };
    Some(Family {
        class: class.to_string(),
        source: format!("config.json's model_type \"{model_type}\""),
    })
}

fn unsupported(file: &Path, f: &Family, known: &str) -> Error {
    Error::model_file(
        file,
        format!(
            "{} is not a tokenizer ner-tag builds from this file (it builds {known})",
            f.source
        ),
    )
}

/// A special token's text, whether the config stores it as a string or an AddedToken object.
pub(crate) fn token_content(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.get("content")?.as_str().map(str::to_string))
}

/// A token of tokenizer_config.json: a string (matched as is when `special`), or an AddedToken
/// object with its own matching flags, as `transformers`' `AddedToken` reads it.
pub(crate) fn added_token(v: &Value, special: bool) -> Option<AddedToken> {
    if let Some(s) = v.as_str() {
        return Some(AddedToken::from(s, special));
    }
    let content = v.get("content")?.as_str()?;
    let flag = |k: &str| v.get(k).and_then(Value::as_bool);
    let special = flag("special").unwrap_or(special);
    Some(
        AddedToken::from(content, special)
            .single_word(flag("single_word").unwrap_or(false))
            .lstrip(flag("lstrip").unwrap_or(false))
            .rstrip(flag("rstrip").unwrap_or(false))
            .normalized(flag("normalized").unwrap_or(!special)),
    )
}

/// The text of the config's named special token `key` (`bos_token`, `mask_token`, …), else `default`.
pub(crate) fn special_text(config: &Value, key: &str, default: &str) -> String {
    config
        .get(key)
        .and_then(token_content)
        .unwrap_or_else(|| default.to_string())
}

/// Registers the added tokens the way `transformers` 5 does after building the model: the
/// config's `added_tokens_decoder` in id order (with their flags), then `extra` (a SentencePiece
/// model's control and user-defined pieces, the config's additional special tokens), then the
/// named special tokens `named` (key, default) the first two did not already define. A token
/// missing from the vocabulary gets the next free id.
pub(crate) fn add_tokens(
    tok: &mut Tokenizer,
    config: &Value,
    mut extra: Vec<AddedToken>,
    named: &[(&str, AddedToken)],
) -> Result<()> {
    let mut tokens: Vec<(u64, AddedToken)> = config
        .get("added_tokens_decoder")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(id, v)| Some((id.parse().ok()?, added_token(v, true)?)))
                .collect()
        })
        .unwrap_or_default();
    tokens.sort_by_key(|(id, _)| *id);
    let mut all: Vec<AddedToken> = tokens.into_iter().map(|(_, t)| t).collect();
    for key in ["additional_special_tokens", "extra_special_tokens"] {
        if let Some(list) = config.get(key).and_then(Value::as_array) {
            extra.extend(list.iter().filter_map(|v| added_token(v, true)));
        }
    }
    for t in extra {
        if !all.iter().any(|a| a.content == t.content) {
            all.push(t);
        }
    }
    for (key, default) in named {
        // A special token the config spells out as an object keeps its flags; a string or an
        // absent one keeps those already registered under its text, else the class's default.
        match config.get(*key).filter(|v| v.is_object()) {
            Some(v) => all.extend(added_token(v, true)),
            None if all.iter().any(|a| a.content == default.content) => {}
            None => all.push(default.clone()),
        }
    }
    tok.add_tokens(all)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(())
}

/// The config's named special token `key` as an AddedToken default: its text, matched as is.
pub(crate) fn named(config: &Value, key: &str, default: &str) -> AddedToken {
    AddedToken::from(special_text(config, key, default), true)
}
