//! Model stage, native CPU layers: `Linear` (`y = x·Wᵀ + b`) over packed token rows, in f32
//! through the `gemm` crate (AVX-512 kernels, dispatched at run time), in int8 through
//! `kernels::int8` or in bf16 through `kernels::bf16`.

use super::super::kernels::{
    self,
    bf16::BMatrix,
    int8::{Post, QMatrix},
};
use super::super::store::Weights;
use super::Activation;

/// Precision of a layer's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Per-channel int8 weights, per-row int8 activations, i32 accumulation.
    Int8,
    /// bf16 weights and activations, f32 accumulation.
    Bf16,
}

pub enum Linear {
    F32 {
        /// `Wᵀ`, row-major `(in, out)`: packs fastest for the matrix product (the checkpoint's
        /// `(out, in)` layout costs 5% more time in packing).
        wt: Vec<f32>,
        bias: Vec<f32>,
        n_in: usize,
        n_out: usize,
    },
    Int8 {
        w: QMatrix,
        bias: Vec<f32>,
    },
    Bf16 {
        w: BMatrix,
        bias: Vec<f32>,
    },
}

impl Linear {
    /// Loads `weight` `(out, in)` and `bias` below `w`.
    pub fn load(w: &Weights, n_in: usize, n_out: usize, p: Precision) -> Result<Self, String> {
        Self::load_fused(&[w], n_in, n_out, p)
    }

    /// Loads several linear layers of the same input as one, their outputs side by side (the
    /// query, key and value projections), each `(n_out, in)`.
    pub fn load_fused(
        parts: &[&Weights],
        n_in: usize,
        n_out: usize,
        p: Precision,
    ) -> Result<Self, String> {
        Self::load_parts(parts, n_in, n_out, p, true)
    }

    /// [`load`](Self::load) of a layer that has a `bias` only when `bias` says so (ModernBERT's
    /// `attention_bias`, `mlp_bias`, `classifier_bias`); without one it adds zeros.
    pub fn load_with_bias(
        w: &Weights,
        n_in: usize,
        n_out: usize,
        p: Precision,
        bias: bool,
    ) -> Result<Self, String> {
        Self::load_parts(&[w], n_in, n_out, p, bias)
    }

    fn load_parts(
        parts: &[&Weights],
        n_in: usize,
        n_out: usize,
        p: Precision,
        has_bias: bool,
    ) -> Result<Self, String> {
        let total = n_out * parts.len();
        let mut bias = Vec::with_capacity(total);
        for w in parts {
            match has_bias {
                true => bias.extend(w.get(&[n_out], "bias")?),
                false => bias.resize(bias.len() + n_out, 0.0),
            }
        }
        SCRATCH.with_borrow_mut(|buf| match p {
            Precision::F32 => {
                let mut wt = Vec::new();
                wt.resize(n_in * total, 0.0);
                for (i, w) in parts.iter().enumerate() {
                    w.get_into(&[n_out, n_in], "weight", buf)?;
                    transpose_into(buf, n_out, n_in, &mut wt, total, i * n_out);
                }
                Ok(Self::F32 {
                    wt,
                    bias,
                    n_in,
                    n_out: total,
                })
            }
            Precision::Int8 | Precision::Bf16 => {
                let mut all = Vec::with_capacity(n_in * total);
                for w in parts {
                    w.get_into(&[n_out, n_in], "weight", buf)?;
                    all.extend_from_slice(buf);
                }
                Ok(match p {
                    Precision::Bf16 => Self::Bf16 {
                        w: BMatrix::pack(&all, total, n_in),
                        bias,
                    },
                    _ => Self::Int8 {
                        w: QMatrix::quantize(&all, total, n_in),
                        bias,
                    },
                })
            }
        })
    }

    pub fn out_dim(&self) -> usize {
        match self {
            Self::F32 { n_out, .. } => *n_out,
            Self::Int8 { w, .. } => w.rows(),
            Self::Bf16 { w, .. } => w.rows(),
        }
    }

    /// `out (m, out) = act(x (m, in) · Wᵀ + b)`: the int8 path applies GELU in its epilogue.
    pub fn forward_act(&self, x: &[f32], m: usize, out: &mut [f32], act: Activation) {
        match (self, act) {
            (Self::Int8 { w, bias }, Activation::GeluErf) => {
                kernels::int8::matmul(x, m, w, bias, out, Post::GeluErf)
            }
            _ => {
                self.forward(x, m, out);
                act.apply_in_place(&mut out[..m * self.out_dim()]);
            }
        }
    }

    /// `out (m, out) = x (m, in) · Wᵀ + b`.
    pub fn forward(&self, x: &[f32], m: usize, out: &mut [f32]) {
        match self {
            Self::F32 {
                wt,
                bias,
                n_in,
                n_out,
            } => {
                let (k, n) = (*n_in, *n_out);
                assert!(x.len() >= m * k && out.len() >= m * n);
                kernels::fill_rows(&mut out[..m * n], bias);
                if m == 0 {
                    return;
                }
                // SAFETY: the slices hold (m, k), (k, n) and (m, n) row-major matrices, as the
                // strides below say; dst does not alias the inputs.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        out.as_mut_ptr(),
                        1,
                        n as isize,
                        true,
                        x.as_ptr(),
                        1,
                        k as isize,
                        wt.as_ptr(),
                        1,
                        n as isize,
                        1.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            }
            Self::Int8 { w, bias } => kernels::int8::matmul(x, m, w, bias, out, Post::None),
            Self::Bf16 { w, bias } => kernels::bf16::matmul(x, m, w, bias, out),
        }
    }
}

thread_local! {
    /// One weight matrix as read from the checkpoint, reused while loading.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = Default::default();
}

/// Writes `a` `(rows, cols)` transposed into `dst`, whose rows are `stride` long, from column
/// `offset` on: `dst[c][offset + r] = a[r][c]`, in cache-sized tiles.
fn transpose_into(
    a: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    stride: usize,
    offset: usize,
) {
    const T: usize = 32;
    assert!(a.len() >= rows * cols && offset + rows <= stride && dst.len() >= cols * stride);
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            for c in c0..(c0 + T).min(cols) {
                let d = &mut dst[c * stride + offset..];
                for r in r0..(r0 + T).min(rows) {
                    d[r] = a[r * cols + c];
                }
            }
        }
    }
}
