//! Model stage, layers: the relative positions of DeBERTa's disentangled attention
//! (`make_log_bucket_position`, `build_relative_position` and the c2p / p2c index clamps of
//! transformers/models/deberta_v2/modeling_deberta_v2.py), shared by the native and candle paths.

/// What the attention scores add beyond `q·k`.
#[derive(Debug, Clone, PartialEq)]
pub struct Disentangled {
    /// 1 + one per relative term named by `pos_att_type` (counted even without
    /// `relative_attention`, as `transformers` does).
    pub scale_factor: usize,
    /// `None` when `relative_attention` is false.
    pub relative: Option<Relative>,
}

/// The relative-position terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Relative {
    /// `att_span` (`pos_ebd_size`): indices run over `0..2·span`.
    pub span: usize,
    /// `position_buckets`; 0: no log buckets.
    pub buckets: usize,
    /// `max_relative_positions`, resolved.
    pub max_position: usize,
    pub c2p: bool,
    pub p2c: bool,
    pub share_att_key: bool,
}

/// `make_log_bucket_position` for one relative position, in f32 as `torch` computes it.
pub fn log_bucket(rel: i64, bucket_size: usize, max_position: usize) -> i64 {
    let mid = (bucket_size / 2) as i64;
    let abs = if rel < mid && rel > -mid {
        mid - 1
    } else {
        rel.abs()
    };
    if abs <= mid {
        return rel;
    }
    let ratio = (max_position as f32 - 1.0) / mid as f32;
    let log_pos =
        ((abs as f32 / mid as f32).ln() / ratio.ln() * (mid - 1) as f32).ceil() + mid as f32;
    log_pos as i64 * rel.signum()
}

impl Relative {
    /// `build_relative_position` for query `i − key j` (`delta`).
    pub fn position(&self, delta: i64) -> i64 {
        if self.buckets > 0 && self.max_position > 0 {
            log_bucket(delta, self.buckets, self.max_position)
        } else {
            delta
        }
    }

    fn clamp(&self, x: i64) -> u32 {
        x.clamp(0, 2 * self.span as i64 - 1) as u32
    }

    /// `c2p_pos[i][j]` for `delta = i − j`: the `pos_key` row query i reads for key j.
    pub fn c2p_index(&self, delta: i64) -> u32 {
        self.clamp(self.position(delta) + self.span as i64)
    }

    /// `p2c_pos[j][i]` for `delta = j − i`: the `pos_query` row key j reads for query i.
    pub fn p2c_index(&self, delta: i64) -> u32 {
        self.clamp(self.span as i64 - self.position(delta))
    }

    /// The (c2p, p2c) index tables of a window of `len` tokens, `len × len` row-major: `c2p[i·len + j]`
    /// and `p2c[j·len + i]`, as `transformers` gathers them.
    pub fn tables(&self, len: usize) -> (Vec<u32>, Vec<u32>) {
        let mut c2p = Vec::with_capacity(len * len);
        let mut p2c = Vec::with_capacity(len * len);
        for a in 0..len as i64 {
            for b in 0..len as i64 {
                c2p.push(self.c2p_index(a - b));
                p2c.push(self.p2c_index(a - b));
            }
        }
        (c2p, p2c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `make_log_bucket_position(torch.arange(-70, 71), 8, 64)` from transformers 5.23.
    const BUCKETS_8_64: [i64; 141] = [
        -8, -8, -8, -8, -8, -8, -8, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7,
        -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -7, -6,
        -6, -6, -6, -6, -6, -6, -6, -6, -6, -6, -6, -6, -6, -6, -5, -5, -5, -5, -5, -5, -4, -3, -2,
        -1, 0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7,
        7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8,
    ];

    #[test]
    fn log_buckets_match_transformers() {
        for (i, &want) in BUCKETS_8_64.iter().enumerate() {
            assert_eq!(
                log_bucket(i as i64 - 70, 8, 64),
                want,
                "rel {}",
                i as i64 - 70
            );
        }
        // DeBERTa-v3-base: 256 buckets, 512 positions.
        let rel = [
            -600, -511, -300, -200, -129, -128, -127, -5, 0, 5, 127, 128, 129, 130, 200, 255, 300,
            511, 600,
        ];
        let want = [
            -270, -255, -207, -169, -129, -128, -127, -5, 0, 5, 127, 128, 129, 130, 169, 192, 207,
            255, 270,
        ];
        for (r, w) in rel.iter().zip(want) {
            assert_eq!(log_bucket(*r, 256, 512), w, "rel {r}");
        }
    }

    #[test]
    fn index_tables_clamp_to_the_span() {
        let r = Relative {
            span: 8,
            buckets: 8,
            max_position: 64,
            c2p: true,
            p2c: true,
            share_att_key: true,
        };
        let (c2p, p2c) = r.tables(70);
        assert_eq!(c2p[0], 8);
        assert_eq!(c2p[69], 0, "i − j = −69 buckets to −8");
        assert_eq!(
            c2p[69 * 70],
            15,
            "i − j = 69 buckets to 8, clamped to 2·span − 1"
        );
        assert_eq!(p2c[69], 15);
        assert_eq!(p2c[69 * 70], 0);
    }
}
