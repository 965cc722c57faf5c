//! Model stage, native CPU layers: ModernBERT's pre-LayerNorm encoder block over packed token
//! rows — `x += Wo·attention(attn_norm(x))`, then `x += Wo·(act(a) ⊙ g)` where `(a, g)` are the two
//! halves of `Wi·mlp_norm(x)` (GeGLU).
//!
//! Mirrors `ModernBertEncoderLayer` and `ModernBertMLP`
//! (transformers/models/modernbert/modeling_modernbert.py); layer 0 has no `attn_norm` (identity).

use super::super::modernbert::Options;
use super::super::store::Weights;
use super::linear::{Linear, Precision};
use super::norm::LayerNorm;
use super::rope_attention::{AttnScratch, RopeAttention};
use super::rotary::Rope;
use super::{Activation, BlockConfig};

/// Buffers one forward pass reuses across blocks.
#[derive(Default)]
pub struct PreNormScratch {
    normed: Vec<f32>,
    attn: AttnScratch,
    mid: Vec<f32>,
    ffn: Vec<f32>,
    glu: Vec<f32>,
}

pub struct PreNormBlock {
    attn_norm: Option<LayerNorm>,
    attn: RopeAttention,
    mlp_norm: LayerNorm,
    wi: Linear,
    wo: Linear,
    act: Activation,
    hidden: usize,
    inter: usize,
}

impl PreNormBlock {
    /// Block `index` below `w` (`attn.*`, `attn_norm`, `mlp_norm`, `mlp.Wi`, `mlp.Wo`);
    /// `max_len` is the longest window expected (the RoPE tables cover it).
    pub fn load(
        w: &Weights,
        index: usize,
        cfg: &BlockConfig,
        o: &Options,
        p: Precision,
        max_len: usize,
    ) -> Result<Self, String> {
        let (h, i) = (cfg.hidden, cfg.intermediate);
        let local = o.is_local(index);
        let theta = if local { o.local_theta } else { o.global_theta };
        let rope = Rope::new(h / cfg.heads, theta, max_len);
        let window = local.then_some(o.half_window);
        let attn_norm = match index {
            0 => None,
            _ => Some(LayerNorm::load_with_bias(
                &w.pp("attn_norm"),
                h,
                cfg.eps,
                o.norm_bias,
            )?),
        };
        Ok(Self {
            attn_norm,
            attn: RopeAttention::load(
                &w.pp("attn"),
                h,
                cfg.heads,
                p,
                o.attention_bias,
                rope,
                window,
            )?,
            mlp_norm: LayerNorm::load_with_bias(&w.pp("mlp_norm"), h, cfg.eps, o.norm_bias)?,
            wi: Linear::load_with_bias(&w.pp("mlp.Wi"), h, 2 * i, p, o.mlp_bias)?,
            wo: Linear::load_with_bias(&w.pp("mlp.Wo"), i, h, p, o.mlp_bias)?,
            act: cfg.act,
            hidden: h,
            inter: i,
        })
    }

    /// `x` (m packed rows × hidden) ← block(x); `spans` are the windows' (first row, length).
    pub fn forward(
        &self,
        x: &mut [f32],
        m: usize,
        spans: &[(usize, usize)],
        s: &mut PreNormScratch,
    ) {
        let (h, inter) = (self.hidden, self.inter);
        s.mid.resize(m * h, 0.0);
        match &self.attn_norm {
            None => self.attn.forward(x, m, spans, &mut s.attn, &mut s.mid),
            Some(norm) => {
                s.normed.clear();
                s.normed.extend_from_slice(&x[..m * h]);
                norm.forward(&mut s.normed);
                self.attn
                    .forward(&s.normed, m, spans, &mut s.attn, &mut s.mid);
            }
        }
        add(x, &s.mid);
        s.normed.clear();
        s.normed.extend_from_slice(&x[..m * h]);
        self.mlp_norm.forward(&mut s.normed);
        s.ffn.resize(m * 2 * inter, 0.0);
        self.wi.forward(&s.normed, m, &mut s.ffn);
        // GeGLU: `input, gate = Wi(x).chunk(2, -1)`; `act(input) * gate`.
        s.glu.clear();
        for row in s.ffn.chunks_exact(2 * inter) {
            s.glu.extend_from_slice(&row[..inter]);
        }
        self.act.apply_in_place(&mut s.glu);
        for (g, row) in s
            .glu
            .chunks_exact_mut(inter)
            .zip(s.ffn.chunks_exact(2 * inter))
        {
            for (a, b) in g.iter_mut().zip(&row[inter..]) {
                *a *= b;
            }
        }
        self.wo.forward(&s.glu, m, &mut s.mid);
        add(x, &s.mid);
    }
}

/// `x += y`, element-wise over `y`'s length.
fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
