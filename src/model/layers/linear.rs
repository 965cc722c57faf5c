//! Model stage, native CPU layers: `Linear` (`y = x·Wᵀ + b`) over packed token rows, in f32
//! through the `gemm` crate (AVX-512 kernels, dispatched at run time) or in int8 through
//! `kernels::int8`.

use candle_core::Result;
use candle_nn::VarBuilder;

use super::super::kernels::{self, int8::QMatrix};

/// Precision of a layer's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Per-channel int8 weights, per-row int8 activations, i32 accumulation.
    Int8,
}

pub enum Linear {
    F32 {
        /// `Wᵀ`, row-major `(in, out)`: the layout the matrix product reads fastest.
        wt: Vec<f32>,
        bias: Vec<f32>,
        n_in: usize,
        n_out: usize,
    },
    Int8 { w: QMatrix, bias: Vec<f32> },
}

impl Linear {
    /// From a row-major `(out, in)` weight matrix, as checkpoints store it.
    pub fn new(w: &[f32], bias: Vec<f32>, n_in: usize, n_out: usize, p: Precision) -> Self {
        assert_eq!(w.len(), n_in * n_out);
        assert_eq!(bias.len(), n_out);
        match p {
            Precision::F32 => {
                let mut wt = vec![0f32; n_in * n_out];
                for o in 0..n_out {
                    for i in 0..n_in {
                        wt[i * n_out + o] = w[o * n_in + i];
                    }
                }
                Self::F32 {
                    wt,
                    bias,
                    n_in,
                    n_out,
                }
            }
            Precision::Int8 => Self::Int8 {
                w: QMatrix::quantize(w, n_out, n_in),
                bias,
            },
        }
    }

    /// Loads `weight` `(out, in)` and `bias` below `vb`.
    pub fn load(vb: VarBuilder, n_in: usize, n_out: usize, p: Precision) -> Result<Self> {
        let (w, b) = raw(vb, n_in, n_out)?;
        Ok(Self::new(&w, b, n_in, n_out, p))
    }

    pub fn out_dim(&self) -> usize {
        match self {
            Self::F32 { n_out, .. } => *n_out,
            Self::Int8 { w, .. } => w.rows(),
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
            Self::Int8 { w, bias } => kernels::int8::matmul(x, m, w, bias, out),
        }
    }
}

/// The row-major `(out, in)` weight and the bias of a linear layer, as f32.
pub fn raw(vb: VarBuilder, n_in: usize, n_out: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let l = super::candle::linear(vb, n_in, n_out)?;
    let w = l.weight().flatten_all()?.to_vec1()?;
    let b = l.bias().expect("candle::linear loads a bias").to_vec1()?;
    Ok((w, b))
}
