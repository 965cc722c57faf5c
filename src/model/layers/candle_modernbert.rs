//! Model stage, candle backend (CUDA, and a second reference for the native CPU encoder):
//! ModernBERT's encoder and head over padded batches.
//!
//! Mirrors `ModernBertModel`, `ModernBertEncoderLayer`, `ModernBertAttention`, `ModernBertMLP`
//! and `ModernBertPredictionHead` of
//! <https://github.com/huggingface/transformers/blob/main/src/transformers/models/modernbert/modeling_modernbert.py>.
//! Unlike candle-transformers' `modernbert.rs` it reads the config's bias flags, the activations
//! and `layer_types`, applies RoPE in f32 as transformers does whatever the dtype, and takes its
//! cos/sin tables from the native [`Rope`] so both backends rotate by the same angles.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use super::super::modernbert::{Options, BLOCKS, HEAD};
use super::super::ModelConfig;
use super::candle::{activate, attention_bias, finite_min, softmax_f32_acc};
use super::rotary::Rope;
use super::Activation;

fn linear(vb: VarBuilder, n_in: usize, n_out: usize, bias: bool) -> Result<Linear> {
    let w = vb.get((n_out, n_in), "weight")?;
    let b = match bias {
        true => Some(vb.get(n_out, "bias")?),
        false => None,
    };
    Ok(Linear::new(w, b))
}

fn norm(vb: VarBuilder, size: usize, eps: f64, bias: bool) -> Result<LayerNorm> {
    let w = vb.get(size, "weight")?;
    match bias {
        true => Ok(LayerNorm::new(w, vb.get(size, "bias")?, eps)),
        false => Ok(LayerNorm::new_no_bias(w, eps)),
    }
}

struct Layer {
    attn_norm: Option<LayerNorm>,
    wqkv: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    wi: Linear,
    mlp_wo: Linear,
    local: bool,
}

pub struct ModernBertEncoder {
    tok: Embedding,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    head_dense: Linear,
    head_norm: LayerNorm,
    act: Activation,
    head_act: Activation,
    heads: usize,
    half_window: usize,
    global_rope: Rope,
    local_rope: Rope,
}

impl ModernBertEncoder {
    /// `enc` is the encoder prefix (`model`), `root` the checkpoint's root (where `head` sits).
    pub fn load(enc: &VarBuilder, root: &VarBuilder, cfg: &ModelConfig) -> Result<Self> {
        let o: &Options = cfg
            .modernbert
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("no ModernBERT options".into()))?;
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let act = Activation::from_name(&cfg.hidden_act).ok_or_else(|| {
            candle_core::Error::Msg(format!("unsupported activation \"{}\"", cfg.hidden_act))
        })?;
        let layers = (0..cfg.num_layers)
            .map(|n| {
                let vb = enc.pp(format!("{BLOCKS}.{n}"));
                Ok(Layer {
                    attn_norm: match n {
                        0 => None,
                        _ => Some(norm(vb.pp("attn_norm"), h, eps, o.norm_bias)?),
                    },
                    wqkv: linear(vb.pp("attn.Wqkv"), h, 3 * h, o.attention_bias)?,
                    wo: linear(vb.pp("attn.Wo"), h, h, o.attention_bias)?,
                    mlp_norm: norm(vb.pp("mlp_norm"), h, eps, o.norm_bias)?,
                    wi: linear(vb.pp("mlp.Wi"), h, 2 * i, o.mlp_bias)?,
                    mlp_wo: linear(vb.pp("mlp.Wo"), i, h, o.mlp_bias)?,
                    local: o.is_local(n),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let head = root.pp(HEAD);
        let d = h / cfg.num_heads;
        let tok = enc.get((cfg.vocab_size, h), "embeddings.tok_embeddings.weight")?;
        Ok(Self {
            tok: Embedding::new(tok, h),
            emb_norm: norm(enc.pp("embeddings.norm"), h, eps, o.norm_bias)?,
            layers,
            final_norm: norm(enc.pp("final_norm"), h, eps, o.norm_bias)?,
            head_dense: linear(head.pp("dense"), h, h, o.classifier_bias)?,
            head_norm: norm(head.pp("norm"), h, eps, o.norm_bias)?,
            act,
            head_act: o.classifier_act,
            heads: cfg.num_heads,
            half_window: o.half_window,
            global_rope: Rope::new(d, o.global_theta, 0),
            local_rope: Rope::new(d, o.local_theta, 0),
        })
    }

    /// The head's output `(batch, len, hidden)` of `(batch, len)` ids and 0/1 padding mask.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let mut x = self.emb_norm.forward(&self.tok.forward(ids)?)?;
        let dtype = x.dtype();
        let dev = x.device().clone();
        let t = ids.dim(1)?;
        let global_bias = attention_bias(mask, dtype)?;
        // Local layers: padding and the band |i − j| ≤ w, as one 0/1 product (never a sum of two
        // minima, which overflows to −inf in f16).
        // The band on the device: |i − j| of f32 positions (exact below 2^24), compared there.
        let pos = Tensor::arange(0u32, t as u32, &dev)?.to_dtype(DType::F32)?;
        let band = pos
            .unsqueeze(1)?
            .broadcast_sub(&pos.unsqueeze(0)?)?
            .abs()?
            .le(self.half_window as f64)?
            .to_dtype(DType::F32)?
            .reshape((1, 1, t, t))?;
        let seen = band.broadcast_mul(&mask.to_dtype(DType::F32)?.unsqueeze(1)?.unsqueeze(1)?)?;
        let local_bias = (seen.affine(-1.0, 1.0)? * finite_min(dtype))?.to_dtype(dtype)?;
        let tables = |rope: &Rope| -> Result<(Tensor, Tensor)> {
            let (cos, sin) = rope.tables(t);
            let half = rope.head_dim() / 2;
            Ok((
                Tensor::from_vec(cos, (t, half), &dev)?,
                Tensor::from_vec(sin, (t, half), &dev)?,
            ))
        };
        let (global_rope, local_rope) = (tables(&self.global_rope)?, tables(&self.local_rope)?);
        for layer in &self.layers {
            let (bias, rope) = match layer.local {
                true => (&local_bias, &local_rope),
                false => (&global_bias, &global_rope),
            };
            let normed = match &layer.attn_norm {
                Some(n) => n.forward(&x)?,
                None => x.clone(),
            };
            x = (&x + self.attention(layer, &normed, bias, rope)?)?;
            let ffn = layer.wi.forward(&layer.mlp_norm.forward(&x)?)?;
            let halves = ffn.chunk(2, D::Minus1)?;
            let glu = (activate(self.act, &halves[0])? * &halves[1])?;
            x = (&x + layer.mlp_wo.forward(&glu)?)?;
        }
        let x = self.final_norm.forward(&x)?;
        let x = activate(self.head_act, &self.head_dense.forward(&x)?)?;
        self.head_norm.forward(&x)
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        bias: &Tensor,
        (cos, sin): &(Tensor, Tensor),
    ) -> Result<Tensor> {
        let (b, t, hidden) = x.dims3()?;
        let d = hidden / self.heads;
        let qkv = layer
            .wqkv
            .forward(x)?
            .reshape((b, t, 3, self.heads, d))?
            .permute((2, 0, 3, 1, 4))?;
        let dtype = qkv.dtype();
        // `apply_rotary_pos_emb`: in f32, back to the compute dtype.
        let rotate = |x: Tensor| -> Result<Tensor> {
            candle_nn::rotary_emb::rope(&x.to_dtype(DType::F32)?.contiguous()?, cos, sin)?
                .to_dtype(dtype)
        };
        let q = rotate(qkv.get(0)?)?;
        let k = rotate(qkv.get(1)?)?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? * (d as f64).powf(-0.5))?;
        let p = softmax_f32_acc(&scores.broadcast_add(bias)?)?;
        let ctx = p.matmul(&v)?.transpose(1, 2)?.reshape((b, t, hidden))?;
        layer.wo.forward(&ctx)
    }
}
