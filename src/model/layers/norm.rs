//! Model stage, native CPU layers: LayerNorm, fused with the residual addition before it.

use candle_core::Result;
use candle_nn::VarBuilder;

use super::super::kernels;

pub struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    /// Loads `weight`/`bias`, or the `gamma`/`beta` names of checkpoints from old TensorFlow ports.
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let n = super::candle::layer_norm(vb, size, eps)?;
        Ok(Self {
            gamma: n.weight().to_vec1()?,
            beta: n.bias().map_or_else(|| Ok(vec![0.0; size]), |b| b.to_vec1())?,
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
