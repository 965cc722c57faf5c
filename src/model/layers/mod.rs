//! Model stage: the layers of the encoder block BERT, DistilBERT and XLM-R share — the native CPU
//! layers (`linear`, `norm`, `attention`, `block`, on plain row-major f32 buffers of unpadded,
//! packed tokens) and the candle block (`candle`) that CUDA runs.

pub mod attention;
pub mod block;
pub mod candle;
pub mod candle_modernbert;
pub mod disentangled;
pub mod linear;
pub mod norm;
pub mod prenorm;
pub mod relative;
pub mod rope_attention;
pub mod rotary;

/// Weight names of one encoder block, relative to the block's prefix.
pub struct BlockNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attn_out: &'static str,
    pub attn_norm: &'static str,
    pub ffn_in: &'static str,
    pub ffn_out: &'static str,
    pub out_norm: &'static str,
}

/// Dimensions and options every block needs.
#[derive(Debug, Clone)]
pub struct BlockConfig {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub eps: f64,
    pub act: Activation,
    /// DeBERTa's attention (relative-position terms, its own scale); `None`: plain attention.
    pub disentangled: Option<relative::Disentangled>,
}

impl BlockConfig {
    /// The block shape `config.json` describes; fails on an activation neither backend has.
    pub fn from_model(cfg: &super::ModelConfig) -> Result<Self, String> {
        let act = Activation::from_name(&cfg.hidden_act)
            .ok_or_else(|| format!("unsupported activation \"{}\"", cfg.hidden_act))?;
        Ok(Self {
            hidden: cfg.hidden_size,
            heads: cfg.num_heads,
            intermediate: cfg.intermediate_size,
            eps: cfg.layer_norm_eps,
            act,
            disentangled: cfg.deberta.as_ref().map(|o| o.disentangled()),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Hugging Face "gelu": the exact erf form (candle's `gelu` is the tanh approximation).
    GeluErf,
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            "silu" | "swish" => Some(Self::Silu),
            _ => None,
        }
    }
}

impl Activation {
    /// Applies the activation in place on the native path.
    pub fn apply_in_place(self, x: &mut [f32]) {
        use super::kernels;
        match self {
            Self::GeluErf => kernels::gelu_erf(x),
            Self::GeluTanh => kernels::gelu_tanh(x),
            Self::Relu => kernels::relu(x),
            Self::Silu => kernels::silu(x),
        }
    }
}
