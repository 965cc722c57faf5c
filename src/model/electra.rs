//! Model stage: ELECTRA (`ElectraForTokenClassification`, the discriminator with a token head).
//!
//! Mirrors <https://github.com/huggingface/transformers/blob/main/src/transformers/models/electra/modeling_electra.py>:
//! BERT's embeddings (word + position + token type, LayerNorm) at width `embedding_size`, then,
//! when that differs from `hidden_size`, the linear `embeddings_project` up to `hidden_size`, then
//! BERT's encoder blocks, all under the `electra.` prefix.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::bert::BertEmbeddings;
use super::layers::candle::linear;
use super::ModelConfig;

pub use super::bert::{BLOCKS, BLOCK_NAMES};

/// The projection's name below the model prefix (beside `embeddings`, not inside it).
pub const PROJECTION: &str = "embeddings_project";

/// Whether the checkpoint has `embeddings_project`: `ElectraModel` builds it exactly when the
/// embedding and hidden sizes differ (weights of one present otherwise are ignored, as there).
pub fn has_projection(cfg: &ModelConfig) -> bool {
    cfg.embedding_size != cfg.hidden_size
}

/// `ElectraEmbeddings` followed by `embeddings_project`.
pub struct ElectraEmbeddings {
    embeddings: BertEmbeddings,
    project: Option<Linear>,
}

impl ElectraEmbeddings {
    /// `enc` is the model prefix (`electra`, or the root for exports that drop it).
    pub fn load(enc: &VarBuilder, cfg: &ModelConfig) -> Result<Self> {
        let project = if has_projection(cfg) {
            Some(linear(
                enc.pp(PROJECTION),
                cfg.embedding_size,
                cfg.hidden_size,
            )?)
        } else {
            None
        };
        Ok(Self {
            embeddings: BertEmbeddings::load(enc.pp("embeddings"), cfg)?,
            project,
        })
    }

    /// `ids` and `positions` are (batch, seq) u32 tensors; the result is `hidden_size` wide.
    pub fn forward(&self, ids: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let x = self.embeddings.forward(ids, positions)?;
        match &self.project {
            Some(p) => p.forward(&x),
            None => Ok(x),
        }
    }
}
