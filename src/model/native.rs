//! Model stage, native CPU backend: the whole token classifier on plain f32 buffers. Windows are
//! packed end to end with no padding — every matrix product runs over real tokens only — and each
//! window attends to itself alone. Weights are f32 or, with `--quantize int8`, int8 in every
//! encoder projection; embeddings (ELECTRA's `embeddings_project` included), LayerNorm, softmax,
//! GELU and the classifier stay f32.
//!
//! Computes what `TokenClassifier`'s candle backend computes (the tests compare the two).

use rayon::prelude::*;

use super::config::{Architecture, ModelConfig};
use super::layers::block::{EncoderBlock, Scratch};
use super::layers::linear::{Linear, Precision};
use super::layers::norm::LayerNorm;
use super::layers::prenorm::{PreNormBlock, PreNormScratch};
use super::layers::{Activation, BlockConfig, BlockNames};
use super::store::{Store, Table, Weights};
use super::{bert, deberta_v2, distilbert, electra, modernbert, xlm_roberta};

thread_local! {
    /// Activations and scratch of the forward passes on this thread, kept between batches so
    /// that their pages are not faulted in again for every batch.
    static SCRATCH: std::cell::RefCell<Buffers> = Default::default();
}

#[derive(Default)]
struct Buffers {
    /// Hidden states, (tokens × hidden).
    x: Vec<f32>,
    /// Embeddings before ELECTRA's projection, (tokens × embedding size).
    emb: Vec<f32>,
    logits: Vec<f32>,
    scratch: Scratch,
    pre: PreNormScratch,
}

/// Embedding tables: word + position (+ token type 0), then LayerNorm, `width` wide; then, in
/// ELECTRA when the widths differ, the projection to the hidden size.
struct Embeddings {
    width: usize,
    /// In place in the weight file's memory map where possible: only the gathered rows are read.
    words: Table,
    /// Empty when the model has no absolute positions (DeBERTa without `position_biased_input`).
    positions: Vec<f32>,
    token_type: Option<Vec<f32>>,
    norm: LayerNorm,
    project: Option<Linear>,
}

enum Blocks {
    /// BERT, DistilBERT, XLM-R, ELECTRA, DeBERTa-v2.
    PostNorm(Vec<EncoderBlock>),
    /// ModernBERT, followed by its `final_norm` and head.
    PreNorm {
        blocks: Vec<PreNormBlock>,
        final_norm: LayerNorm,
        head: Head,
    },
}

/// `ModernBertPredictionHead`: `norm(act(dense(x)))`.
struct Head {
    dense: Linear,
    act: Activation,
    norm: LayerNorm,
}

pub struct NativeEncoder {
    arch: Architecture,
    hidden: usize,
    vocab: usize,
    max_positions: usize,
    pad: u32,
    labels: usize,
    embeddings: Embeddings,
    blocks: Blocks,
    classifier: Linear,
}

impl NativeEncoder {
    pub fn load(cfg: &ModelConfig, store: &Store, p: Precision) -> Result<Self, String> {
        if let Some(o) = &cfg.modernbert {
            return Self::load_modernbert(cfg, o, store, p);
        }
        let block_cfg = BlockConfig::from_model(cfg)?;
        let (h, e) = (cfg.hidden_size, cfg.embedding_size);
        let root = Weights::new(store);
        let enc = match super::encoder_prefix(cfg, |name| root.contains(name)) {
            Some(prefix) => root.pp(prefix),
            None => root.clone(),
        };
        let emb = enc.pp("embeddings");
        let words = emb.table(cfg.vocab_size, e, "word_embeddings.weight")?;
        let deberta = cfg.deberta.as_ref();
        let positions = if deberta.is_some_and(|o| !o.position_biased_input) {
            Vec::new()
        } else {
            emb.get(
                &[cfg.max_position_embeddings, e],
                "position_embeddings.weight",
            )?
        };
        let (names, blocks_at, token_type, eps): (&BlockNames, _, _, _) = match cfg.arch {
            Architecture::DistilBert => (&distilbert::BLOCK_NAMES, distilbert::BLOCKS, None, 1e-12),
            Architecture::ModernBert => unreachable!("ModernBERT loads in load_modernbert"),
            Architecture::Bert
            | Architecture::XlmRoberta
            | Architecture::Electra
            | Architecture::DebertaV2 => {
                let tt = if cfg.type_vocab_size > 0 {
                    let t = emb.get(&[cfg.type_vocab_size, e], "token_type_embeddings.weight")?;
                    Some(t[..e].to_vec())
                } else {
                    None
                };
                let names = match cfg.arch {
                    Architecture::DebertaV2 => &deberta_v2::BLOCK_NAMES,
                    _ => &bert::BLOCK_NAMES,
                };
                (names, bert::BLOCKS, tt, cfg.layer_norm_eps)
            }
        };
        let rel_emb = match deberta {
            Some(o) => deberta_v2::native_rel_embeddings(&enc, cfg, o)?,
            None => None,
        };
        let norm = LayerNorm::load(&emb.pp("LayerNorm"), e, eps)?;
        let project = if cfg.arch == Architecture::Electra && electra::has_projection(cfg) {
            Some(Linear::load(
                &enc.pp(electra::PROJECTION),
                e,
                h,
                Precision::F32,
            )?)
        } else {
            None
        };
        // Blocks load side by side: copying, transposing or quantizing them is most of start-up.
        let blocks = (0..cfg.num_layers)
            .into_par_iter()
            .map(|i| {
                let w = enc.pp(format!("{blocks_at}.{i}"));
                match deberta {
                    Some(_) => EncoderBlock::load_disentangled(
                        &w,
                        names,
                        &block_cfg,
                        p,
                        rel_emb.as_deref(),
                        cfg.max_tokens(),
                    ),
                    None => EncoderBlock::load(&w, names, &block_cfg, p),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            arch: cfg.arch,
            hidden: h,
            vocab: cfg.vocab_size,
            max_positions: cfg.max_position_embeddings,
            pad: cfg.pad_token_id,
            labels: cfg.labels.len(),
            embeddings: Embeddings {
                width: e,
                words,
                positions,
                token_type,
                norm,
                project,
            },
            blocks: Blocks::PostNorm(blocks),
            classifier: classifier(&root, cfg)?,
        })
    }

    fn load_modernbert(
        cfg: &ModelConfig,
        o: &modernbert::Options,
        store: &Store,
        p: Precision,
    ) -> Result<Self, String> {
        let block_cfg = BlockConfig::from_model(cfg)?;
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let root = Weights::new(store);
        let enc = match super::encoder_prefix(cfg, |name| root.contains(name)) {
            Some(prefix) => root.pp(prefix),
            None => root.clone(),
        };
        let emb = enc.pp("embeddings");
        let blocks = (0..cfg.num_layers)
            .into_par_iter()
            .map(|i| {
                let w = enc.pp(format!("{}.{i}", modernbert::BLOCKS));
                PreNormBlock::load(&w, i, &block_cfg, o, p, cfg.max_tokens())
            })
            .collect::<Result<Vec<_>, String>>()?;
        let head = root.pp(modernbert::HEAD);
        Ok(Self {
            arch: cfg.arch,
            hidden: h,
            vocab: cfg.vocab_size,
            max_positions: usize::MAX,
            pad: cfg.pad_token_id,
            labels: cfg.labels.len(),
            embeddings: Embeddings {
                width: h,
                words: emb.table(cfg.vocab_size, h, "tok_embeddings.weight")?,
                positions: Vec::new(),
                token_type: None,
                norm: LayerNorm::load_with_bias(&emb.pp("norm"), h, eps, o.norm_bias)?,
                project: None,
            },
            blocks: Blocks::PreNorm {
                blocks,
                final_norm: LayerNorm::load_with_bias(&enc.pp("final_norm"), h, eps, o.norm_bias)?,
                head: Head {
                    dense: Linear::load_with_bias(
                        &head.pp("dense"),
                        h,
                        h,
                        Precision::F32,
                        o.classifier_bias,
                    )?,
                    act: o.classifier_act,
                    norm: LayerNorm::load_with_bias(&head.pp("norm"), h, eps, o.norm_bias)?,
                },
            },
            classifier: classifier(&root, cfg)?,
        })
    }

    /// Logits of each window, `(len × labels)` row-major, in window order.
    pub fn forward(&self, windows: &[&[u32]]) -> std::result::Result<Vec<Vec<f32>>, String> {
        // A window of no tokens has no logits; the kernels are never given one.
        if windows.iter().any(|w| w.is_empty()) {
            let kept: Vec<&[u32]> = windows.iter().copied().filter(|w| !w.is_empty()).collect();
            let mut logits = match kept.is_empty() {
                true => Vec::new(),
                false => self.forward(&kept)?,
            }
            .into_iter();
            return Ok(windows
                .iter()
                .map(|w| match w.is_empty() {
                    true => Vec::new(),
                    false => logits.next().unwrap_or_default(),
                })
                .collect());
        }
        let mut spans = Vec::with_capacity(windows.len());
        let mut m = 0;
        for w in windows {
            spans.push((m, w.len()));
            m += w.len();
        }
        SCRATCH.with_borrow_mut(|b| self.run(windows, &spans, m, b))
    }

    fn run(
        &self,
        windows: &[&[u32]],
        spans: &[(usize, usize)],
        m: usize,
        b: &mut Buffers,
    ) -> std::result::Result<Vec<Vec<f32>>, String> {
        let Buffers {
            x,
            emb,
            logits,
            scratch,
            pre,
        } = b;
        let h = self.hidden;
        x.clear();
        x.resize(m * h, 0.0);
        match &self.embeddings.project {
            None => self.embed(windows, spans, x)?,
            Some(project) => {
                emb.clear();
                emb.resize(m * self.embeddings.width, 0.0);
                self.embed(windows, spans, emb)?;
                project.forward(emb, m, x);
            }
        }
        match &self.blocks {
            Blocks::PostNorm(blocks) => {
                for block in blocks {
                    block.forward(x, m, spans, scratch);
                }
            }
            Blocks::PreNorm {
                blocks,
                final_norm,
                head,
            } => {
                for block in blocks {
                    block.forward(x, m, spans, pre);
                }
                final_norm.forward(x);
                // The head's dense layer needs its input intact: `emb` is free by now.
                emb.clear();
                emb.extend_from_slice(x);
                head.dense.forward(emb, m, x);
                head.act.apply_in_place(x);
                head.norm.forward(x);
            }
        }
        logits.clear();
        logits.resize(m * self.labels, 0.0);
        self.classifier.forward(x, m, logits);
        Ok(spans
            .iter()
            .map(|&(start, len)| logits[start * self.labels..(start + len) * self.labels].to_vec())
            .collect())
    }

    /// `out` (m × embedding width) ← LayerNorm(word + position + token type) of every token.
    fn embed(
        &self,
        windows: &[&[u32]],
        spans: &[(usize, usize)],
        out: &mut [f32],
    ) -> std::result::Result<(), String> {
        let e = &self.embeddings;
        let width = e.width;
        for (w, &(start, len)) in windows.iter().zip(spans) {
            let positions = match self.arch {
                Architecture::XlmRoberta => xlm_roberta::position_ids(w, len, self.pad),
                _ => (0..len as u32).collect(),
            };
            for (i, (&id, &pos)) in w.iter().zip(&positions).enumerate() {
                let (id, pos) = (id as usize, pos as usize);
                if id >= self.vocab || pos >= self.max_positions {
                    return Err(format!(
                        "token id {id} or position {pos} outside the embedding tables ({} × {})",
                        self.vocab, self.max_positions
                    ));
                }
                let row = &mut out[(start + i) * width..(start + i + 1) * width];
                e.words.copy_row(id, row);
                if !e.positions.is_empty() {
                    let position = &e.positions[pos * width..(pos + 1) * width];
                    for (a, b) in row.iter_mut().zip(position) {
                        *a += b;
                    }
                }
                if let Some(tt) = &e.token_type {
                    for (a, b) in row.iter_mut().zip(tt) {
                        *a += b;
                    }
                }
            }
        }
        e.norm.forward(out);
        Ok(())
    }
}

/// The `classifier` linear layer over the last hidden state.
fn classifier(root: &Weights, cfg: &ModelConfig) -> Result<Linear, String> {
    let n = cfg.labels.len();
    Linear::load(&root.pp("classifier"), cfg.hidden_size, n, Precision::F32)
        .map_err(|e| format!("classifier does not match the {n} labels of id2label: {e}"))
}
