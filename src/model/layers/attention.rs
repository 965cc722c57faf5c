//! Model stage, native CPU layers: multi-head self-attention over packed windows — the three
//! projections fused in one `Linear`, then each window attends only to itself, so no token is
//! padding and no mask is needed. Per head, `q kᵀ` and `softmax(·) v` are two strided matrix
//! products straight out of the fused QKV rows (measured faster than a fused loop kernel even for
//! 20-token windows).

use super::super::kernels;
use super::super::store::Weights;
use super::linear::{Linear, Precision};
use super::{BlockConfig, BlockNames};

pub struct SelfAttention {
    qkv: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(
        wb: &Weights,
        names: &BlockNames,
        cfg: &BlockConfig,
        p: Precision,
    ) -> Result<Self, String> {
        let h = cfg.hidden;
        let parts = [wb.pp(names.query), wb.pp(names.key), wb.pp(names.value)];
        let qkv = Linear::load_fused(&[&parts[0], &parts[1], &parts[2]], h, h, p)?;
        Ok(Self {
            qkv,
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
                scores.resize(len * len, 0.0);
                attend(rows, dst, len, hv, scores);
            }
        }
    }
}

/// Where one head of one window lives in the fused QKV buffer and in the output.
#[derive(Debug, Clone, Copy)]
pub struct HeadView {
    /// Row stride of the QKV buffer (3 × hidden) and of the output (hidden).
    pub qkv_stride: usize,
    pub out_stride: usize,
    /// Offsets of this head's query, key and value columns in a QKV row; of its output columns.
    pub q: usize,
    pub k: usize,
    pub v: usize,
    pub o: usize,
    pub head_dim: usize,
    pub scale: f32,
}

/// Softmax attention of one head over one window of `len` tokens whose first row is row 0 of
/// `qkv` and `out`: `S = q kᵀ · scale`, `out = softmax(S) v`; `s` holds `len × len` scores.
pub fn attend(qkv: &[f32], out: &mut [f32], len: usize, hv: HeadView, s: &mut [f32]) {
    let d = hv.head_dim;
    let (qs, os) = (hv.qkv_stride, hv.out_stride);
    assert!(qkv.len() >= len * hv.qkv_stride && out.len() >= len * hv.out_stride);
    assert!(s.len() >= len * len && hv.v + d <= hv.qkv_stride && hv.o + d <= hv.out_stride);
    gemm_strided(
        len,
        len,
        d,
        s,
        len,
        &qkv[hv.q..],
        1,
        qs,
        &qkv[hv.k..],
        qs,
        1,
        hv.scale,
    );
    kernels::softmax_rows(&mut s[..len * len], len);
    gemm_strided(
        len,
        d,
        len,
        &mut out[hv.o..],
        os,
        s,
        1,
        len,
        &qkv[hv.v..],
        1,
        qs,
        1.0,
    );
}

/// `dst (m × n, row stride dst_rs) = scale · A (m × k) · B (k × n)` where A's element (i, c) is
/// `a[i·a_rs + c·a_cs]` and B's (c, j) is `b[c·b_rs + j·b_cs]`: one `gemm` call, bounds checked.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: &[f32],
    a_cs: usize,
    a_rs: usize,
    b: &[f32],
    b_cs: usize,
    b_rs: usize,
    scale: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rs: usize, cs: usize, r: usize, c: usize| (r - 1) * rs + (c - 1) * cs;
    assert!(last(dst_rs, 1, m, n) < dst.len());
    assert!(k == 0 || last(a_rs, a_cs, m, k) < a.len());
    assert!(k == 0 || last(b_rs, b_cs, k, n) < b.len());
    // SAFETY: every element the strides reach lies inside its slice, as asserted above; `dst`
    // is a `&mut` and so aliases neither source.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            false,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            0.0f32,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::kernels::tests::{close, data};
    use super::*;

    #[test]
    fn attention_matches_reference() {
        for &(len, heads, d) in &[
            (1usize, 1usize, 4usize),
            (5, 2, 16),
            (23, 3, 32),
            (70, 2, 64),
        ] {
            let hidden = heads * d;
            let qkv = data(len * 3 * hidden, len as u64, 2.0);
            let mut out = vec![0f32; len * hidden];
            let mut scores = vec![0f32; len * len];
            let scale = 1.0 / (d as f32).sqrt();
            for h in 0..heads {
                let hv = HeadView {
                    qkv_stride: 3 * hidden,
                    out_stride: hidden,
                    q: h * d,
                    k: hidden + h * d,
                    v: 2 * hidden + h * d,
                    o: h * d,
                    head_dim: d,
                    scale,
                };
                attend(&qkv, &mut out, len, hv, &mut scores);
                for i in 0..len {
                    let s: Vec<f64> = (0..len)
                        .map(|j| {
                            (0..d)
                                .map(|c| {
                                    f64::from(qkv[i * 3 * hidden + h * d + c])
                                        * f64::from(qkv[j * 3 * hidden + hidden + h * d + c])
                                })
                                .sum::<f64>()
                                * f64::from(scale)
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                    for c in 0..d {
                        let want: f64 = (0..len)
                            .map(|j| {
                                (s[j] - m).exp() / z
                                    * f64::from(qkv[j * 3 * hidden + 2 * hidden + h * d + c])
                            })
                            .sum();
                        assert!(close(out[i * hidden + h * d + c], want, 1e-5));
                    }
                }
            }
        }
    }
}
