//! Model stage, native CPU layers: one post-LayerNorm encoder block over packed token rows —
//! attention, residual + LayerNorm, feed-forward, residual + LayerNorm — working in place with
//! reusable scratch buffers.
//!
//! Mirrors `BertLayer` (transformers/models/bert/modeling_bert.py) and `TransformerBlock`
//! (transformers/models/distilbert/modeling_distilbert.py).

use super::super::store::Weights;
use super::attention::SelfAttention;
use super::disentangled::DisentangledAttention;
use super::linear::{Linear, Precision};
use super::norm::LayerNorm;
use super::{Activation, BlockConfig, BlockNames};

/// Buffers one forward pass reuses across blocks.
#[derive(Default)]
pub struct Scratch {
    qkv: Vec<f32>,
    scores: Vec<f32>,
    ctx: Vec<f32>,
    mid: Vec<f32>,
    ffn: Vec<f32>,
    rel: Vec<f32>,
}

enum Attention {
    Plain(SelfAttention),
    /// DeBERTa-v2.
    Disentangled(DisentangledAttention),
}

pub struct EncoderBlock {
    attention: Attention,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    out_norm: LayerNorm,
    act: Activation,
    hidden: usize,
}

impl EncoderBlock {
    pub fn load(
        w: &Weights,
        names: &BlockNames,
        cfg: &BlockConfig,
        p: Precision,
    ) -> Result<Self, String> {
        let attention = Attention::Plain(SelfAttention::load(w, names, cfg, p)?);
        Self::with_attention(attention, w, names, cfg, p)
    }

    /// A DeBERTa-v2 block: `rel_emb` are the (normalized) relative embeddings when the config
    /// has relative attention, `max_len` the longest window expected (longer ones still work).
    pub fn load_disentangled(
        w: &Weights,
        names: &BlockNames,
        cfg: &BlockConfig,
        p: Precision,
        rel_emb: Option<&[f32]>,
        max_len: usize,
    ) -> Result<Self, String> {
        let a = DisentangledAttention::load(w, names, cfg, p, rel_emb, max_len)?;
        Self::with_attention(Attention::Disentangled(a), w, names, cfg, p)
    }

    fn with_attention(
        attention: Attention,
        w: &Weights,
        names: &BlockNames,
        cfg: &BlockConfig,
        p: Precision,
    ) -> Result<Self, String> {
        let h = cfg.hidden;
        Ok(Self {
            attention,
            attn_out: Linear::load(&w.pp(names.attn_out), h, h, p)?,
            attn_norm: LayerNorm::load(&w.pp(names.attn_norm), h, cfg.eps)?,
            ffn_in: Linear::load(&w.pp(names.ffn_in), h, cfg.intermediate, p)?,
            ffn_out: Linear::load(&w.pp(names.ffn_out), cfg.intermediate, h, p)?,
            out_norm: LayerNorm::load(&w.pp(names.out_norm), h, cfg.eps)?,
            act: cfg.act,
            hidden: h,
        })
    }

    /// `x` (m packed rows × hidden) ← block(x); `spans` are the windows' (first row, length).
    pub fn forward(&self, x: &mut [f32], m: usize, spans: &[(usize, usize)], s: &mut Scratch) {
        let h = self.hidden;
        s.ctx.resize(m * h, 0.0);
        match &self.attention {
            Attention::Plain(a) => a.forward(x, m, spans, &mut s.qkv, &mut s.scores, &mut s.ctx),
            Attention::Disentangled(a) => a.forward(
                x,
                m,
                spans,
                &mut s.qkv,
                &mut s.scores,
                &mut s.rel,
                &mut s.ctx,
            ),
        }
        s.mid.resize(m * h, 0.0);
        self.attn_out.forward(&s.ctx, m, &mut s.mid);
        self.attn_norm.forward_residual(&mut s.mid, x);
        s.ffn.resize(m * self.ffn_in.out_dim(), 0.0);
        self.ffn_in.forward_act(&s.mid, m, &mut s.ffn, self.act);
        self.ffn_out.forward(&s.ffn, m, x);
        self.out_norm.forward_residual(x, &s.mid);
    }
}
