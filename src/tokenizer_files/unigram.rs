//! Tokenizer-files stage, SentencePiece Unigram: XLM-R, CamemBERT and DeBERTa-v2/v3 tokenizers
//! from their `.model` file.
//!
//! Each builder mirrors its `transformers` 5 tokenizer class (`XLMRobertaTokenizer`,
//! `CamembertTokenizer`, `DebertaV2Tokenizer`, fed by `convert_slow_tokenizer`'s
//! `SentencePieceExtractor` and `convert_from_spm`): the vocabulary with fairseq's special pieces
//! first where the family has them, the normalizer, the pre-tokenizer (`WhitespaceSplit` then
//! `Metaspace`), the template post-processor and the added tokens.

use std::path::Path;

use serde_json::Value;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{
    Lowercase, NormalizerWrapper, Precompiled, Replace, Sequence, Strip, NFC,
};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::sentencepiece::{self, PieceType, SpModel};
use super::{add_tokens, named, special_text};
use crate::error::{Error, Result};

/// fairseq's dictionary order: XLM-R's `<s> <pad> </s> <unk>`, the model's pieces after its own
/// first three (so a piece's id is its SentencePiece id + 1), `<mask>` last.
pub fn xlm_roberta(path: &Path, config: &Value) -> Result<Tokenizer> {
    let sp = read(path)?;
    let text = |k: &str, d: &str| special_text(config, k, d);
    let mut vocab: Vec<(String, f64)> = ["bos_token", "pad_token", "eos_token", "unk_token"]
        .iter()
        .zip(["<s>", "<pad>", "</s>", "<unk>"])
        .map(|(k, d)| (text(k, d), 0.0))
        .collect();
    vocab.extend(scored(sp.pieces.get(3..).unwrap_or_default()));
    vocab.push((text("mask_token", "<mask>"), 0.0));
    let specials = roberta_specials(config, None);
    fairseq_tokenizer(path, config, &sp, vocab, 3, &specials)
}

/// CamemBERT's fairseq order: `<s>NOTUSED <pad> </s>NOTUSED <unk> <unk>NOTUSED`, the model's
/// pieces after its first, `<mask>` last (matched with the spaces before it, `lstrip`).
pub fn camembert(path: &Path, config: &Value) -> Result<Tokenizer> {
    let sp = read(path)?;
    let unk = special_text(config, "unk_token", "<unk>");
    let mut vocab = vec![
        ("<s>NOTUSED".to_string(), 0.0),
        (special_text(config, "pad_token", "<pad>"), 0.0),
        ("</s>NOTUSED".to_string(), 0.0),
        (unk.clone(), 0.0),
        ("<unk>NOTUSED".to_string(), -100.0),
    ];
    vocab.extend(scored(sp.pieces.get(1..).unwrap_or_default()));
    vocab.push((special_text(config, "mask_token", "<mask>"), 0.0));
    let unk_id = vocab.iter().position(|(p, _)| *p == unk).unwrap_or(0);
    // CamembertTokenizer wraps a mask token given as text into an lstrip AddedToken
    let mask = match config.get("mask_token").filter(|v| v.is_object()) {
        Some(_) => None,
        None => Some(named(config, "mask_token", "<mask>").lstrip(true)),
    };
    let specials = roberta_specials(config, mask.clone());
    let mut tok = fairseq_tokenizer(path, config, &sp, vocab, unk_id, &specials)?;
    if let Some(mask) = mask {
        tok.add_tokens([mask])
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
    }
    Ok(tok)
}

/// DeBERTa-v2/v3: the model's pieces as they are, no charsmap; whitespace runs, tabs and line
/// breaks become one space, NFC, right strip; `[CLS] … [SEP]`.
pub fn deberta_v2(path: &Path, config: &Value) -> Result<Tokenizer> {
    let sp = read(path)?;
    let flag = |k: &str, default: bool| config.get(k).and_then(Value::as_bool).unwrap_or(default);
    let unk = special_text(config, "unk_token", "[UNK]");
    let vocab = scored(&sp.pieces);
    let unk_id = vocab
        .iter()
        .position(|(p, s)| *p == unk && *s == 0.0)
        .unwrap_or(sp.unk_id as usize);
    let mut tok = unigram(path, vocab, unk_id)?;
    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    if flag("do_lower_case", false) {
        norms.push(Lowercase.into());
    }
    let spaces = Replace::new(
        tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s{2,}|[\n\r\t]".into()),
        " ",
    )
    .map_err(|e| Error::Tokenizer(e.to_string()))?;
    norms.extend([spaces.into(), NFC.into(), Strip::new(false, true).into()]);
    tok.with_normalizer(Some(Sequence::new(norms)))
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    let scheme = match flag("add_prefix_space", true) {
        true => PrependScheme::Always,
        false => PrependScheme::First,
    };
    let mut pre: Vec<PreTokenizerWrapper> = Vec::new();
    if flag("split_by_punct", false) {
        pre.push(Punctuation::new(SplitDelimiterBehavior::Isolated).into());
    }
    pre.push(Metaspace::new('▁', scheme, true).into());
    tok.with_pre_tokenizer(Some(PreSequence::new(pre)));
    tok.with_decoder(Some(Metaspace::new('▁', scheme, true)));
    let specials = [
        ("bos_token", "[CLS]"),
        ("eos_token", "[SEP]"),
        ("unk_token", "[UNK]"),
        ("sep_token", "[SEP]"),
        ("pad_token", "[PAD]"),
        ("cls_token", "[CLS]"),
        ("mask_token", "[MASK]"),
    ]
    .map(|(k, d)| (k, named(config, k, d)));
    add_tokens(&mut tok, config, model_tokens(&sp), &specials)?;
    let (cls, sep) = (
        special_text(config, "cls_token", "[CLS]"),
        special_text(config, "sep_token", "[SEP]"),
    );
    let id = |t: &str| tok.token_to_id(t).unwrap_or(0);
    let single = vec![format!("{cls}:0"), "$A:0".into(), format!("{sep}:0")];
    let mut pair = single.clone();
    pair.extend(["$B:1".to_string(), format!("{sep}:1")]);
    let specials = vec![(cls.clone(), id(&cls)), (sep.clone(), id(&sep))];
    tok.with_post_processor(Some(template(path, single, pair, specials)?));
    Ok(tok)
}

/// What XLM-R and CamemBERT share after their vocabularies: the charsmap, `WhitespaceSplit` +
/// `Metaspace`, `<s> $A </s>`.
fn fairseq_tokenizer(
    path: &Path,
    config: &Value,
    sp: &SpModel,
    vocab: Vec<(String, f64)>,
    unk_id: usize,
    specials: &[(&str, AddedToken)],
) -> Result<Tokenizer> {
    let mut tok = unigram(path, vocab, unk_id)?;
    if !sp.precompiled_charsmap.is_empty() {
        let charsmap =
            Precompiled::from(&sp.precompiled_charsmap).map_err(|e| Error::model_file(path, e))?;
        tok.with_normalizer(Some(charsmap))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
    }
    let scheme = match config.get("add_prefix_space").and_then(Value::as_bool) {
        Some(false) => PrependScheme::Never,
        _ => PrependScheme::Always,
    };
    let pre: Vec<PreTokenizerWrapper> = vec![
        WhitespaceSplit.into(),
        Metaspace::new('▁', scheme, true).into(),
    ];
    tok.with_pre_tokenizer(Some(PreSequence::new(pre)));
    tok.with_decoder(Some(Metaspace::new('▁', scheme, true)));
    add_tokens(&mut tok, config, model_tokens(sp), specials)?;
    let (bos, eos) = (
        special_text(config, "bos_token", "<s>"),
        special_text(config, "eos_token", "</s>"),
    );
    let id = |t: &str| {
        tok.token_to_id(t)
            .ok_or_else(|| Error::model_file(path, format!("special token {t} has no id")))
    };
    let specials = vec![(bos.clone(), id(&bos)?), (eos.clone(), id(&eos)?)];
    let single = vec![bos.clone(), "$A".into(), eos.clone()];
    let pair = vec![bos, "$A".into(), eos.clone(), eos.clone(), "$B".into(), eos];
    tok.with_post_processor(Some(template(path, single, pair, specials)?));
    Ok(tok)
}

/// The named special tokens of the RoBERTa family (`mask` replaces the config's mask token).
fn roberta_specials(config: &Value, mask: Option<AddedToken>) -> [(&'static str, AddedToken); 7] {
    [
        ("bos_token", "<s>"),
        ("eos_token", "</s>"),
        ("unk_token", "<unk>"),
        ("sep_token", "</s>"),
        ("pad_token", "<pad>"),
        ("cls_token", "<s>"),
        ("mask_token", "<mask>"),
    ]
    .map(|(k, d)| match (k, &mask) {
        ("mask_token", Some(m)) => (k, m.clone()),
        _ => (k, named(config, k, d)),
    })
}

fn read(path: &Path) -> Result<SpModel> {
    let bytes = std::fs::read(path).map_err(|e| Error::model_file(path, e))?;
    sentencepiece::parse(&bytes)
        .map_err(|e| Error::model_file(path, format!("not a valid SentencePiece model: {e}")))
}

fn scored(pieces: &[sentencepiece::Piece]) -> Vec<(String, f64)> {
    pieces
        .iter()
        .map(|p| (p.piece.clone(), f64::from(p.score)))
        .collect()
}

fn unigram(path: &Path, vocab: Vec<(String, f64)>, unk_id: usize) -> Result<Tokenizer> {
    let model = Unigram::from(vocab, Some(unk_id), false)
        .map_err(|e| Error::model_file(path, format!("cannot build the Unigram model: {e}")))?;
    Ok(Tokenizer::new(model))
}

/// The model's control pieces (special) and user-defined pieces (not), matched as written.
fn model_tokens(sp: &SpModel) -> Vec<AddedToken> {
    sp.pieces
        .iter()
        .filter_map(|p| match p.kind {
            PieceType::Control => Some(AddedToken::from(p.piece.clone(), true)),
            PieceType::UserDefined => {
                Some(AddedToken::from(p.piece.clone(), false).normalized(false))
            }
            _ => None,
        })
        .collect()
}

fn template(
    path: &Path,
    single: Vec<String>,
    pair: Vec<String>,
    specials: Vec<(String, u32)>,
) -> Result<TemplateProcessing> {
    let bad = |e: String| Error::model_file(path, format!("special tokens: {e}"));
    TemplateProcessing::builder()
        .try_single(single)
        .map_err(bad)?
        .try_pair(pair)
        .map_err(bad)?
        .special_tokens(specials)
        .build()
        .map_err(|e| bad(e.to_string()))
}
