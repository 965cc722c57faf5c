//! Model stage, candle backend (CUDA, and the reference the native CPU encoder is tested
//! against): the post-LayerNorm transformer block that BERT, DistilBERT and XLM-R share.
//!
//! Mirrors `BertLayer` (transformers/models/bert/modeling_bert.py) and `TransformerBlock`
//! (transformers/models/distilbert/modeling_distilbert.py): the two differ only in weight names.
//! DeBERTa-v2's `DisentangledSelfAttention` adds its relative-position terms to the scores here
//! too (see `layers::disentangled` for what they are).
//! <https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py>

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

use super::relative::Relative;
use super::{Activation, BlockConfig, BlockNames};

pub(crate) fn activate(act: Activation, x: &Tensor) -> Result<Tensor> {
    match act {
        Activation::GeluErf => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
        Activation::Relu => x.relu(),
        Activation::Silu => x.silu(),
    }
}

pub fn linear(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Linear> {
    let w = vb.get((out_dim, in_dim), "weight")?;
    let b = vb.get(out_dim, "bias")?;
    Ok(Linear::new(w, Some(b)))
}

/// LayerNorm, accepting the `gamma`/`beta` names of checkpoints saved by old TensorFlow ports.
/// candle's fused kernel (CPU and CUDA) sums mean and variance in f32 for f16/bf16 input.
pub fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
    let (w, b) = if vb.contains_tensor("weight") || !vb.contains_tensor("gamma") {
        (vb.get(size, "weight")?, vb.get(size, "bias")?)
    } else {
        (vb.get(size, "gamma")?, vb.get(size, "beta")?)
    };
    Ok(LayerNorm::new(w, b, eps))
}

/// The most negative finite value of a float dtype: `torch.finfo(dtype).min`.
pub fn finite_min(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => f64::from(half::f16::MIN),
        DType::BF16 => f64::from(half::bf16::MIN),
        DType::F64 => f64::MIN,
        _ => f64::from(f32::MIN),
    }
}

/// Additive attention bias from a 0/1 padding mask of shape (batch, seq), in `dtype`: 0 where
/// attended, the dtype's most negative finite value where padded, as `transformers` builds its
/// extended attention mask. Finite on purpose: `-inf · 0` is NaN, and `f32::MAX` is `inf` in f16.
pub fn attention_bias(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    // (1 - mask) · min: exact in every dtype, since the factors are 0 and 1.
    let bias = ((mask.to_dtype(dtype)?.affine(-1.0, 1.0))? * finite_min(dtype))?;
    bias.reshape((b, 1, 1, t))
}

/// Softmax over the last dimension, accumulated in f32: candle's CUDA kernel does that for every
/// dtype; its CPU kernel sums in the input's dtype, so half precision is widened there first.
pub(crate) fn softmax_f32_acc(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() != DType::F32 && x.dtype() != DType::F64 {
        candle_nn::ops::softmax_last_dim(&x.to_dtype(DType::F32)?)?.to_dtype(x.dtype())
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

/// Multi-head self-attention with the three projections fused into one matrix product.
struct SelfAttention {
    qkv: Linear,
    heads: usize,
    head_dim: usize,
    /// `1/√d`, or DeBERTa's `1/√(d · scale_factor)`.
    scale: f64,
    rel: Option<RelTerms>,
}

/// DeBERTa's relative terms: the positional keys and queries, `(heads, d, 2·span)` each.
struct RelTerms {
    cfg: Relative,
    pos_key: Option<Tensor>,
    pos_query: Option<Tensor>,
}

/// What every block of one forward pass shares: the padding bias, and DeBERTa's (c2p, p2c)
/// relative index tables `(seq, seq)` (see `Relative::tables`).
pub struct Context {
    bias: Tensor,
    rel_index: Option<(Tensor, Tensor)>,
}

/// `(rows, 2·span, hidden)` of `lin(rel)` as `(heads, d, 2·span)`.
fn positional(lin: &Linear, rel: &Tensor, heads: usize) -> Result<Tensor> {
    let (rows, hidden) = rel.dims2()?;
    lin.forward(rel)?
        .reshape((rows, heads, hidden / heads))?
        .permute((1, 2, 0))?
        .contiguous()
}

impl SelfAttention {
    fn load(
        vb: &VarBuilder,
        names: &BlockNames,
        cfg: &BlockConfig,
        rel_emb: Option<&Tensor>,
    ) -> Result<Self> {
        let q = linear(vb.pp(names.query), cfg.hidden, cfg.hidden)?;
        let k = linear(vb.pp(names.key), cfg.hidden, cfg.hidden)?;
        let v = linear(vb.pp(names.value), cfg.hidden, cfg.hidden)?;
        let head_dim = cfg.hidden / cfg.heads;
        let d = cfg.disentangled.as_ref();
        let scale = 1.0 / ((head_dim * d.map_or(1, |d| d.scale_factor)) as f64).sqrt();
        let rel = match (d.and_then(|d| d.relative.as_ref()), rel_emb) {
            (Some(r), Some(emb)) => {
                let (pk, pq) = if r.share_att_key {
                    (k.clone(), q.clone())
                } else {
                    let at = vb.pp(names.query.rsplit_once('.').map_or("", |(a, _)| a));
                    let load =
                        |n: &str, on: bool| on.then(|| linear(at.pp(n), cfg.hidden, cfg.hidden));
                    let (pk, pq) = (
                        load("pos_key_proj", r.c2p).transpose()?,
                        load("pos_query_proj", r.p2c).transpose()?,
                    );
                    (
                        pk.unwrap_or_else(|| k.clone()),
                        pq.unwrap_or_else(|| q.clone()),
                    )
                };
                Some(RelTerms {
                    cfg: r.clone(),
                    pos_key: r.c2p.then(|| positional(&pk, emb, cfg.heads)).transpose()?,
                    pos_query: r.p2c.then(|| positional(&pq, emb, cfg.heads)).transpose()?,
                })
            }
            (Some(_), None) => candle_core::bail!("relative attention without rel_embeddings"),
            _ => None,
        };
        let w = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let b = Tensor::cat(
            &[q.bias().unwrap(), k.bias().unwrap(), v.bias().unwrap()],
            0,
        )?;
        Ok(Self {
            qkv: Linear::new(w, Some(b)),
            heads: cfg.heads,
            head_dim,
            scale,
            rel,
        })
    }

    fn forward(&self, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, t, 3, self.heads, self.head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        // Scaling q before the product (as `transformers`' SDPA path does) keeps half-precision
        // scores small.
        let q = (qkv.get(0)? * self.scale)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let mut scores = q.matmul(&k.t()?)?;
        if let (Some(r), Some((c2p, p2c))) = (&self.rel, &ctx.rel_index) {
            let shape = scores.dims4()?;
            if let Some(pk) = &r.pos_key {
                // c2p[i][j] = q_i · pos_key[c2p_pos[i][j]]
                let att = q.broadcast_matmul(pk)?;
                scores = (scores + att.gather(&c2p.broadcast_as(shape)?.contiguous()?, 3)?)?;
            }
            if let Some(pq) = &r.pos_query {
                // p2c[i][j] = k_j · pos_query[p2c_pos[j][i]]
                let att = (&k * self.scale)?.broadcast_matmul(pq)?;
                let g = att.gather(&p2c.broadcast_as(shape)?.contiguous()?, 3)?;
                scores = (scores + g.transpose(2, 3)?)?;
            }
        }
        let scores = scores.broadcast_add(&ctx.bias)?;
        let probs = softmax_f32_acc(&scores)?;
        probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, t, self.heads * self.head_dim))
    }
}

/// One encoder block: attention, residual + LayerNorm, feed-forward, residual + LayerNorm.
pub struct EncoderBlock {
    attention: SelfAttention,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    out_norm: LayerNorm,
    act: Activation,
}

impl EncoderBlock {
    /// With DeBERTa's relative embeddings (`2·span × hidden`, normalized as the config says).
    pub fn load_relative(
        vb: VarBuilder,
        names: &BlockNames,
        cfg: &BlockConfig,
        rel_emb: Option<&Tensor>,
    ) -> Result<Self> {
        Ok(Self {
            attention: SelfAttention::load(&vb, names, cfg, rel_emb)?,
            attn_out: linear(vb.pp(names.attn_out), cfg.hidden, cfg.hidden)?,
            attn_norm: layer_norm(vb.pp(names.attn_norm), cfg.hidden, cfg.eps)?,
            ffn_in: linear(vb.pp(names.ffn_in), cfg.hidden, cfg.intermediate)?,
            ffn_out: linear(vb.pp(names.ffn_out), cfg.intermediate, cfg.hidden)?,
            out_norm: layer_norm(vb.pp(names.out_norm), cfg.hidden, cfg.eps)?,
            act: cfg.act,
        })
    }

    pub fn forward(&self, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        let attn = self.attention.forward(x, ctx)?;
        let h = self
            .attn_norm
            .forward(&(self.attn_out.forward(&attn)? + x)?)?;
        let f = self
            .ffn_out
            .forward(&activate(self.act, &self.ffn_in.forward(&h)?)?)?;
        self.out_norm.forward(&(f + h)?)
    }
}

/// Runs the blocks in order.
pub fn encode(blocks: &[EncoderBlock], mut x: Tensor, mask: &Tensor) -> Result<Tensor> {
    let bias = attention_bias(mask, x.dtype())?;
    let rel = blocks.first().and_then(|b| b.attention.rel.as_ref());
    let rel_index = match rel {
        Some(r) => {
            let t = mask.dim(1)?;
            let (c2p, p2c) = r.cfg.tables(t);
            let dev = mask.device();
            Some((
                Tensor::from_vec(c2p, (t, t), dev)?,
                Tensor::from_vec(p2c, (t, t), dev)?,
            ))
        }
        None => None,
    };
    let ctx = Context { bias, rel_index };
    for block in blocks {
        x = block.forward(&x, &ctx)?;
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn values(t: &Tensor) -> Vec<f32> {
        t.to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn attention_bias_is_finite_in_every_dtype() {
        let mask = Tensor::new(&[[1u8, 1, 0], [1, 0, 0]], &Device::Cpu).unwrap();
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let bias = attention_bias(&mask, dtype).unwrap();
            assert_eq!(bias.dtype(), dtype);
            assert_eq!(bias.dims(), &[2, 1, 1, 3]);
            let v = values(&bias);
            let min = finite_min(dtype) as f32;
            assert_eq!(v, vec![0.0, 0.0, min, 0.0, min, min], "{dtype:?}");
            assert!(v.iter().all(|x| x.is_finite()), "{dtype:?}");
        }
    }

    #[test]
    fn half_precision_softmax_of_a_masked_row_is_not_nan() {
        let scores = Tensor::new(&[[3.0f32, -2.0, 0.0]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u8, 1, 0]], &Device::Cpu).unwrap();
        for dtype in [DType::F16, DType::BF16] {
            let bias = attention_bias(&mask, dtype)
                .unwrap()
                .reshape((1, 3))
                .unwrap();
            let s = scores
                .to_dtype(dtype)
                .unwrap()
                .broadcast_add(&bias)
                .unwrap();
            let p = values(&softmax_f32_acc(&s).unwrap());
            assert!(p.iter().all(|x| x.is_finite()), "{dtype:?}: {p:?}");
            assert_eq!(p[2], 0.0, "{dtype:?}");
            assert!((p[0] + p[1] - 1.0).abs() < 1e-2, "{dtype:?}: {p:?}");
        }
    }
}
