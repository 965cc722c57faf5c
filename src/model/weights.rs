//! Model stage: finds and opens the weight files (safetensors, sharded safetensors, restricted pickle).
//!
//! Weights are data, never code: safetensors are memory-mapped, and `pytorch_model.bin` goes through
//! candle's pickle reader, which only rebuilds tensors and refuses arbitrary callables.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::error::{Error, Result};

mod header;
mod pickle;

use header::{check_header, check_safetensors_header};
pub use header::{read_header, TensorSpec};
use pickle::check_pickle;

pub const SAFETENSORS: &str = "model.safetensors";
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
pub const PYTORCH_BIN: &str = "pytorch_model.bin";

/// The weight files of a checkpoint, in the order of preference Hugging Face uses.
#[derive(Debug, Clone)]
pub enum WeightFiles {
    Safetensors(Vec<PathBuf>),
    Pickle(PathBuf),
    /// A safetensors file compiled into the binary (the built-in model).
    Static(&'static [u8]),
}

/// How error messages name the built-in model's weights.
pub const BUILT_IN_WEIGHTS: &str = "<built-in model>/model.safetensors";

impl WeightFiles {
    pub fn find(dir: &Path) -> Result<Self> {
        let single = dir.join(SAFETENSORS);
        if single.is_file() {
            return Ok(Self::Safetensors(vec![single]));
        }
        let index = dir.join(SAFETENSORS_INDEX);
        if index.is_file() {
            return Ok(Self::Safetensors(shards_from_index(&index)?));
        }
        let bin = dir.join(PYTORCH_BIN);
        if bin.is_file() {
            return Ok(Self::Pickle(bin));
        }
        Err(Error::model_file(
            dir,
            format!("no weights: expected {SAFETENSORS}, {SAFETENSORS_INDEX} or {PYTORCH_BIN}"),
        ))
    }

    /// The file named in error messages about these weights.
    pub fn display_path(&self) -> &Path {
        match self {
            Self::Safetensors(p) => &p[0],
            Self::Pickle(p) => p,
            Self::Static(_) => Path::new(BUILT_IN_WEIGHTS),
        }
    }

    /// Checks that safetensors files are complete (header and data sizes).
    pub fn check(&self) -> Result<()> {
        match self {
            Self::Safetensors(paths) => {
                for p in paths {
                    check_safetensors_header(p)?;
                }
            }
            Self::Static(bytes) => check_header(
                Path::new(BUILT_IN_WEIGHTS),
                &mut std::io::Cursor::new(bytes),
                bytes.len() as u64,
            )?,
            Self::Pickle(p) => check_pickle(p)?,
        }
        Ok(())
    }

    /// Opens the weights; whatever their stored dtype, tensors come out as `dtype`.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        match self {
            Self::Safetensors(paths) => {
                for p in paths {
                    check_safetensors_header(p)?;
                }
                // SAFETY: the files are mapped read-only; like every mmap user we rely on nobody
                // truncating them while ner-tag runs, which the header check above cannot rule out.
                unsafe { VarBuilder::from_mmaped_safetensors(paths, dtype, device) }.map_err(|e| {
                    Error::model_file(
                        &paths[0],
                        format!("cannot read safetensors: {}", crate::error::first_line(&e)),
                    )
                })
            }
            Self::Static(bytes) => {
                self.check()?;
                VarBuilder::from_slice_safetensors(bytes, dtype, device).map_err(|e| {
                    Error::model_file(
                        BUILT_IN_WEIGHTS,
                        format!("cannot read safetensors: {}", crate::error::first_line(&e)),
                    )
                })
            }
            Self::Pickle(p) => {
                check_pickle(p)?;
                VarBuilder::from_pth(p, dtype, device).map_err(|e| {
                    Error::model_file(
                        p,
                        format!(
                            "cannot read PyTorch weights: {}",
                            crate::error::first_line(&e)
                        ),
                    )
                })
            }
        }
    }
}

fn shards_from_index(index: &Path) -> Result<Vec<PathBuf>> {
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut shards = Vec::new();
    for name in shard_names(index)? {
        let p = dir.join(&name);
        if !p.is_file() {
            return Err(Error::model_file(index, format!("shard {name} is missing")));
        }
        shards.push(p);
    }
    Ok(shards)
}

/// The shard files a `model.safetensors.index.json` names, each once, checked to stay in its directory.
pub fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::model_file(index, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::model_file(index, format!("not valid JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::model_file(index, "no \"weight_map\" object"))?;
    let names: BTreeSet<&str> = map.values().filter_map(|f| f.as_str()).collect();
    if names.is_empty() {
        return Err(Error::model_file(index, "weight_map names no shard"));
    }
    if let Some(bad) = names
        .iter()
        .find(|n| n.contains('/') || n.contains('\\') || n.contains(".."))
    {
        return Err(Error::model_file(
            index,
            format!("shard name \"{bad}\" leaves the model directory"),
        ));
    }
    Ok(names.into_iter().map(str::to_string).collect())
}
