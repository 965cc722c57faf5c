//! Model stage, native CPU layers: ModernBERT's self-attention over packed windows — fused `Wqkv`,
//! RoPE on queries and keys, then global attention or attention within a sliding window
//! (`|i − j| ≤ local_attention / 2`), then `Wo`.
//!
//! Mirrors `ModernBertAttention` (transformers/models/modernbert/modeling_modernbert.py) with the
//! bidirectional sliding-window mask of `masking_utils`. Queries are taken in blocks: a block's
//! scores cover only the keys its rows may see (the band, in local layers), so a local layer costs
//! O(len · window) and no layer holds more than `block × len` scores, whatever the window length.

use std::sync::Arc;

use super::super::kernels;
use super::super::store::Weights;
use super::attention::{gemm_strided, HeadView};
use super::linear::{Linear, Precision};
use super::rotary::Rope;

/// Query rows per block in a local layer, and in a global layer over windows longer than
/// [`GLOBAL_BLOCK`] (shorter ones are one block).
const LOCAL_BLOCK: usize = 64;
const GLOBAL_BLOCK: usize = 256;

pub struct RopeAttention {
    qkv: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
    rope: Arc<Rope>,
    /// `Some(w)`: a token attends to those at most `w` positions away.
    half_window: Option<usize>,
}

/// Scratch of one forward pass.
#[derive(Default)]
pub struct AttnScratch {
    qkv: Vec<f32>,
    scores: Vec<f32>,
    ctx: Vec<f32>,
}

impl RopeAttention {
    /// `Wqkv` and `Wo` below `w`, with biases when `bias` says so.
    pub fn load(
        w: &Weights,
        hidden: usize,
        heads: usize,
        p: Precision,
        bias: bool,
        rope: Arc<Rope>,
        half_window: Option<usize>,
    ) -> Result<Self, String> {
        Ok(Self {
            qkv: Linear::load_with_bias(&w.pp("Wqkv"), hidden, 3 * hidden, p, bias)?,
            out: Linear::load_with_bias(&w.pp("Wo"), hidden, hidden, p, bias)?,
            heads,
            head_dim: hidden / heads,
            rope,
            half_window,
        })
    }

    /// `out (m, hidden) ← Wo · attention(x)` over `m` packed rows; `spans` are the windows'
    /// (first row, length).
    pub fn forward(
        &self,
        x: &[f32],
        m: usize,
        spans: &[(usize, usize)],
        s: &mut AttnScratch,
        out: &mut [f32],
    ) {
        let hidden = self.heads * self.head_dim;
        let stride = 3 * hidden;
        s.qkv.resize(m * stride, 0.0);
        self.qkv.forward(x, m, &mut s.qkv);
        // Query and key columns of every head: `view(…, 3, heads, head_dim)`.
        let rotated: Vec<usize> = (0..2 * self.heads).map(|i| i * self.head_dim).collect();
        s.ctx.resize(m * hidden, 0.0);
        for &(start, len) in spans {
            let rows = &mut s.qkv[start * stride..(start + len) * stride];
            self.rope.apply(rows, len, stride, &rotated);
            let ctx = &mut s.ctx[start * hidden..(start + len) * hidden];
            for h in 0..self.heads {
                let d = self.head_dim;
                let head = HeadView {
                    qkv_stride: stride,
                    out_stride: hidden,
                    q: h * d,
                    k: hidden + h * d,
                    v: 2 * hidden + h * d,
                    o: h * d,
                    head_dim: d,
                    scale: 1.0 / (d as f32).sqrt(),
                };
                attend_windowed(rows, ctx, len, head, self.half_window, &mut s.scores);
            }
        }
        self.out.forward(&s.ctx, m, out);
    }
}

/// The keys row `i` of a `len`-token window sees: all, or those within `half_window`.
fn visible(i: usize, len: usize, half_window: Option<usize>) -> (usize, usize) {
    match half_window {
        None => (0, len),
        Some(w) => (i.saturating_sub(w), (i + w + 1).min(len)),
    }
}

/// `out = softmax(q kᵀ / √d, masked) v` of one head over one window whose rows start at row 0 of
/// `qkv` and `out`. `scores` is scratch.
pub fn attend_windowed(
    qkv: &[f32],
    out: &mut [f32],
    len: usize,
    hd: HeadView,
    half_window: Option<usize>,
    scores: &mut Vec<f32>,
) {
    let d = hd.head_dim;
    assert!(qkv.len() >= len * hd.qkv_stride && out.len() >= len * hd.out_stride);
    assert!(hd.q.max(hd.k).max(hd.v) + d <= hd.qkv_stride && hd.o + d <= hd.out_stride);
    let block = match half_window {
        Some(_) => LOCAL_BLOCK,
        None if len <= GLOBAL_BLOCK => len.max(1),
        None => GLOBAL_BLOCK,
    };
    let (qs, os) = (hd.qkv_stride, hd.out_stride);
    for r0 in (0..len).step_by(block) {
        let r1 = (r0 + block).min(len);
        let (k0, _) = visible(r0, len, half_window);
        let (_, k1) = visible(r1 - 1, len, half_window);
        let (rows, cols) = (r1 - r0, k1 - k0);
        scores.resize(rows * cols, 0.0);
        let (q, k, v) = (r0 * qs + hd.q, k0 * qs + hd.k, k0 * qs + hd.v);
        gemm_strided(
            rows,
            cols,
            d,
            scores,
            cols,
            &qkv[q..],
            1,
            qs,
            &qkv[k..],
            qs,
            1,
            hd.scale,
        );
        if half_window.is_none() {
            kernels::softmax_rows(&mut scores[..rows * cols], cols);
        } else {
            for (r, row) in scores.chunks_exact_mut(cols).enumerate() {
                let (a, b) = visible(r0 + r, len, half_window);
                let (a, b) = (a - k0, b - k0);
                row[..a].fill(0.0);
                row[b..].fill(0.0);
                kernels::softmax_rows(&mut row[a..b], b - a);
            }
        }
        let o = r0 * os + hd.o;
        gemm_strided(
            rows,
            d,
            cols,
            &mut out[o..],
            os,
            scores,
            1,
            cols,
            &qkv[v..],
            1,
            qs,
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::kernels::tests::{close, data};
    use super::*;

    /// Masked softmax attention of one head, in f64, straight from the definition.
    fn reference(qkv: &[f32], len: usize, hd: HeadView, w: Option<usize>) -> Vec<f64> {
        let at = |r: usize, c: usize| f64::from(qkv[r * hd.qkv_stride + c]);
        let scale = 1.0 / (hd.head_dim as f64).sqrt();
        let mut out = vec![0.0; len * hd.head_dim];
        for i in 0..len {
            let seen: Vec<usize> = (0..len)
                .filter(|&j| w.is_none_or(|w| i.abs_diff(j) <= w))
                .collect();
            let s: Vec<f64> = seen
                .iter()
                .map(|&j| {
                    (0..hd.head_dim)
                        .map(|c| at(i, hd.q + c) * at(j, hd.k + c))
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let m = s.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
            for c in 0..hd.head_dim {
                out[i * hd.head_dim + c] = seen
                    .iter()
                    .zip(&s)
                    .map(|(&j, v)| (v - m).exp() / z * at(j, hd.v + c))
                    .sum();
            }
        }
        out
    }

    #[test]
    fn blocked_global_and_banded_local_attention_match_the_masked_definition() {
        // Lengths below, at and past one block (64 local, 256 global); windows from 0 up.
        for &(len, d, w) in &[
            (1usize, 4usize, Some(4usize)),
            (9, 8, Some(0)),
            (23, 16, Some(4)),
            (70, 8, Some(3)),
            (131, 8, Some(64)),
            (200, 4, Some(500)),
            (5, 8, None),
            (300, 4, None),
        ] {
            let heads = 2;
            let hidden = heads * d;
            let qkv = data(len * 3 * hidden, len as u64 + 7, 2.0);
            let mut out = vec![0f32; len * hidden];
            let mut scores = Vec::new();
            for h in 0..heads {
                let hd = HeadView {
                    qkv_stride: 3 * hidden,
                    out_stride: hidden,
                    q: h * d,
                    k: hidden + h * d,
                    v: 2 * hidden + h * d,
                    o: h * d,
                    head_dim: d,
                    scale: 1.0 / (d as f32).sqrt(),
                };
                attend_windowed(&qkv, &mut out, len, hd, w, &mut scores);
                let want = reference(&qkv, len, hd, w);
                for i in 0..len {
                    for c in 0..d {
                        let got = out[i * hidden + h * d + c];
                        assert!(close(got, want[i * d + c], 1e-5), "{len} {w:?} {i} {c}");
                    }
                }
            }
        }
    }
}
