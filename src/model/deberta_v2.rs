//! Model stage: DeBERTa-v2/v3 (`DebertaV2ForTokenClassification`).
//!
//! Mirrors <https://github.com/huggingface/transformers/blob/main/src/transformers/models/deberta_v2/modeling_deberta_v2.py>:
//! word (+ absolute position when `position_biased_input`) (+ token type) embeddings, LayerNorm,
//! then post-LN blocks whose attention adds content→position and position→content terms over
//! (log-bucketed) relative positions (`layers::disentangled`); the relative embeddings
//! (`encoder.rel_embeddings`, LayerNorm'd when `norm_rel_ebd` says `layer_norm`) are shared by
//! every block. Not built: the `conv_kernel_size` layer of v2-xlarge configs and `embedding_size`
//! ≠ `hidden_size` (`embed_proj`): both refused when the config is read.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde_json::Value;

use super::layers::candle::layer_norm;
use super::layers::relative::{Disentangled, Relative};
use super::layers::BlockNames;
use super::ModelConfig;

pub const BLOCK_NAMES: BlockNames = BlockNames {
    query: "attention.self.query_proj",
    key: "attention.self.key_proj",
    value: "attention.self.value_proj",
    attn_out: "attention.output.dense",
    attn_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    out_norm: "output.LayerNorm",
};

pub const BLOCKS: &str = "encoder.layer";

/// The DeBERTa-v2 keys of `config.json`, with `DebertaV2Config`'s defaults and its resolution of
/// `max_relative_positions < 1` to `max_position_embeddings`.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub relative_attention: bool,
    pub max_relative_positions: usize,
    /// 0: no log buckets.
    pub position_buckets: usize,
    pub share_att_key: bool,
    pub c2p: bool,
    pub p2c: bool,
    /// `norm_rel_ebd` contains `layer_norm`: `encoder.LayerNorm` over the relative embeddings.
    pub norm_rel_ebd: bool,
    pub position_biased_input: bool,
}

impl Options {
    pub fn from_json(
        v: &Value,
        max_positions: usize,
        hidden: usize,
    ) -> std::result::Result<Self, String> {
        let flag = |k: &str, default: bool| -> std::result::Result<bool, String> {
            match v.get(k).filter(|x| !x.is_null()) {
                None => Ok(default),
                Some(x) => x
                    .as_bool()
                    .ok_or_else(|| format!("\"{k}\" is not a boolean")),
            }
        };
        let signed = |k: &str| -> std::result::Result<i64, String> {
            match v.get(k).filter(|x| !x.is_null()) {
                None => Ok(-1),
                Some(x) => x
                    .as_i64()
                    .ok_or_else(|| format!("\"{k}\" is not an integer")),
            }
        };
        if signed("conv_kernel_size")? > 0 {
            return Err(
                "the DeBERTa-v2 conv layer (\"conv_kernel_size\" > 0) is not supported".into(),
            );
        }
        if let Some(e) = v.get("embedding_size").and_then(Value::as_u64) {
            if e as usize != hidden {
                return Err(format!(
                    "DeBERTa-v2 \"embedding_size\" {e} ≠ hidden_size {hidden} (embed_proj) is not supported"
                ));
            }
        }
        if let Some(a) = v.get("attention_head_size").and_then(Value::as_u64) {
            return Err(format!("\"attention_head_size\" {a} is not supported"));
        }
        // A list, or the "p2c|c2p" string form `DebertaV2Config` also accepts.
        let kinds: Vec<String> = match v.get("pos_att_type") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s
                .to_lowercase()
                .split('|')
                .map(|x| x.trim().to_string())
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or("\"pos_att_type\" is not a list of strings")?,
            Some(_) => return Err("\"pos_att_type\" is not a list of strings".into()),
        };
        if let Some(k) = kinds
            .iter()
            .find(|k| !matches!(k.as_str(), "c2p" | "p2c" | ""))
        {
            return Err(format!(
                "pos_att_type \"{k}\" is not supported (only c2p, p2c)"
            ));
        }
        let norm = v
            .get("norm_rel_ebd")
            .and_then(Value::as_str)
            .unwrap_or("none");
        let max_rel = signed("max_relative_positions")?;
        let buckets = signed("position_buckets")?;
        Ok(Self {
            relative_attention: flag("relative_attention", false)?,
            max_relative_positions: if max_rel < 1 {
                max_positions
            } else {
                max_rel as usize
            },
            position_buckets: buckets.max(0) as usize,
            share_att_key: flag("share_att_key", false)?,
            c2p: kinds.iter().any(|k| k == "c2p"),
            p2c: kinds.iter().any(|k| k == "p2c"),
            norm_rel_ebd: norm
                .to_lowercase()
                .split('|')
                .any(|x| x.trim() == "layer_norm"),
            position_biased_input: flag("position_biased_input", true)?,
        })
    }

    /// `pos_ebd_size`: half the rows of the relative embedding table.
    pub fn att_span(&self) -> usize {
        if self.position_buckets > 0 {
            self.position_buckets
        } else {
            self.max_relative_positions
        }
    }

    /// The attention layer's view of these options.
    pub fn disentangled(&self) -> Disentangled {
        Disentangled {
            scale_factor: 1 + usize::from(self.c2p) + usize::from(self.p2c),
            relative: self.relative_attention.then(|| Relative {
                span: self.att_span(),
                buckets: self.position_buckets,
                max_position: self.max_relative_positions,
                c2p: self.c2p,
                p2c: self.p2c,
                share_att_key: self.share_att_key,
            }),
        }
    }
}

/// `DebertaV2Encoder.get_rel_embedding` on the candle backend: `encoder.rel_embeddings` (the
/// first `2 · att_span` rows), LayerNorm'd with `encoder.LayerNorm` when `norm_rel_ebd` says so.
pub fn rel_embeddings(
    enc: &VarBuilder,
    cfg: &ModelConfig,
    opts: &Options,
) -> Result<Option<Tensor>> {
    if !opts.relative_attention {
        return Ok(None);
    }
    let h = cfg.hidden_size;
    let rows = 2 * opts.att_span();
    let mut rel = enc.get((rows, h), "encoder.rel_embeddings.weight")?;
    if opts.norm_rel_ebd {
        rel = layer_norm(enc.pp("encoder.LayerNorm"), h, cfg.layer_norm_eps)?.forward(&rel)?;
    }
    Ok(Some(rel))
}

/// [`rel_embeddings`] for the native backend, in f32.
pub fn native_rel_embeddings(
    enc: &super::store::Weights,
    cfg: &ModelConfig,
    opts: &Options,
) -> std::result::Result<Option<Vec<f32>>, String> {
    if !opts.relative_attention {
        return Ok(None);
    }
    let h = cfg.hidden_size;
    let mut rel = enc.get(&[2 * opts.att_span(), h], "encoder.rel_embeddings.weight")?;
    if opts.norm_rel_ebd {
        let norm = super::layers::norm::LayerNorm::load(
            &enc.pp("encoder.LayerNorm"),
            h,
            cfg.layer_norm_eps,
        )?;
        norm.forward(&mut rel);
    }
    Ok(Some(rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(extra: Value) -> std::result::Result<ModelConfig, String> {
        let mut v = json!({"model_type": "deberta-v2", "vocab_size": 10, "hidden_size": 8,
                           "num_attention_heads": 2, "id2label": {"0": "O"}});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ModelConfig::from_json(&v)
    }

    #[test]
    fn v3_config_resolves_as_transformers_does() {
        let c = cfg(json!({"relative_attention": true, "position_buckets": 256, "max_relative_positions": -1,
                           "pos_att_type": "p2c|c2p", "norm_rel_ebd": "layer_norm", "share_att_key": true,
                           "position_biased_input": false, "max_position_embeddings": 512}))
        .unwrap();
        assert_eq!(
            (c.layer_norm_eps, c.type_vocab_size, c.pad_token_id),
            (1e-7, 0, 0)
        );
        let o = c.deberta.unwrap();
        assert_eq!(o.max_relative_positions, 512);
        assert_eq!(o.att_span(), 256);
        assert!(o.c2p && o.p2c && o.norm_rel_ebd && !o.position_biased_input);
        let d = o.disentangled();
        assert_eq!(d.scale_factor, 3);
        assert_eq!(d.relative.unwrap().max_position, 512);
        // DebertaV2Config's own defaults: no relative attention, absolute positions.
        let o = cfg(json!({})).unwrap().deberta.unwrap();
        assert!(!o.relative_attention && o.position_biased_input && !o.c2p && !o.p2c);
        assert_eq!(
            o.disentangled(),
            Disentangled {
                scale_factor: 1,
                relative: None
            }
        );
    }

    #[test]
    fn what_is_not_built_is_refused_in_one_line() {
        for (extra, want) in [
            (json!({"conv_kernel_size": 3}), "conv layer"),
            (json!({"embedding_size": 4}), "embed_proj"),
            (json!({"pos_att_type": ["c2p", "p2p"]}), "\"p2p\""),
            (json!({"relative_attention": "yes"}), "not a boolean"),
        ] {
            let e = cfg(extra).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{e}");
        }
        assert!(cfg(json!({"conv_kernel_size": 0})).is_ok());
    }
}
