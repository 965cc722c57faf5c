//! Model stage, native CPU layers: multi-head self-attention over packed windows — the three
//! projections fused in one `Linear`, then each window attends only to itself, so no token is
//! padding and no mask is needed.

use super::super::kernels::{self, HeadView};
use super::super::store::Weights;
use super::linear::{self, Linear, Precision};
use super::{BlockConfig, BlockNames};

/// Windows longer than this attend through `gemm`; shorter ones through the fused loop kernel.
const GEMM_FROM: usize = 48;

pub struct SelfAttention {
    qkv: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(wb: &Weights, names: &BlockNames, cfg: &BlockConfig, p: Precision) -> Result<Self, String> {
        let h = cfg.hidden;
        let mut w = Vec::with_capacity(3 * h * h);
        let mut b = Vec::with_capacity(3 * h);
        for name in [names.query, names.key, names.value] {
            let (wi, bi) = linear::raw(&wb.pp(name), h, h)?;
            w.extend(wi);
            b.extend(bi);
        }
        Ok(Self {
            qkv: Linear::new(w, b, h, 3 * h, p),
            heads: cfg.heads,
            head_dim: h / cfg.heads,
        })
    }

    /// `x` holds `m` packed token rows; `spans` the (first row, length) of each window.
    /// Writes the attention context, `(m, hidden)`, into `out`; `qkv` and `scores` are scratch.
    pub fn forward(
        &self,
        x: &[f32],
        m: usize,
        spans: &[(usize, usize)],
        qkv: &mut Vec<f32>,
        scores: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let hidden = self.heads * self.head_dim;
        qkv.resize(m * 3 * hidden, 0.0);
        self.qkv.forward(x, m, qkv);
        let scale = 1.0 / (self.head_dim as f32).sqrt();
        for &(start, len) in spans {
            let rows = &qkv[start * 3 * hidden..(start + len) * 3 * hidden];
            let dst = &mut out[start * hidden..(start + len) * hidden];
            for h in 0..self.heads {
                let hv = HeadView {
                    qkv_stride: 3 * hidden,
                    out_stride: hidden,
                    q: h * self.head_dim,
                    k: hidden + h * self.head_dim,
                    v: 2 * hidden + h * self.head_dim,
                    o: h * self.head_dim,
                    head_dim: self.head_dim,
                    scale,
                };
                if len < GEMM_FROM {
                    kernels::attend(rows, dst, len, hv, scores);
                } else {
                    scores.resize(len * len, 0.0);
                    attend_gemm(rows, dst, len, hv, scores);
                }
            }
        }
    }
}

/// The long-window path: `S = q kᵀ · scale` and `out = softmax(S) v` as two matrix products.
fn attend_gemm(qkv: &[f32], out: &mut [f32], len: usize, hv: HeadView, s: &mut [f32]) {
    let d = hv.head_dim;
    let (qs, os) = (hv.qkv_stride as isize, hv.out_stride as isize);
    assert!(qkv.len() >= len * hv.qkv_stride && out.len() >= len * hv.out_stride);
    assert!(s.len() >= len * len && hv.v + d <= hv.qkv_stride && hv.o + d <= hv.out_stride);
    // SAFETY: every (row, column) the strides reach lies inside the slices, as asserted above;
    // the destinations do not alias the sources.
    unsafe {
        gemm::gemm(
            len,
            len,
            d,
            s.as_mut_ptr(),
            1,
            len as isize,
            false,
            qkv.as_ptr().add(hv.q),
            1,
            qs,
            qkv.as_ptr().add(hv.k),
            qs,
            1,
            0.0f32,
            hv.scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    for row in s[..len * len].chunks_exact_mut(len) {
        kernels::softmax(row);
    }
    unsafe {
        gemm::gemm(
            len,
            d,
            len,
            out.as_mut_ptr().add(hv.o),
            1,
            os,
            false,
            s.as_ptr(),
            1,
            len as isize,
            qkv.as_ptr().add(hv.v),
            1,
            qs,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
