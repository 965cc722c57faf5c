//! Model stage: ModernBERT (`ModernBertForTokenClassification`) — what `config.json` says about
//! it, and its weight names.
//!
//! Mirrors <https://github.com/huggingface/transformers/blob/main/src/transformers/models/modernbert/modeling_modernbert.py>
//! and its `configuration_modernbert.py`: token embeddings + LayerNorm (no positions), pre-norm
//! blocks with RoPE attention (global, or within `local_attention / 2` tokens either side) and a
//! GeGLU MLP (`layers::prenorm`, `layers::rope_attention`; on candle `layers::candle_modernbert`),
//! `final_norm`, then the head (`head.dense` → `classifier_activation` → `head.norm`) and
//! `classifier`. Biases and LayerNorm biases exist only where the config's `*_bias` flags say.

use serde_json::Value;

use super::layers::Activation;

/// The encoder's prefix, and where its blocks and head sit.
pub const PREFIX: &str = "model";
pub const BLOCKS: &str = "layers";
pub const HEAD: &str = "head";

/// The ModernBERT keys of `config.json`, with `ModernBertConfig`'s defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Per block: whether it attends within the sliding window (`sliding_attention`).
    pub local: Vec<bool>,
    /// `local_attention // 2` (`ModernBertConfig.sliding_window`): a token of a local block sees
    /// the tokens at most this far away.
    pub half_window: usize,
    pub global_theta: f64,
    pub local_theta: f64,
    pub norm_bias: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub classifier_bias: bool,
    pub classifier_act: Activation,
}

impl Options {
    pub fn is_local(&self, block: usize) -> bool {
        self.local.get(block).copied().unwrap_or(false)
    }

    pub fn from_json(
        v: &Value,
        layers: usize,
        hidden: usize,
        heads: usize,
    ) -> Result<Self, String> {
        let get = |k: &str| v.get(k).filter(|x| !x.is_null());
        let flag = |k: &str| -> Result<bool, String> {
            get(k).map_or(Ok(false), |x| {
                x.as_bool()
                    .ok_or_else(|| format!("\"{k}\" is not a boolean"))
            })
        };
        let uint = |k: &str, default: u64| -> Result<usize, String> {
            get(k).map_or(Ok(default as usize), |x| {
                x.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| format!("\"{k}\" is not a non-negative integer"))
            })
        };
        if let Some(d) = get("head_dim") {
            if d.as_u64() != Some((hidden / heads) as u64) {
                return Err(format!(
                    "\"head_dim\" {d} ≠ hidden_size / num_attention_heads is not supported"
                ));
            }
        }
        if !(hidden / heads).is_multiple_of(2) {
            return Err(format!(
                "head size {} is odd: rotary embeddings need an even one",
                hidden / heads
            ));
        }
        // `layer_types` as transformers 5 writes it, or the `global_attn_every_n_layers` of the
        // configs on the Hub (block i is global when i % n == 0).
        let local = match get("layer_types") {
            Some(Value::Array(kinds)) => {
                if kinds.len() != layers {
                    return Err(format!(
                        "\"layer_types\" has {} entries for {layers} layers",
                        kinds.len()
                    ));
                }
                kinds
                    .iter()
                    .map(|k| match k.as_str() {
                        Some("sliding_attention") => Ok(true),
                        Some("full_attention") => Ok(false),
                        _ => Err(format!("layer type {k} is not supported")),
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            Some(_) => return Err("\"layer_types\" is not a list".into()),
            None => {
                let n = uint("global_attn_every_n_layers", 3)?;
                if n == 0 {
                    return Err("\"global_attn_every_n_layers\" is 0".into());
                }
                (0..layers).map(|i| i % n != 0).collect()
            }
        };
        let theta = |kind: &str, legacy: &str, default: f64| -> Result<f64, String> {
            let nested = get("rope_parameters").and_then(|r| r.get(kind));
            if let Some(p) = nested {
                let t = p
                    .get("rope_type")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if t != "default" {
                    return Err(format!("rope_type \"{t}\" ({kind}) is not supported"));
                }
                let f = p.get("partial_rotary_factor").and_then(Value::as_f64);
                if f.is_some_and(|f| f != 1.0) {
                    return Err("\"partial_rotary_factor\" ≠ 1 is not supported".into());
                }
                if let Some(x) = p.get("rope_theta").filter(|x| !x.is_null()) {
                    return x.as_f64().filter(|t| *t > 0.0).ok_or_else(|| {
                        format!("rope_theta {x} ({kind}) is not a positive number")
                    });
                }
            }
            match get(legacy) {
                None => Ok(default),
                Some(x) => x
                    .as_f64()
                    .filter(|t| *t > 0.0)
                    .ok_or_else(|| format!("\"{legacy}\" is not a positive number")),
            }
        };
        if let Some(s) = get("rope_scaling") {
            let t = s.get("rope_type").or_else(|| s.get("type"));
            if t.and_then(Value::as_str).unwrap_or("default") != "default" {
                return Err(format!("\"rope_scaling\" {s} is not supported"));
            }
        }
        let act_name = get("classifier_activation")
            .and_then(Value::as_str)
            .unwrap_or("gelu");
        let classifier_act = Activation::from_name(act_name)
            .ok_or_else(|| format!("unsupported classifier_activation \"{act_name}\""))?;
        Ok(Self {
            local,
            half_window: uint("local_attention", 128)? / 2,
            global_theta: theta("full_attention", "global_rope_theta", 160_000.0)?,
            local_theta: theta("sliding_attention", "local_rope_theta", 10_000.0)?,
            norm_bias: flag("norm_bias")?,
            attention_bias: flag("attention_bias")?,
            mlp_bias: flag("mlp_bias")?,
            classifier_bias: flag("classifier_bias")?,
            classifier_act,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Architecture, ModelConfig};
    use serde_json::json;

    fn cfg(extra: Value) -> Result<ModelConfig, String> {
        let mut v = json!({"model_type": "modernbert", "hidden_size": 8, "num_attention_heads": 2,
                           "num_hidden_layers": 4, "id2label": {"0": "O"}});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ModelConfig::from_json(&v)
    }

    #[test]
    fn hub_and_transformers_5_configs_resolve_as_modernbert_config_does() {
        // As answerdotai/ModernBERT-base writes it.
        let c = cfg(json!({"global_attn_every_n_layers": 3, "local_attention": 128,
                           "global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "norm_eps": 1e-5}))
        .unwrap();
        assert_eq!(c.arch, Architecture::ModernBert);
        assert_eq!(
            (
                c.vocab_size,
                c.pad_token_id,
                c.max_position_embeddings,
                c.intermediate_size
            ),
            (50368, 50283, 8192, 1152)
        );
        assert_eq!((c.layer_norm_eps, c.type_vocab_size), (1e-5, 0));
        let o = c.modernbert.unwrap();
        assert_eq!(o.local, [false, true, true, false]);
        assert_eq!(
            (o.half_window, o.global_theta, o.local_theta),
            (64, 160_000.0, 10_000.0)
        );
        assert!(!o.norm_bias && !o.attention_bias && !o.mlp_bias && !o.classifier_bias);
        // As transformers 5.23 saves it: `layer_types` and nested `rope_parameters`.
        let o = cfg(json!({"layer_types": ["full_attention", "sliding_attention", "full_attention",
                                           "sliding_attention"], "local_attention": 9,
                           "rope_parameters": {"full_attention": {"rope_theta": 5.0, "rope_type": "default"},
                                               "sliding_attention": {"rope_theta": 7.0, "rope_type": "default"}},
                           "mlp_bias": true, "classifier_activation": "silu"}))
        .unwrap()
        .modernbert
        .unwrap();
        assert_eq!(o.local, [false, true, false, true]);
        assert_eq!(
            (o.half_window, o.global_theta, o.local_theta),
            (4, 5.0, 7.0)
        );
        assert!(o.mlp_bias && matches!(o.classifier_act, Activation::Silu));
    }

    #[test]
    fn what_is_not_built_is_refused_in_one_line() {
        for (extra, want) in [
            (
                json!({"layer_types": ["full_attention"]}),
                "1 entries for 4 layers",
            ),
            (
                json!({"layer_types": ["full_attention", "chunked", "a", "b"]}),
                "\"chunked\"",
            ),
            (json!({"global_attn_every_n_layers": 0}), "is 0"),
            (
                json!({"rope_parameters": {"full_attention": {"rope_type": "yarn"}}}),
                "\"yarn\"",
            ),
            (
                json!({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}),
                "rope_scaling",
            ),
            (json!({"head_dim": 2}), "head_dim"),
            (json!({"hidden_size": 6}), "head size 3 is odd"),
            (json!({"classifier_activation": "mish"}), "mish"),
            (json!({"norm_bias": 1}), "not a boolean"),
        ] {
            let e = cfg(extra).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{e}");
        }
    }
}
