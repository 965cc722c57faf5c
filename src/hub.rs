//! Input stage (model side): turns `--model` — a directory, a catalog alias or a hub id — into a
//! local checkpoint directory, downloading through `hf-hub` into the Python-compatible cache.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::weights::{PYTORCH_BIN, SAFETENSORS, SAFETENSORS_INDEX};
use crate::model::Checkpoint;

const CATALOG: &str = include_str!("../models/catalog.json");

#[derive(Debug, Deserialize)]
pub struct CatalogEntry {
    pub alias: String,
    pub hub_id: String,
    pub model_type: String,
    pub types: Vec<String>,
    pub dataset: String,
    pub reported_f1: Option<f64>,
}

#[derive(Deserialize)]
struct Catalog {
    models: Vec<CatalogEntry>,
}

/// The known checkpoints of `models/catalog.json`.
pub fn catalog() -> Vec<CatalogEntry> {
    serde_json::from_str::<Catalog>(CATALOG)
        .map(|c| c.models)
        .unwrap_or_default()
}

/// Where the model comes from, after aliases are expanded.
pub enum ModelSource {
    Dir(PathBuf),
    /// The model built into the binary (`--model default`).
    BuiltIn,
    Hub {
        id: String,
        revision: Option<String>,
    },
}

impl ModelSource {
    /// A short name of the model for outputs (Label Studio's `model_version`): the hub id (with
    /// `@revision`), the directory's name, or the built-in model's name.
    pub fn name(&self) -> String {
        match self {
            Self::Dir(d) => d
                .canonicalize()
                .unwrap_or_else(|_| d.clone())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| d.display().to_string()),
            Self::BuiltIn => crate::model::bundled::BUILT_IN.to_string(),
            Self::Hub { id, revision } => match revision {
                Some(r) => format!("{id}@{r}"),
                None => id.clone(),
            },
        }
    }

    pub fn parse(spec: &str, revision: Option<String>) -> Result<Self> {
        if spec == "default" {
            crate::model::bundled::bundled()?;
            return Ok(Self::BuiltIn);
        }
        let path = Path::new(spec);
        if path.is_dir() {
            return Ok(Self::Dir(path.to_path_buf()));
        }
        if let Some(entry) = catalog().into_iter().find(|e| e.alias == spec) {
            return Ok(Self::Hub {
                id: entry.hub_id,
                revision,
            });
        }
        if path.exists() {
            return Err(Error::Usage(format!("--model {spec}: not a directory")));
        }
        // A hub id is exactly `owner/name`; anything else was meant as a path.
        let looks_like_path = spec.starts_with(['.', '/', '~']) || spec.matches('/').count() != 1;
        if looks_like_path {
            return Err(Error::Usage(format!(
                "--model {spec}: no such directory, and not a hub id (owner/name) or a catalog alias (see --list-models)"
            )));
        }
        Ok(Self::Hub {
            id: spec.to_string(),
            revision,
        })
    }

    /// The checkpoint to load: a local directory (downloading what is missing from the hub), or
    /// the built-in model.
    pub fn resolve(&self) -> Result<Checkpoint> {
        match self {
            Self::Dir(d) => Ok(Checkpoint::Dir(d.clone())),
            Self::BuiltIn => Ok(Checkpoint::BuiltIn),
            Self::Hub { id, revision } => download(id, revision.as_deref()).map(Checkpoint::Dir),
        }
    }
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Fetches the files a checkpoint needs into the hub cache and returns their snapshot directory.
fn download(id: &str, revision: Option<&str>) -> Result<PathBuf> {
    let (owner, name) = id
        .split_once('/')
        .ok_or_else(|| Error::Usage(format!("hub id {id} is not owner/name")))?;
    let local_only = offline();
    let client = hf_hub::HFClientSync::new()
        .map_err(|e| hub_error(id, "cannot start the hub client", &e.to_string()))?;
    let repo = client.model(owner, name);
    let fetch = |file: &str, cache_only: bool| -> std::result::Result<PathBuf, hf_hub::HFError> {
        repo.download_file()
            .filename(file)
            .maybe_revision(revision.map(str::to_string))
            .local_files_only(local_only || cache_only)
            .send()
    };
    let required = |file: &str| fetch(file, false).map_err(|e| explain(id, file, local_only, &e));
    // A file the repo may lack. When the hub cannot be reached, hf-hub falls back to the cache for
    // files it has, but reports the network error for files it knows the repo lacks: ask the
    // cache again so those read as absent, as they would online.
    let optional = |file: &str| -> Result<Option<PathBuf>> {
        match fetch(file, false) {
            Ok(p) => Ok(Some(p)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => match fetch(file, true) {
                Ok(p) => Ok(Some(p)),
                Err(hf_hub::HFError::EntryNotFound { .. }) => Ok(None),
                Err(_) => Err(explain(id, file, local_only, &e)),
            },
        }
    };
    let config = required("config.json")?;
    let dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
    for f in ["tokenizer_config.json", "special_tokens_map.json"] {
        optional(f)?;
    }
    if optional("tokenizer.json")?.is_none() && optional("vocab.txt")?.is_none() {
        return Err(hub_error(
            id,
            "has no tokenizer",
            "neither tokenizer.json nor vocab.txt",
        ));
    }
    if optional(SAFETENSORS)?.is_none() {
        if let Some(index) = optional(SAFETENSORS_INDEX)? {
            for shard in crate::model::weights::shard_names(&index)? {
                required(&shard)?;
            }
        } else if optional(PYTORCH_BIN)?.is_none() {
            return Err(hub_error(
                id,
                "has no weights",
                &format!("none of {SAFETENSORS}, {SAFETENSORS_INDEX}, {PYTORCH_BIN}"),
            ));
        }
    }
    Ok(dir)
}

fn is_missing(e: &hf_hub::HFError) -> bool {
    matches!(
        e,
        hf_hub::HFError::EntryNotFound { .. } | hf_hub::HFError::LocalEntryNotFound { .. }
    )
}

fn explain(id: &str, file: &str, local_only: bool, e: &hf_hub::HFError) -> Error {
    let hint = if local_only || matches!(e, hf_hub::HFError::LocalEntryNotFound { .. }) {
        "not in the local hub cache (HF_HUB_OFFLINE is set or the hub is unreachable); download it once, or pass --model DIR".to_string()
    } else {
        format!("{e}; with no network, pass a local checkpoint with --model DIR")
    };
    hub_error(id, &format!("cannot get {file}"), &hint)
}

fn hub_error(id: &str, what: &str, why: &str) -> Error {
    Error::Model {
        model: id.to_string(),
        msg: format!("{what}: {why}"),
    }
}
