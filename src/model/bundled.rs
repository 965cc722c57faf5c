//! Model stage: the checkpoint compiled into the binary — `models/bert-minilm-conll03` (f16
//! weights, read in place from the executable's memory, no files written) — behind the default-on
//! `bundled-model` cargo feature, and the [`Checkpoint`] type naming what to load.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The files of the built-in checkpoint.
pub struct Bundled {
    pub config: &'static str,
    pub tokenizer: &'static [u8],
    pub tokenizer_config: &'static str,
    pub weights: &'static [u8],
}

#[cfg(feature = "bundled-model")]
const BUNDLED: Option<Bundled> = Some(Bundled {
    config: include_str!("../../models/bert-minilm-conll03/config.json"),
    tokenizer: include_bytes!("../../models/bert-minilm-conll03/tokenizer.json"),
    tokenizer_config: include_str!("../../models/bert-minilm-conll03/tokenizer_config.json"),
    weights: include_bytes!("../../models/bert-minilm-conll03/model.safetensors"),
});

#[cfg(not(feature = "bundled-model"))]
const BUNDLED: Option<Bundled> = None;

/// How messages name the built-in model.
pub const BUILT_IN: &str = "<built-in model>";

/// The built-in checkpoint, or a usage error when this binary was built without it.
pub fn bundled() -> Result<&'static Bundled> {
    static B: Option<Bundled> = BUNDLED;
    B.as_ref().ok_or_else(|| {
        Error::Usage(
            "--model default: this ner-tag was built without its built-in model (cargo feature \
             `bundled-model`); pass --model DIR or a hub id"
                .into(),
        )
    })
}

/// Whether this binary carries the built-in model.
pub fn has_bundled() -> bool {
    BUNDLED.is_some()
}

/// A checkpoint to load: a local directory, or the model built into the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    Dir(PathBuf),
    BuiltIn,
}

impl Checkpoint {
    /// How messages name the checkpoint.
    pub fn display(&self) -> PathBuf {
        match self {
            Checkpoint::Dir(d) => d.clone(),
            Checkpoint::BuiltIn => PathBuf::from(BUILT_IN),
        }
    }
}
