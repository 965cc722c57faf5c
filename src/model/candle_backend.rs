//! Model stage, candle backend: the classifier as candle tensors on any candle device, over
//! padded batches (CUDA runs this; on CPU the tests use it as the reference for `native`).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::config::{Architecture, ModelConfig};
use super::layers::candle::{self as layers, EncoderBlock};
use super::layers::candle_modernbert::ModernBertEncoder;
use super::layers::BlockConfig;
use super::{bert, deberta_v2, distilbert, electra, xlm_roberta};

enum Embeddings {
    Bert(bert::BertEmbeddings),
    DistilBert(distilbert::DistilBertEmbeddings),
    Electra(electra::ElectraEmbeddings),
}

enum Body {
    /// Embeddings, then post-LayerNorm blocks (BERT, DistilBERT, XLM-R, ELECTRA, DeBERTa-v2).
    PostNorm {
        embeddings: Embeddings,
        blocks: Vec<EncoderBlock>,
    },
    ModernBert(ModernBertEncoder),
}

/// The classifier as candle tensors: what runs on CUDA, and the reference for the native backend.
pub struct CandleEncoder {
    cfg: ModelConfig,
    body: Body,
    classifier: Linear,
    device: Device,
}

impl CandleEncoder {
    pub fn from_var_builder(
        cfg: ModelConfig,
        vb: VarBuilder,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let block_cfg = BlockConfig::from_model(&cfg).map_err(candle_core::Error::Msg)?;
        let enc = match super::encoder_prefix(&cfg, |name| vb.contains_tensor(name)) {
            Some(prefix) => vb.pp(prefix),
            None => vb.clone(),
        };
        let mut rel_emb = None;
        let (embeddings, names, blocks_at) = match cfg.arch {
            Architecture::ModernBert => {
                let body = Body::ModernBert(ModernBertEncoder::load(&enc, &vb, &cfg)?);
                return Self::with_body(cfg, body, &vb, device);
            }
            Architecture::DebertaV2 => {
                let opts = cfg
                    .deberta
                    .as_ref()
                    .ok_or_else(|| candle_core::Error::Msg("no DeBERTa options".into()))?;
                rel_emb = deberta_v2::rel_embeddings(&enc, &cfg, opts)?;
                (
                    // `DebertaV2Embeddings` is BERT's, absolute positions as the options say.
                    Embeddings::Bert(bert::BertEmbeddings::load(enc.pp("embeddings"), &cfg)?),
                    &deberta_v2::BLOCK_NAMES,
                    deberta_v2::BLOCKS,
                )
            }
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
            Architecture::Electra => (
                Embeddings::Electra(electra::ElectraEmbeddings::load(&enc, &cfg)?),
                &electra::BLOCK_NAMES,
                electra::BLOCKS,
            ),
        };
        let blocks = (0..cfg.num_layers)
            .map(|i| {
                let vb = enc.pp(format!("{blocks_at}.{i}"));
                EncoderBlock::load_relative(vb, names, &block_cfg, rel_emb.as_ref())
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Self::with_body(cfg, Body::PostNorm { embeddings, blocks }, &vb, device)
    }

    fn with_body(
        cfg: ModelConfig,
        body: Body,
        vb: &VarBuilder,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let classifier = layers::linear(vb.pp("classifier"), cfg.hidden_size, cfg.labels.len())
            .map_err(|e| {
                candle_core::Error::Msg(format!(
                    "classifier does not match the {} labels of id2label: {e}",
                    cfg.labels.len()
                ))
            })?;
        Ok(Self {
            cfg,
            body,
            classifier,
            device: device.clone(),
        })
    }

    /// Logits (rows, len, labels) in f32 of (rows, len) ids, 0/1 mask and position ids on the
    /// device; the work is queued, not waited for.
    fn forward_tensors(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        positions: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let hidden = match &self.body {
            Body::PostNorm { embeddings, blocks } => {
                let x = match embeddings {
                    Embeddings::Bert(e) => e.forward(ids, positions)?,
                    Embeddings::DistilBert(e) => e.forward(ids, positions)?,
                    Embeddings::Electra(e) => e.forward(ids, positions)?,
                };
                layers::encode(blocks, x, mask)?
            }
            Body::ModernBert(m) => m.forward(ids, mask)?,
        };
        self.classifier.forward(&hidden)?.to_dtype(DType::F32)
    }

    /// Logits of each window, `(len × labels)` row-major: the windows padded into one batch.
    pub fn forward_windows(&self, windows: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        Ok(self
            .forward_batches(&[windows.to_vec()])?
            .pop()
            .unwrap_or_default())
    }

    /// Logits of several batches of windows. The inputs of all batches go to the device in one
    /// copy, every batch's kernels are queued before any result is read back, so the device runs
    /// the batches back to back instead of waiting on the host between them.
    pub fn forward_batches(
        &self,
        batches: &[Vec<&[u32]>],
    ) -> candle_core::Result<Vec<Vec<Vec<f32>>>> {
        let shapes: Vec<(usize, usize)> = batches
            .iter()
            .map(|b| (b.len(), b.iter().map(|w| w.len()).max().unwrap_or(0).max(1)))
            .collect();
        let total: usize = shapes.iter().map(|(r, l)| r * l).sum();
        let mut ids = Vec::with_capacity(total);
        let mut mask = Vec::with_capacity(total);
        let mut positions = Vec::with_capacity(total);
        for (windows, &(rows, len)) in batches.iter().zip(&shapes) {
            let at = ids.len();
            ids.resize(at + rows * len, self.cfg.pad_token_id);
            mask.resize(at + rows * len, 0u8);
            for (r, w) in windows.iter().enumerate() {
                ids[at + r * len..at + r * len + w.len()].copy_from_slice(w);
                mask[at + r * len..at + r * len + w.len()].fill(1);
            }
            positions.extend(match self.cfg.arch {
                Architecture::XlmRoberta => {
                    xlm_roberta::position_ids(&ids[at..], len, self.cfg.pad_token_id)
                }
                _ => bert::position_ids(rows, len),
            });
        }
        let ids = Tensor::from_vec(ids, total, &self.device)?;
        let mask = Tensor::from_vec(mask, total, &self.device)?;
        let positions = Tensor::from_vec(positions, total, &self.device)?;
        let mut queued = Vec::with_capacity(batches.len());
        let mut at = 0;
        for &(rows, len) in &shapes {
            let part = |t: &Tensor| t.narrow(0, at, rows * len)?.reshape((rows, len));
            queued.push(self.forward_tensors(&part(&ids)?, &part(&mask)?, &part(&positions)?)?);
            at += rows * len;
        }
        let n = self.cfg.labels.len();
        batches
            .iter()
            .zip(queued)
            .zip(&shapes)
            .map(|((windows, logits), &(_, len))| {
                let logits: Vec<f32> = logits.flatten_all()?.to_vec1()?;
                Ok(windows
                    .iter()
                    .enumerate()
                    .map(|(r, w)| logits[r * len * n..(r * len + w.len()) * n].to_vec())
                    .collect())
            })
            .collect()
    }
}
