//! Model stage, native CPU layers: rotary position embeddings (RoPE), the non-interleaved
//! `rotate_half` form ModernBERT uses, applied in place to the query and key columns of fused
//! QKV rows.
//!
//! Mirrors `ModernBertRotaryEmbedding` and `apply_rotary_pos_emb` of
//! <https://github.com/huggingface/transformers/blob/main/src/transformers/models/modernbert/modeling_modernbert.py>:
//! `inv_freq[i] = 1 / θ^(2i/d)` and the angle `position · inv_freq[i]` are f32 products as
//! torch computes them; for `i < d/2`, `x'[i] = x[i]·cos − x[i+d/2]·sin` and
//! `x'[i+d/2] = x[i+d/2]·cos + x[i]·sin`.

/// The cos/sin tables of one θ, precomputed for the positions a window is expected to reach;
/// later positions are computed when met.
#[derive(Debug, Clone)]
pub struct Rope {
    head_dim: usize,
    inv_freq: Vec<f32>,
    rows: usize,
    /// `rows × head_dim/2` each.
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    pub fn new(head_dim: usize, theta: f64, rows: usize) -> Self {
        assert!(head_dim.is_multiple_of(2), "RoPE needs an even head size");
        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                // torch: `base ** (arange(0, d, 2).float() / d)` in f32, then `1.0 / ·`.
                let e = (2 * i) as f32 / head_dim as f32;
                1.0f32 / theta.powf(f64::from(e)) as f32
            })
            .collect();
        let mut rope = Self {
            head_dim,
            inv_freq,
            rows,
            cos: Vec::with_capacity(rows * half),
            sin: Vec::with_capacity(rows * half),
        };
        for pos in 0..rows {
            for i in 0..half {
                let (c, s) = rope.angle(pos, i);
                rope.cos.push(c);
                rope.sin.push(s);
            }
        }
        rope
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// `(cos, sin)` of `position · inv_freq[i]`.
    fn angle(&self, pos: usize, i: usize) -> (f32, f32) {
        let a = f64::from(pos as f32 * self.inv_freq[i]);
        (a.cos() as f32, a.sin() as f32)
    }

    /// The `(positions × head_dim/2)` cos and sin tables of positions `0..len`, f32 row-major:
    /// what the candle backend uploads.
    pub fn tables(&self, len: usize) -> (Vec<f32>, Vec<f32>) {
        let half = self.head_dim / 2;
        let (mut cos, mut sin) = (
            Vec::with_capacity(len * half),
            Vec::with_capacity(len * half),
        );
        for pos in 0..len {
            for i in 0..half {
                let (c, s) = self.at(pos, i);
                cos.push(c);
                sin.push(s);
            }
        }
        (cos, sin)
    }

    fn at(&self, pos: usize, i: usize) -> (f32, f32) {
        let half = self.head_dim / 2;
        match pos < self.rows {
            true => (self.cos[pos * half + i], self.sin[pos * half + i]),
            false => self.angle(pos, i),
        }
    }

    /// Rotates, in each of `len` rows of `x` (row stride `stride`, row `r` at position `r`), the
    /// head vectors that start at the column offsets `heads`.
    pub fn apply(&self, x: &mut [f32], len: usize, stride: usize, heads: &[usize]) {
        let half = self.head_dim / 2;
        assert!(heads.iter().all(|&o| o + self.head_dim <= stride) && x.len() >= len * stride);
        for pos in 0..len {
            let row = &mut x[pos * stride..(pos + 1) * stride];
            let (cos, sin) = match pos < self.rows {
                true => (
                    &self.cos[pos * half..(pos + 1) * half],
                    &self.sin[pos * half..(pos + 1) * half],
                ),
                false => return self.apply_slow(x, pos, len, stride, heads),
            };
            for &o in heads {
                let (lo, hi) = row[o..o + self.head_dim].split_at_mut(half);
                for i in 0..half {
                    let (a, b) = (lo[i], hi[i]);
                    lo[i] = a * cos[i] - b * sin[i];
                    hi[i] = b * cos[i] + a * sin[i];
                }
            }
        }
    }

    /// [`apply`](Self::apply) from row `from` on, for positions past the tables.
    fn apply_slow(&self, x: &mut [f32], from: usize, len: usize, stride: usize, heads: &[usize]) {
        let half = self.head_dim / 2;
        for pos in from..len {
            for &o in heads {
                let at = pos * stride + o;
                for i in 0..half {
                    let (c, s) = self.angle(pos, i);
                    let (a, b) = (x[at + i], x[at + half + i]);
                    x[at + i] = a * c - b * s;
                    x[at + half + i] = b * c + a * s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x·cos + rotate_half(x)·sin` in f64, straight from the Python definition.
    fn reference(x: &[f32], pos: usize, theta: f64) -> Vec<f64> {
        let d = x.len();
        let angle = |i: usize| pos as f64 / theta.powf((2 * (i % (d / 2))) as f64 / d as f64);
        let rotated: Vec<f64> = (0..d)
            .map(|i| match i < d / 2 {
                true => -f64::from(x[i + d / 2]),
                false => f64::from(x[i - d / 2]),
            })
            .collect();
        (0..d)
            .map(|i| f64::from(x[i]) * angle(i).cos() + rotated[i] * angle(i).sin())
            .collect()
    }

    #[test]
    fn rotation_matches_the_python_definition_inside_and_past_the_tables() {
        let (d, heads, len) = (16, 3, 41);
        let stride = heads * d + 5;
        let x: Vec<f32> = (0..len * stride)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        for theta in [10_000.0, 160_000.0] {
            // Tables for 20 positions: rows 20.. take the slow path.
            let rope = Rope::new(d, theta, 20);
            let mut y = x.clone();
            let offsets: Vec<usize> = (0..heads).map(|h| 2 + h * d).collect();
            rope.apply(&mut y, len, stride, &offsets);
            for pos in 0..len {
                for (c, v) in y[pos * stride..(pos + 1) * stride].iter().enumerate() {
                    let head = offsets.iter().find(|&&o| (o..o + d).contains(&c));
                    let want = match head {
                        Some(&o) => {
                            reference(&x[pos * stride + o..pos * stride + o + d], pos, theta)[c - o]
                        }
                        None => f64::from(x[pos * stride + c]),
                    };
                    // f32 angles as torch computes them: ~1 ulp of the position in radians.
                    let tol = 1e-5 + 4e-7 * pos as f64;
                    assert!(
                        (f64::from(*v) - want).abs() <= tol,
                        "{pos} {c}: {v} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn tables_equal_what_apply_uses() {
        let rope = Rope::new(8, 10_000.0, 4);
        let (cos, sin) = rope.tables(7);
        assert_eq!(cos.len(), 7 * 4);
        for pos in 0..7 {
            for i in 0..4 {
                assert_eq!((cos[pos * 4 + i], sin[pos * 4 + i]), rope.at(pos, i));
            }
        }
        // Position 0 is the identity.
        assert!(cos[..4].iter().all(|&c| c == 1.0) && sin[..4].iter().all(|&s| s == 0.0));
    }
}
