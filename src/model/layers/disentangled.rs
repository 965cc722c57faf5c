//! Model stage, layers: DeBERTa's disentangled self-attention (`DisentangledSelfAttention` of
//! transformers/models/deberta_v2/modeling_deberta_v2.py) on the native CPU backend.
//!
//! Scores are `q·k + c2p + p2c`, all over `√(d · scale_factor)`: the content→position term is
//! `q_i · pos_key[c2p(i, j)]`, the position→content term `k_j · pos_query[p2c(j, i)]`, where
//! `pos_key`/`pos_query` are the key/query projections (or `pos_key_proj`/`pos_query_proj`
//! without `share_att_key`) of the relative embeddings — weights only, so computed once at load,
//! in f32 whatever `--quantize` says — and the indices are clamped, log-bucketed `i − j`.
//! Per window and head: `q kᵀ`, `q pos_keyᵀ` and `k pos_queryᵀ` over only the relative rows the
//! window can reach, the two gathers added into the scores, softmax, `· v`. The index tables
//! are `layers::relative`'s.

use super::super::kernels;
use super::super::store::Weights;
use super::attention::gemm_strided;
use super::linear::{Linear, Precision};
use super::relative::Relative;
use super::{BlockConfig, BlockNames};

/// The native layer.
pub struct DisentangledAttention {
    qkv: Linear,
    heads: usize,
    head_dim: usize,
    /// `1 / √(d · scale_factor)`.
    inv_scale: f32,
    rel: Option<RelTerms>,
}

struct RelTerms {
    cfg: Relative,
    /// `(2·span, hidden)` f32, present for c2p / p2c respectively.
    pos_key: Vec<f32>,
    pos_query: Vec<f32>,
    /// Index by `delta + offset` for |delta| < offset: `c2p_index`, `p2c_index`.
    c2p: Vec<u32>,
    p2c: Vec<u32>,
    offset: i64,
}

impl RelTerms {
    fn c2p(&self, delta: i64) -> u32 {
        match self.c2p.get((delta + self.offset) as usize) {
            Some(&i) if delta > -self.offset => i,
            _ => self.cfg.c2p_index(delta),
        }
    }

    fn p2c(&self, delta: i64) -> u32 {
        match self.p2c.get((delta + self.offset) as usize) {
            Some(&i) if delta > -self.offset => i,
            _ => self.cfg.p2c_index(delta),
        }
    }
}

/// `x (rows × n_in) · Wᵀ + b` in f32 for a `Linear` below `w` (the positional projections).
fn project(
    w: &Weights,
    x: &[f32],
    rows: usize,
    n_in: usize,
    n_out: usize,
) -> Result<Vec<f32>, String> {
    let lin = Linear::load(w, n_in, n_out, Precision::F32)?;
    let mut out = vec![0f32; rows * n_out];
    lin.forward(x, rows, &mut out);
    Ok(out)
}

impl DisentangledAttention {
    /// `rel_emb`: the (LayerNorm'd) relative embeddings, `2·span × hidden`, when the config has
    /// relative attention; `max_len`: the window length the index tables are built for.
    pub fn load(
        wb: &Weights,
        names: &BlockNames,
        cfg: &BlockConfig,
        p: Precision,
        rel_emb: Option<&[f32]>,
        max_len: usize,
    ) -> Result<Self, String> {
        let h = cfg.hidden;
        let d = cfg
            .disentangled
            .as_ref()
            .ok_or("not a disentangled-attention config")?;
        let parts = [wb.pp(names.query), wb.pp(names.key), wb.pp(names.value)];
        let qkv = Linear::load_fused(&[&parts[0], &parts[1], &parts[2]], h, h, p)?;
        let rel = match (&d.relative, rel_emb) {
            (Some(r), Some(emb)) => {
                let rows = 2 * r.span;
                let (key, query) = if r.share_att_key {
                    (parts[1].clone(), parts[0].clone())
                } else {
                    let at = wb.pp(names.query.rsplit_once('.').map_or("", |(a, _)| a));
                    (at.pp("pos_key_proj"), at.pp("pos_query_proj"))
                };
                let pos_key = if r.c2p {
                    project(&key, emb, rows, h, h)?
                } else {
                    Vec::new()
                };
                let pos_query = if r.p2c {
                    project(&query, emb, rows, h, h)?
                } else {
                    Vec::new()
                };
                let offset = max_len.max(1) as i64;
                let deltas = -offset + 1..offset;
                Some(RelTerms {
                    c2p: std::iter::once(0)
                        .chain(deltas.clone().map(|x| r.c2p_index(x)))
                        .collect(),
                    p2c: std::iter::once(0)
                        .chain(deltas.map(|x| r.p2c_index(x)))
                        .collect(),
                    offset,
                    cfg: r.clone(),
                    pos_key,
                    pos_query,
                })
            }
            (Some(_), None) => return Err("relative attention without rel_embeddings".into()),
            _ => None,
        };
        let head_dim = h / cfg.heads;
        Ok(Self {
            qkv,
            heads: cfg.heads,
            head_dim,
            inv_scale: 1.0 / ((head_dim * d.scale_factor) as f32).sqrt(),
            rel,
        })
    }

    /// As `SelfAttention::forward`; `rel` is scratch for the positional products.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &[f32],
        m: usize,
        spans: &[(usize, usize)],
        qkv: &mut Vec<f32>,
        scores: &mut Vec<f32>,
        rel: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let hidden = self.heads * self.head_dim;
        qkv.resize(m * 3 * hidden, 0.0);
        self.qkv.forward(x, m, qkv);
        let qs = 3 * hidden;
        for &(start, len) in spans {
            let rows = &qkv[start * qs..(start + len) * qs];
            let dst = &mut out[start * hidden..(start + len) * hidden];
            scores.resize(len * len, 0.0);
            for h in 0..self.heads {
                let (q, k, v) = (
                    h * self.head_dim,
                    hidden + h * self.head_dim,
                    2 * hidden + h * self.head_dim,
                );
                let s = &mut scores[..len * len];
                // S = q kᵀ / scale
                gemm_strided(
                    len,
                    len,
                    self.head_dim,
                    s,
                    len,
                    &rows[q..],
                    1,
                    qs,
                    &rows[k..],
                    qs,
                    1,
                    self.inv_scale,
                );
                if let Some(r) = &self.rel {
                    self.add_relative(r, rows, len, h, s, rel);
                }
                kernels::softmax_rows(s, len);
                gemm_strided(
                    len,
                    self.head_dim,
                    len,
                    &mut dst[h * self.head_dim..],
                    hidden,
                    s,
                    1,
                    len,
                    &rows[v..],
                    1,
                    qs,
                    1.0,
                );
            }
        }
    }

    /// Adds the c2p and p2c terms of head `h` of one window into its scores `s` (`len × len`).
    fn add_relative(
        &self,
        r: &RelTerms,
        rows: &[f32],
        len: usize,
        h: usize,
        s: &mut [f32],
        buf: &mut Vec<f32>,
    ) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let qs = 3 * hidden;
        let reach = len as i64 - 1;
        // The rows of pos_key / pos_query any pair of this window reads: the indices are monotone in delta.
        let (lo, hi) = (
            r.c2p(-reach).min(r.p2c(reach)),
            r.c2p(reach).max(r.p2c(-reach)),
        );
        let (lo, n) = (lo as usize, (hi - lo) as usize + 1);
        buf.resize(len * n, 0.0);
        if r.cfg.c2p {
            // C[i][c] = q_i · pos_key[lo + c] / scale;  s[i][j] += C[i][c2p(i − j) − lo]
            let c = &mut buf[..len * n];
            let pk = &r.pos_key[lo * hidden + h * d..];
            gemm_strided(
                len,
                n,
                d,
                c,
                n,
                &rows[h * d..],
                1,
                qs,
                pk,
                hidden,
                1,
                self.inv_scale,
            );
            for i in 0..len {
                let (srow, crow) = (&mut s[i * len..(i + 1) * len], &c[i * n..(i + 1) * n]);
                for (j, sv) in srow.iter_mut().enumerate() {
                    *sv += crow[r.c2p(i as i64 - j as i64) as usize - lo];
                }
            }
        }
        if r.cfg.p2c {
            // P[j][c] = k_j · pos_query[lo + c] / scale;  s[i][j] += P[j][p2c(j − i) − lo]
            let p = &mut buf[..len * n];
            let pq = &r.pos_query[lo * hidden + h * d..];
            gemm_strided(
                len,
                n,
                d,
                p,
                n,
                &rows[hidden + h * d..],
                1,
                qs,
                pq,
                hidden,
                1,
                self.inv_scale,
            );
            for i in 0..len {
                let srow = &mut s[i * len..(i + 1) * len];
                for (j, sv) in srow.iter_mut().enumerate() {
                    *sv += p[j * n + r.p2c(j as i64 - i as i64) as usize - lo];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::kernels::tests::{close, data};
    use super::*;

    /// The whole layer against a scalar f64 reference of `DisentangledSelfAttention`: two windows
    /// packed, one longer than the index tables (their fallback), span smaller than the windows.
    #[test]
    fn attention_matches_scalar_reference() {
        let (heads, d, span) = (2usize, 8usize, 4usize);
        let hidden = heads * d;
        let r = Relative {
            span,
            buckets: 4,
            max_position: 16,
            c2p: true,
            p2c: true,
            share_att_key: true,
        };
        let terms = |max_len: usize| RelTerms {
            c2p: (-(max_len as i64)..max_len as i64)
                .map(|x| r.c2p_index(x))
                .collect(),
            p2c: (-(max_len as i64)..max_len as i64)
                .map(|x| r.p2c_index(x))
                .collect(),
            offset: max_len as i64,
            cfg: r.clone(),
            pos_key: data(2 * span * hidden, 7, 1.0),
            pos_query: data(2 * span * hidden, 8, 1.0),
        };
        let att = DisentangledAttention {
            qkv: Linear::F32 {
                wt: data(hidden * 3 * hidden, 3, 0.5),
                bias: data(3 * hidden, 4, 0.5),
                n_in: hidden,
                n_out: 3 * hidden,
            },
            heads,
            head_dim: d,
            inv_scale: 1.0 / ((d * 3) as f32).sqrt(),
            rel: Some(terms(6)),
        };
        let spans = [(0usize, 5usize), (5, 11)];
        let m = 16;
        let x = data(m * hidden, 5, 1.0);
        let (mut qkv, mut scores, mut buf) = (Vec::new(), Vec::new(), Vec::new());
        let mut out = vec![0f32; m * hidden];
        att.forward(&x, m, &spans, &mut qkv, &mut scores, &mut buf, &mut out);
        let rt = att.rel.as_ref().unwrap();
        let scale = ((d * 3) as f64).sqrt();
        for &(start, len) in &spans {
            for h in 0..heads {
                let col = |row: usize, at: usize, c: usize| {
                    f64::from(qkv[(start + row) * 3 * hidden + at + h * d + c])
                };
                let dot = |a: &dyn Fn(usize) -> f64, b: &dyn Fn(usize) -> f64| {
                    (0..d).map(|c| a(c) * b(c)).sum::<f64>()
                };
                for i in 0..len {
                    let s: Vec<f64> = (0..len)
                        .map(|j| {
                            let c2p = r.c2p_index(i as i64 - j as i64) as usize;
                            let p2c = r.p2c_index(j as i64 - i as i64) as usize;
                            let qk = dot(&|c| col(i, 0, c), &|c| col(j, hidden, c));
                            let c2p = dot(&|c| col(i, 0, c), &|c| {
                                f64::from(rt.pos_key[c2p * hidden + h * d + c])
                            });
                            let p2c = dot(&|c| col(j, hidden, c), &|c| {
                                f64::from(rt.pos_query[p2c * hidden + h * d + c])
                            });
                            (qk + c2p + p2c) / scale
                        })
                        .collect();
                    let mx = s.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = s.iter().map(|v| (v - mx).exp()).sum();
                    for c in 0..d {
                        let want: f64 = (0..len)
                            .map(|j| (s[j] - mx).exp() / z * col(j, 2 * hidden, c))
                            .sum();
                        let got = out[(start + i) * hidden + h * d + c];
                        assert!(
                            close(got, want, 1e-5),
                            "window {start}, head {h}, row {i}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
