//! Model stage: a token-classification encoder (embeddings → blocks → `classifier`), loaded for the
//! backend the [`Runtime`](crate::runtime::Runtime) chose.
//!
//! candle-transformers has no token-classification heads, so the architectures are owned here:
//! `bert`, `distilbert`, `xlm_roberta`, `electra` describe each; `native` runs them on our CPU kernels
//! (`kernels`, `layers`), `candle_backend` on candle tensors (CUDA, and the CPU reference).

pub mod bert;
pub mod bundled;
pub mod candle_backend;
pub mod config;
pub mod deberta_v2;
pub mod distilbert;
pub mod electra;
pub mod kernels;
// Crate-private: the layers read through raw pointers on offsets their callers inside the crate
// guarantee (see each `// SAFETY:`); they are not an API for other crates.
pub(crate) mod layers;
pub mod modernbert;
pub mod native;
pub mod store;
pub mod weights;
pub mod xlm_roberta;

use std::path::Path;

pub use bundled::Checkpoint;
pub use config::{Architecture, ModelConfig, SUPPORTED_MODEL_TYPES};
use layers::linear::Precision;
pub use weights::WeightFiles;

use crate::error::{Error, Result};
use crate::runtime::{Backend, Quantize, Runtime};
use candle_core::DType;

enum Encoder {
    Native(native::NativeEncoder),
    Candle(candle_backend::CandleEncoder),
}

/// `*ForTokenClassification`: encoder plus the linear `classifier` over the last hidden state.
pub struct TokenClassifier {
    cfg: ModelConfig,
    encoder: Encoder,
}

impl TokenClassifier {
    /// Loads `config.json` and the weights of `dir`, computing in `rt.dtype` (or int8, as `rt`
    /// says) whatever the stored dtype.
    pub fn load(dir: &Path, rt: &Runtime) -> Result<Self> {
        let cfg = ModelConfig::from_file(&dir.join("config.json"))?;
        Self::load_weights(cfg, WeightFiles::find(dir)?, rt)
    }

    /// Loads a directory or the built-in model.
    pub fn load_checkpoint(ckpt: &Checkpoint, rt: &Runtime) -> Result<Self> {
        match ckpt {
            Checkpoint::Dir(dir) => Self::load(dir, rt),
            Checkpoint::BuiltIn => {
                let b = bundled::bundled()?;
                let name = format!("{}/config.json", bundled::BUILT_IN);
                let cfg = ModelConfig::from_str(&name, b.config)?;
                Self::load_weights(cfg, WeightFiles::Static(b.weights), rt)
            }
        }
    }

    fn load_weights(cfg: ModelConfig, files: WeightFiles, rt: &Runtime) -> Result<Self> {
        let bad = |e: String| {
            Error::model_file(
                files.display_path(),
                format!("weights do not fit config.json: {e}"),
            )
        };
        let encoder = match rt.backend {
            Backend::Candle => {
                let vb = files.var_builder(rt.dtype, &rt.device)?;
                Encoder::Candle(
                    candle_backend::CandleEncoder::from_var_builder(cfg.clone(), vb, &rt.device)
                        .map_err(|e| bad(crate::error::first_line(&e)))?,
                )
            }
            Backend::Native => {
                if rt.dtype == DType::BF16 && rt.quantize == Quantize::None && !kernels::bf16_fast()
                {
                    return Err(Error::Usage(format!(
                        "--dtype bf16 on the CPU needs AVX512-BF16 (Intel Cooper Lake, Sapphire Rapids and later; \
                         AMD Zen 4 and later), and this CPU has no bf16 kernel ({}): use f32 (the default) or --quantize int8",
                        kernels::describe()
                    )));
                }
                let p = match (rt.quantize, rt.dtype) {
                    (Quantize::Int8, _) => Precision::Int8,
                    (Quantize::None, DType::BF16) => Precision::Bf16,
                    (Quantize::None, _) => Precision::F32,
                };
                let store = store::open(&files)?;
                Encoder::Native(native::NativeEncoder::load(&cfg, &store, p).map_err(bad)?)
            }
        };
        Ok(Self { cfg, encoder })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Logits of each window, `(len × labels)` row-major f32, in window order.
    pub fn forward(&self, windows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let failed = |msg: String| Error::Model {
            model: "forward pass".into(),
            msg,
        };
        match &self.encoder {
            Encoder::Native(e) => e.forward(windows).map_err(failed),
            Encoder::Candle(e) => e
                .forward_windows(windows)
                .map_err(|e| failed(crate::error::first_line(&e))),
        }
    }
}

impl TokenClassifier {
    /// Logits of several batches (each a list of windows), in order. On a GPU every batch is
    /// queued before any is read back (see `CandleEncoder::forward_batches`); the native
    /// backend runs them one by one.
    pub fn forward_batches(&self, batches: &[Vec<&[u32]>]) -> Result<Vec<Vec<Vec<f32>>>> {
        match &self.encoder {
            Encoder::Native(_) => batches.iter().map(|b| self.forward(b)).collect(),
            Encoder::Candle(e) => e.forward_batches(batches).map_err(|e| Error::Model {
                model: "forward pass".into(),
                msg: crate::error::first_line(&e),
            }),
        }
    }
}

/// The prefix the encoder's weights sit under (`bert`, `distilbert`, `roberta`, `electra`, `deberta`,
/// `model`), or `None` for
/// exports that drop it: both layouts are accepted. `contains` asks whether a tensor exists.
pub(crate) fn encoder_prefix(
    cfg: &ModelConfig,
    contains: impl Fn(&str) -> bool,
) -> Option<&'static str> {
    let prefix = cfg.arch.weight_prefix();
    contains(&format!("{prefix}.{}", cfg.arch.word_embeddings())).then_some(prefix)
}
