//! Model stage: a token-classification encoder (embeddings → blocks → `classifier`) on candle.
//!
//! candle-transformers has no token-classification heads, so the architectures are owned here,
//! one module each, sharing the encoder block in `layers`.

pub mod bert;
pub mod config;
pub mod distilbert;
pub mod layers;
pub mod weights;
pub mod xlm_roberta;

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

pub use config::{Architecture, ModelConfig, SUPPORTED_MODEL_TYPES};
use layers::{Activation, BlockConfig, EncoderBlock};
pub use weights::WeightFiles;

use crate::error::{Error, Result};

enum Embeddings {
    Bert(bert::BertEmbeddings),
    DistilBert(distilbert::DistilBertEmbeddings),
}

/// A padded batch of token windows, row-major (batch × len), as the host holds it.
pub struct Batch<'a> {
    pub ids: &'a [u32],
    pub mask: &'a [u8],
    pub rows: usize,
    pub len: usize,
}

/// `*ForTokenClassification`: encoder plus the linear `classifier` over the last hidden state.
pub struct TokenClassifier {
    cfg: ModelConfig,
    embeddings: Embeddings,
    blocks: Vec<EncoderBlock>,
    classifier: Linear,
    device: Device,
}

impl TokenClassifier {
    /// Loads `config.json` and the weights of `dir`, computing in f32 whatever the stored dtype.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg = ModelConfig::from_file(&dir.join("config.json"))?;
        let files = WeightFiles::find(dir)?;
        let vb = files.var_builder(DType::F32, device)?;
        Self::from_var_builder(cfg, vb, device).map_err(|e| {
            Error::model_file(
                files.display_path(),
                format!(
                    "weights do not fit config.json: {}",
                    crate::error::first_line(&e)
                ),
            )
        })
    }

    pub fn from_var_builder(
        cfg: ModelConfig,
        vb: VarBuilder,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let act = Activation::from_name(&cfg.hidden_act).ok_or_else(|| {
            candle_core::Error::Msg(format!("unsupported activation \"{}\"", cfg.hidden_act))
        })?;
        let block_cfg = BlockConfig {
            hidden: cfg.hidden_size,
            heads: cfg.num_heads,
            intermediate: cfg.intermediate_size,
            eps: cfg.layer_norm_eps,
            act,
        };
        let prefix = cfg.arch.weight_prefix();
        // Some exports drop the `bert.`/`roberta.` prefix; accept both layouts.
        let enc = if vb.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight")) {
            vb.pp(prefix)
        } else {
            vb.clone()
        };
        let (embeddings, names, blocks_at) = match cfg.arch {
            Architecture::DistilBert => (
                Embeddings::DistilBert(distilbert::DistilBertEmbeddings::load(
                    enc.pp("embeddings"),
                    &cfg,
                )?),
                &distilbert::BLOCK_NAMES,
                distilbert::BLOCKS,
            ),
            Architecture::Bert | Architecture::XlmRoberta => (
                Embeddings::Bert(bert::BertEmbeddings::load(enc.pp("embeddings"), &cfg)?),
                &bert::BLOCK_NAMES,
                bert::BLOCKS,
            ),
        };
        let blocks = (0..cfg.num_layers)
            .map(|i| EncoderBlock::load(enc.pp(format!("{blocks_at}.{i}")), names, &block_cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let classifier = layers::linear(vb.pp("classifier"), cfg.hidden_size, cfg.labels.len())
            .map_err(|e| {
                candle_core::Error::Msg(format!(
                    "classifier does not match the {} labels of id2label: {e}",
                    cfg.labels.len()
                ))
            })?;
        Ok(Self {
            cfg,
            embeddings,
            blocks,
            classifier,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits of shape (rows, len, labels) in f32.
    pub fn forward(&self, batch: &Batch) -> Result<Tensor> {
        let shape = (batch.rows, batch.len);
        let ids = Tensor::from_slice(batch.ids, shape, &self.device)?;
        let mask = Tensor::from_slice(batch.mask, shape, &self.device)?;
        let positions = match self.cfg.arch {
            Architecture::XlmRoberta => {
                xlm_roberta::position_ids(batch.ids, batch.len, self.cfg.pad_token_id)
            }
            _ => bert::position_ids(batch.rows, batch.len),
        };
        let positions = Tensor::from_vec(positions, shape, &self.device)?;
        let x = match &self.embeddings {
            Embeddings::Bert(e) => e.forward(&ids, &positions)?,
            Embeddings::DistilBert(e) => e.forward(&ids, &positions)?,
        };
        let hidden = layers::encode(&self.blocks, x, &mask)?;
        Ok(self.classifier.forward(&hidden)?.to_dtype(DType::F32)?)
    }
}
