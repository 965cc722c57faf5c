//! Model stage, native CPU layers: `Linear` (`y = x·Wᵀ + b`) over packed token rows, in f32
//! through the `gemm` crate (AVX-512 kernels, dispatched at run time) or in int8 through
//! `kernels::int8`.

use super::super::kernels::{
    self,
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
}

impl Linear {
    /// From a row-major `(out, in)` weight matrix, as checkpoints store it.
    pub fn new(w: Vec<f32>, bias: Vec<f32>, n_in: usize, n_out: usize, p: Precision) -> Self {
        assert_eq!(w.len(), n_in * n_out);
        assert_eq!(bias.len(), n_out);
        match p {
            Precision::F32 => Self::F32 {
                wt: transpose(&w, n_out, n_in),
                bias,
                n_in,
                n_out,
            },
            Precision::Int8 => Self::Int8 {
                w: QMatrix::quantize(&w, n_out, n_in),
                bias,
            },
        }
    }

    /// Loads `weight` `(out, in)` and `bias` below `w`.
    pub fn load(w: &Weights, n_in: usize, n_out: usize, p: Precision) -> Result<Self, String> {
        let (wt, b) = raw(w, n_in, n_out)?;
        Ok(Self::new(wt, b, n_in, n_out, p))
    }

    pub fn out_dim(&self) -> usize {
        match self {
            Self::F32 { n_out, .. } => *n_out,
            Self::Int8 { w, .. } => w.rows(),
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
        }
    }
}

/// `(rows, cols)` row-major → `(cols, rows)` row-major, in cache-sized tiles.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const T: usize = 32;
    let mut out = vec![0f32; a.len()];
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            for r in r0..(r0 + T).min(rows) {
                for c in c0..(c0 + T).min(cols) {
                    out[c * rows + r] = a[r * cols + c];
                }
            }
        }
    }
    out
}

/// The row-major `(out, in)` weight and the bias of a linear layer, as f32.
pub fn raw(w: &Weights, n_in: usize, n_out: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
    Ok((w.get(&[n_out, n_in], "weight")?, w.get(&[n_out], "bias")?))
}
