//! Model stage: reads `config.json` into one architecture-neutral description.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// The encoder families ner-tag runs. `roberta` and `camembert` share the XLM-R layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Bert,
    DistilBert,
    XlmRoberta,
    /// BERT's encoder behind embeddings of width `embedding_size`, projected to `hidden_size`.
    Electra,
    /// DeBERTa-v2 and v3: relative (disentangled) attention, see [`super::deberta_v2`].
    DebertaV2,
    /// ModernBERT: pre-norm blocks, RoPE, GeGLU, global and local attention, see
    /// [`super::modernbert`].
    ModernBert,
}

pub const SUPPORTED_MODEL_TYPES: &[&str] = &[
    "bert",
    "distilbert",
    "xlm-roberta",
    "roberta",
    "camembert",
    "electra",
    "deberta-v2",
    "modernbert",
];

impl Architecture {
    fn from_model_type(t: &str) -> Option<Self> {
        match t {
            "bert" => Some(Self::Bert),
            "distilbert" => Some(Self::DistilBert),
            "xlm-roberta" | "roberta" | "camembert" => Some(Self::XlmRoberta),
            "electra" => Some(Self::Electra),
            "deberta-v2" => Some(Self::DebertaV2),
            "modernbert" => Some(Self::ModernBert),
            _ => None,
        }
    }

    /// Prefix of the encoder weights in a `*ForTokenClassification` checkpoint.
    pub fn weight_prefix(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::DistilBert => "distilbert",
            Self::XlmRoberta => "roberta",
            Self::Electra => "electra",
            Self::DebertaV2 => "deberta",
            Self::ModernBert => super::modernbert::PREFIX,
        }
    }

    /// The word embedding table's name below the encoder prefix.
    pub fn word_embeddings(self) -> &'static str {
        match self {
            Self::ModernBert => "embeddings.tok_embeddings.weight",
            _ => "embeddings.word_embeddings.weight",
        }
    }
}

/// What the model code needs from `config.json`, with the Hugging Face defaults filled in.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub arch: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    /// Width of the embedding tables: `hidden_size` except in ELECTRA, where a linear
    /// `embeddings_project` maps it to `hidden_size` when the two differ.
    pub embedding_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
    pub hidden_act: String,
    /// Labels in id order (`id2label`).
    pub labels: Vec<String>,
    /// The DeBERTa-v2 options; `None` for the other families.
    pub deberta: Option<super::deberta_v2::Options>,
    /// The ModernBERT options; `None` for the other families.
    pub modernbert: Option<super::modernbert::Options>,
}

impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::model_file(path, e))?;
        Self::from_str(path, &text)
    }

    /// Parses the text of a `config.json`; `path` names it in errors.
    pub fn from_str(path: impl AsRef<Path>, text: &str) -> Result<Self> {
        let path = path.as_ref();
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::model_file(path, format!("not valid JSON: {e}")))?;
        Self::from_json(&v).map_err(|msg| Error::model_file(path, msg))
    }

    pub fn from_json(v: &Value) -> std::result::Result<Self, String> {
        let model_type = v
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or("no \"model_type\"")?;
        let arch = Architecture::from_model_type(model_type).ok_or_else(|| {
            format!(
                "unsupported model_type \"{model_type}\" (supported: {})",
                SUPPORTED_MODEL_TYPES.join(", ")
            )
        })?;
        let int = |keys: &[&str], default: Option<usize>| -> std::result::Result<usize, String> {
            for k in keys {
                if let Some(x) = v.get(*k).filter(|x| !x.is_null()) {
                    return x
                        .as_u64()
                        .map(|n| n as usize)
                        .ok_or_else(|| format!("\"{k}\" is not a non-negative integer"));
                }
            }
            default.ok_or_else(|| format!("missing \"{}\"", keys[0]))
        };
        let distil = arch == Architecture::DistilBert;
        let modern = arch == Architecture::ModernBert;
        let (hidden, layers, heads, inter) = if distil {
            (
                int(&["dim"], Some(768))?,
                int(&["n_layers"], Some(6))?,
                int(&["n_heads"], Some(12))?,
                int(&["hidden_dim"], Some(3072))?,
            )
        } else {
            (
                int(&["hidden_size"], Some(768))?,
                int(&["num_hidden_layers"], Some(if modern { 22 } else { 12 }))?,
                int(&["num_attention_heads"], Some(12))?,
                int(
                    &["intermediate_size"],
                    Some(if modern { 1152 } else { 3072 }),
                )?,
            )
        };
        // Named as this family's config.json spells them.
        let (hidden_key, layers_key, heads_key, inter_key) = if distil {
            ("dim", "n_layers", "n_heads", "hidden_dim")
        } else {
            (
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
            )
        };
        for (key, n) in [
            (hidden_key, hidden),
            (layers_key, layers),
            (heads_key, heads),
            (inter_key, inter),
        ] {
            if n == 0 {
                return Err(format!("\"{key}\" is 0"));
            }
        }
        if hidden % heads != 0 {
            return Err(format!(
                "hidden size {hidden} is not a multiple of {heads} attention heads"
            ));
        }
        let deberta = arch == Architecture::DebertaV2;
        let default_pad = match arch {
            Architecture::XlmRoberta => 1,
            Architecture::ModernBert => 50283,
            _ => 0,
        };
        // ELECTRA's own default (`ElectraConfig.embedding_size`) is 128, not the hidden size.
        let embedding_size = if arch == Architecture::Electra {
            int(&["embedding_size"], Some(128))?
        } else {
            hidden
        };
        let act_key = match arch {
            Architecture::DistilBert => "activation",
            Architecture::ModernBert => "hidden_activation",
            _ => "hidden_act",
        };
        let hidden_act = v
            .get(act_key)
            .and_then(Value::as_str)
            .unwrap_or("gelu")
            .to_string();
        let max_positions = int(
            &["max_position_embeddings"],
            Some(if modern { 8192 } else { 512 }),
        )?;
        let vocab_size = int(&["vocab_size"], modern.then_some(50368))?;
        for (key, n) in [
            ("embedding_size", embedding_size),
            ("max_position_embeddings", max_positions),
            ("vocab_size", vocab_size),
        ] {
            if n == 0 {
                return Err(format!("\"{key}\" is 0"));
            }
        }
        let pad_token_id = int(&["pad_token_id"], Some(default_pad))?;
        if pad_token_id >= vocab_size {
            return Err(format!(
                "\"pad_token_id\" {pad_token_id} is not below \"vocab_size\" {vocab_size}"
            ));
        }
        let pad_token_id = u32::try_from(pad_token_id)
            .map_err(|_| format!("\"pad_token_id\" {pad_token_id} does not fit 32 bits"))?;
        let modernbert = match modern {
            true => Some(super::modernbert::Options::from_json(
                v, layers, hidden, heads,
            )?),
            false => None,
        };
        let deberta_opts = if deberta {
            Some(super::deberta_v2::Options::from_json(
                v,
                max_positions,
                hidden,
            )?)
        } else {
            None
        };
        let cfg = Self {
            arch,
            vocab_size,
            hidden_size: hidden,
            embedding_size,
            num_layers: layers,
            num_heads: heads,
            intermediate_size: inter,
            max_position_embeddings: max_positions,
            type_vocab_size: if distil || modern {
                0
            } else {
                int(&["type_vocab_size"], Some(if deberta { 0 } else { 2 }))?
            },
            layer_norm_eps: v
                .get(if modern { "norm_eps" } else { "layer_norm_eps" })
                .and_then(Value::as_f64)
                .unwrap_or(match arch {
                    Architecture::DebertaV2 => 1e-7,
                    Architecture::ModernBert => 1e-5,
                    _ => 1e-12,
                }),
            pad_token_id,
            hidden_act,
            labels: parse_id2label(v)?,
            deberta: deberta_opts,
            modernbert,
        };
        cfg.check_sizes(hidden_key, layers_key, heads_key, inter_key)?;
        Ok(cfg)
    }

    /// Refuses sizes whose tables or activations could not exist: every weight matrix, the
    /// whole encoder, one window's attention scores and feed-forward activations, counted in
    /// f32 bytes with checked arithmetic, must stay within `isize::MAX` (the most one allocation
    /// may hold). Real checkpoints are many orders of magnitude below; a config.json that is not
    /// gets one line naming its keys here, instead of an overflow or allocation failure later.
    fn check_sizes(
        &self,
        hidden_key: &str,
        layers_key: &str,
        heads_key: &str,
        inter_key: &str,
    ) -> std::result::Result<(), String> {
        let emb_key = if self.arch == Architecture::Electra {
            "embedding_size"
        } else {
            hidden_key
        };
        let (h, e, inter) = (
            self.hidden_size,
            self.embedding_size,
            self.intermediate_size,
        );
        let tokens = ("max_position_embeddings", self.max_position_embeddings);
        let rel_rows = self
            .deberta
            .as_ref()
            .filter(|d| d.relative_attention)
            .map_or(0, |d| d.att_span().saturating_mul(2));
        let limit = isize::MAX as usize;
        // f32 bytes of a buffer of the factors' product; a factor without a key is a count.
        let bytes = |what: &str, factors: &[(&str, usize)]| {
            factors
                .iter()
                .try_fold(4usize, |b, &(_, n)| {
                    b.checked_mul(n).filter(|&b| b <= limit)
                })
                .ok_or_else(|| {
                    let named: Vec<String> = factors
                        .iter()
                        .map(|&(k, n)| match k {
                            "" => n.to_string(),
                            k => format!("\"{k}\" {n}"),
                        })
                        .collect();
                    format!("sizes overflow: {what} of {} f32 values", named.join(" × "))
                })
        };
        let add = |total: usize, what: &str, b: usize| {
            total
                .checked_add(b)
                .filter(|&t| t <= limit)
                .ok_or_else(|| format!("sizes overflow: the model's weights, adding the {what}"))
        };
        let attention = bytes(
            "attention projections",
            &[("", 4), (hidden_key, h), (hidden_key, h)],
        )?;
        // Two matrices, three for ModernBERT's GeGLU: three as the bound.
        let ffn = bytes(
            "feed-forward",
            &[("", 3), (hidden_key, h), (inter_key, inter)],
        )?;
        let layer = add(attention, "feed-forward", ffn)?;
        let mut total = layer
            .checked_mul(self.num_layers)
            .filter(|&t| t <= limit)
            .ok_or_else(|| {
                format!(
                    "sizes overflow: \"{layers_key}\" {} layers of {layer} bytes",
                    self.num_layers
                )
            })?;
        let tables: [(&str, &[(&str, usize)]); 5] = [
            (
                "word embeddings",
                &[("vocab_size", self.vocab_size), (emb_key, e)],
            ),
            ("position embeddings", &[tokens, (emb_key, e)]),
            (
                "token type embeddings",
                &[("type_vocab_size", self.type_vocab_size), (emb_key, e)],
            ),
            ("embeddings projection", &[(emb_key, e), (hidden_key, h)]),
            (
                "relative position embeddings",
                &[
                    ("max_relative_positions/position_buckets", rel_rows),
                    (hidden_key, h),
                ],
            ),
        ];
        for (what, factors) in tables {
            total = add(total, what, bytes(what, factors)?)?;
        }
        // What one window of the longest length holds while it runs.
        bytes(
            "attention scores of a window",
            &[tokens, tokens, (heads_key, self.num_heads)],
        )?;
        bytes(
            "feed-forward activations of a window",
            &[tokens, (inter_key, inter)],
        )?;
        Ok(())
    }

    /// Longest token sequence the position embeddings allow, special tokens included.
    pub fn max_tokens(&self) -> usize {
        match self.arch {
            // RoBERTa positions start after the padding index.
            Architecture::XlmRoberta => self
                .max_position_embeddings
                .saturating_sub(self.pad_token_id as usize + 1),
            // DeBERTa's relative positions are clamped or bucketed and ModernBERT's rotary, so
            // both could run longer, but they are held to `max_position_embeddings`, the length
            // they were trained for.
            _ => self.max_position_embeddings,
        }
    }
}

fn parse_id2label(v: &Value) -> std::result::Result<Vec<String>, String> {
    let map = v
        .get("id2label")
        .and_then(Value::as_object)
        .ok_or("no \"id2label\": not a token-classification checkpoint")?;
    let mut by_id = BTreeMap::new();
    for (k, label) in map {
        let id: usize = k
            .parse()
            .map_err(|_| format!("id2label key \"{k}\" is not an integer"))?;
        let label = label
            .as_str()
            .ok_or_else(|| format!("id2label[{k}] is not a string"))?;
        by_id.insert(id, label.to_string());
    }
    if by_id.is_empty() {
        return Err("id2label is empty".into());
    }
    if by_id.keys().enumerate().any(|(i, k)| i != *k) {
        return Err(format!("id2label ids are not 0..{}", by_id.len()));
    }
    Ok(by_id.into_values().collect())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
