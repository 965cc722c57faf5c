//! Model stage: DistilBERT (`DistilBertForTokenClassification`).
//!
//! Mirrors <https://github.com/huggingface/transformers/blob/main/src/transformers/models/distilbert/modeling_distilbert.py>.
//! Unlike candle-transformers' DistilBERT, the attention mask here means what it means in Hugging
//! Face (1 = attend) and "gelu" is the exact erf form.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};

use super::layers::candle::layer_norm;
use super::layers::BlockNames;
use super::ModelConfig;

pub const BLOCK_NAMES: BlockNames = BlockNames {
    query: "attention.q_lin",
    key: "attention.k_lin",
    value: "attention.v_lin",
    attn_out: "attention.out_lin",
    attn_norm: "sa_layer_norm",
    ffn_in: "ffn.lin1",
    ffn_out: "ffn.lin2",
    out_norm: "output_layer_norm",
};

pub const BLOCKS: &str = "transformer.layer";

/// DistilBERT `Embeddings`: word + position (learned or stored sinusoidal), LayerNorm; no token types.
pub struct DistilBertEmbeddings {
    words: Embedding,
    positions: Embedding,
    norm: LayerNorm,
}

impl DistilBertEmbeddings {
    pub fn load(vb: VarBuilder, cfg: &ModelConfig) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            words: Embedding::new(vb.get((cfg.vocab_size, h), "word_embeddings.weight")?, h),
            positions: Embedding::new(
                vb.get(
                    (cfg.max_position_embeddings, h),
                    "position_embeddings.weight",
                )?,
                h,
            ),
            // DistilBERT's embedding LayerNorm always uses eps 1e-12.
            norm: layer_norm(vb.pp("LayerNorm"), h, 1e-12)?,
        })
    }

    pub fn forward(&self, ids: &Tensor, positions: &Tensor) -> Result<Tensor> {
        self.norm
            .forward(&(self.words.forward(ids)? + self.positions.forward(positions)?)?)
    }
}
