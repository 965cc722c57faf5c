//! Model stage: BERT (`BertForTokenClassification`).
//!
//! Mirrors <https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py>:
//! word + absolute position + token-type embeddings, LayerNorm, then post-LN encoder blocks.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};

use super::layers::candle::layer_norm;
use super::layers::BlockNames;
use super::ModelConfig;

pub const BLOCK_NAMES: BlockNames = BlockNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attn_out: "attention.output.dense",
    attn_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    out_norm: "output.LayerNorm",
};

/// Where the blocks live below the model prefix.
pub const BLOCKS: &str = "encoder.layer";

/// `BertEmbeddings`; also the XLM-R embeddings, which differ only in their position ids,
/// ELECTRA's, which are `embedding_size` wide, and DeBERTa-v2's, which have no absolute positions
/// when `position_biased_input` is false.
pub struct BertEmbeddings {
    words: Embedding,
    positions: Option<Embedding>,
    /// Row 0 of the token-type table: single-segment input has token type 0 everywhere.
    token_type: Option<Tensor>,
    norm: LayerNorm,
}

impl BertEmbeddings {
    pub fn load(vb: VarBuilder, cfg: &ModelConfig) -> Result<Self> {
        let h = cfg.embedding_size;
        let words = Embedding::new(vb.get((cfg.vocab_size, h), "word_embeddings.weight")?, h);
        let absolute = cfg.deberta.as_ref().is_none_or(|o| o.position_biased_input);
        let positions = if absolute {
            let w = vb.get(
                (cfg.max_position_embeddings, h),
                "position_embeddings.weight",
            )?;
            Some(Embedding::new(w, h))
        } else {
            None
        };
        let token_type = if cfg.type_vocab_size > 0 {
            Some(
                vb.get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?
                    .get(0)?,
            )
        } else {
            None
        };
        let norm = layer_norm(vb.pp("LayerNorm"), h, cfg.layer_norm_eps)?;
        Ok(Self {
            words,
            positions,
            token_type,
            norm,
        })
    }

    /// `ids` and `positions` are (batch, seq) u32 tensors. Padded rows are not zeroed as
    /// DeBERTa's `transformers` code does: no real token attends to them.
    pub fn forward(&self, ids: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let mut x = self.words.forward(ids)?;
        if let Some(p) = &self.positions {
            x = (x + p.forward(positions)?)?;
        }
        if let Some(tt) = &self.token_type {
            x = x.broadcast_add(tt)?;
        }
        self.norm.forward(&x)
    }
}

/// BERT positions: 0, 1, 2, … for every row.
pub fn position_ids(batch: usize, len: usize) -> Vec<u32> {
    (0..batch).flat_map(|_| 0..len as u32).collect()
}
