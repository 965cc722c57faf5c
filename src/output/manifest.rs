//! Output stage, run manifest: a small JSON file beside what `-o`/`--output-dir` writes — for
//! `-o out.jsonl` the hidden `.out.jsonl.ner-tag.json` next to it, for `--output-dir D`
//! `D/.ner-tag.json` (hidden, so `-r D` does not read it) — naming the model and every option
//! that shapes the output bytes. `--resume` continues an output only when the manifest of the
//! run that wrote it matches this run's; otherwise it stops in one line naming the first
//! difference (a different model, strategy, format, shard, filter, precision…), the output
//! untouched. The manifest is locked for the run like the output itself.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::lock;
use crate::error::{Error, Result};

/// The manifest's path for `-o FILE`.
pub fn beside(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.ner-tag.json"))
}

/// The manifest's path for `--output-dir DIR`.
pub fn in_dir(dir: &Path) -> PathBuf {
    dir.join(".ner-tag.json")
}

/// A short, one-way fingerprint of `bytes` (hex of SHA-256, first 16 digits).
pub fn fingerprint(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The identity of a checkpoint directory: fingerprints of its config and tokenizer files, and
/// of each weight file's size with its first and last MiB (hashing gigabytes of weights would
/// cost more than many runs; a retrained checkpoint changes those bytes).
pub fn checkpoint_identity(dir: &Path) -> Value {
    let mut m = Map::new();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
    ] {
        if let Ok(b) = std::fs::read(dir.join(f)) {
            m.insert(f.into(), fingerprint(&b).into());
        }
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "safetensors" || x == "bin")
        })
        .collect();
    names.sort();
    for p in names {
        if let Some(f) = weight_fingerprint(&p) {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            m.insert(name.unwrap_or_default(), f.into());
        }
    }
    Value::Object(m)
}

fn weight_fingerprint(path: &Path) -> Option<String> {
    const MIB: u64 = 1 << 20;
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut bytes = len.to_le_bytes().to_vec();
    (&mut f).take(MIB).read_to_end(&mut bytes).ok()?;
    if len > 2 * MIB {
        f.seek(SeekFrom::Start(len - MIB)).ok()?;
        f.take(MIB).read_to_end(&mut bytes).ok()?;
    }
    Some(fingerprint(&bytes))
}

/// The manifest file, locked for this run, with what an earlier run wrote there (if anything).
pub struct RunManifest {
    path: PathBuf,
    file: File,
    earlier: Option<Value>,
}

impl RunManifest {
    /// Locks (creating it and its folder) the manifest at `path` and reads what is there.
    pub fn lock(path: &Path) -> Result<Self> {
        let mut locked = lock::lock(path)?;
        let mut text = String::new();
        locked
            .file
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path.display(), e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: locked.file,
            earlier: serde_json::from_str(&text).ok(),
        })
    }

    /// With `--resume` over the records an earlier run wrote: refuses, in one line, an output
    /// whose manifest is missing or names other settings than `this`.
    pub fn check_resume(&self, this: &Value, output: &str) -> Result<()> {
        let refuse = |why: String| {
            Err(Error::Usage(format!(
                "--resume: {output} {why}; resume with the same settings, or write elsewhere (or remove it) to start over"
            )))
        };
        let Some(earlier) = &self.earlier else {
            return refuse(format!(
                "has no readable run manifest ({}), so nothing says which model and options wrote it",
                self.path.display()
            ));
        };
        let (Some(a), Some(b)) = (earlier.as_object(), this.as_object()) else {
            return refuse("has a run manifest that is not a JSON object".into());
        };
        for (key, now) in b {
            let then = a.get(key).unwrap_or(&Value::Null);
            if then != now {
                return refuse(format!("was written with {key} {then} (this run: {now})"));
            }
        }
        if let Some(key) = a.keys().find(|k| !b.contains_key(*k)) {
            return refuse(format!(
                "was written with {key} {} (this run: none)",
                a[key]
            ));
        }
        Ok(())
    }

    /// Replaces the manifest with `this` (before any record is written).
    pub fn write(&mut self, this: &Value) -> Result<()> {
        let io = |e| Error::io(self.path.display(), e);
        let text = serde_json::to_string_pretty(this).expect("JSON values serialize") + "\n";
        lock::cut(&mut self.file, 0, &self.path)?;
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_resume_is_refused_naming_the_first_difference() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".out.jsonl.ner-tag.json");
        let this = json!({"model": "a", "aggregation": "Word", "format": "Jsonl"});
        let m = RunManifest::lock(&path).unwrap();
        let e = m.check_resume(&this, "out.jsonl").unwrap_err().to_string();
        assert!(e.contains("no readable run manifest"), "{e}");
        let mut m = m;
        m.write(&this).unwrap();
        drop(m);
        let m = RunManifest::lock(&path).unwrap();
        m.check_resume(&this, "out.jsonl").unwrap();
        let other = json!({"model": "a", "aggregation": "Simple", "format": "Jsonl"});
        let e = m.check_resume(&other, "out.jsonl").unwrap_err().to_string();
        assert!(
            e.contains("was written with aggregation \"Word\" (this run: \"Simple\")")
                && !e.contains('\n'),
            "{e}"
        );
        assert_eq!(
            beside(Path::new("x/out.jsonl")),
            Path::new("x/.out.jsonl.ner-tag.json")
        );
    }
}
