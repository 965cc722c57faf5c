//! Model stage, native CPU layers: LayerNorm, fused with the residual addition before it.

use super::super::kernels;
use super::super::store::Weights;

pub struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    /// Loads `weight`/`bias`, or the `gamma`/`beta` names of checkpoints from old TensorFlow ports.
    pub fn load(w: &Weights, size: usize, eps: f64) -> Result<Self, String> {
        Self::load_with_bias(w, size, eps, true)
    }

    /// [`load`](Self::load) of a LayerNorm that has a bias only when `bias` says so
    /// (ModernBERT's `norm_bias`); without one the bias is zero.
    pub fn load_with_bias(w: &Weights, size: usize, eps: f64, bias: bool) -> Result<Self, String> {
        let (g, b) = if w.contains("weight") || !w.contains("gamma") {
            ("weight", "bias")
        } else {
            ("gamma", "beta")
        };
        Ok(Self {
            gamma: w.get(&[size], g)?,
            beta: match bias {
                true => w.get(&[size], b)?,
                false => vec![0.0; size],
            },
            eps: eps as f32,
        })
    }

    /// `x ← LayerNorm(x)`, row by row.
    pub fn forward(&self, x: &mut [f32]) {
        kernels::add_layer_norm(x, &[], &self.gamma, &self.beta, self.eps);
    }

    /// `x ← LayerNorm(x + residual)`, row by row.
    pub fn forward_residual(&self, x: &mut [f32], residual: &[f32]) {
        kernels::add_layer_norm(x, residual, &self.gamma, &self.beta, self.eps);
    }
}
