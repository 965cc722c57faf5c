//! The reliability battery, model side: a broken checkpoint is caught at start-up with a
//! one-line message naming the file and what is wrong, exit 1, nothing on stdout.

mod common;

use std::path::Path;

use common::run;
use serde_json::Value;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A copy of the tiny checkpoint with one file changed, for the broken-model cases.
fn broken_model(edit: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(common::fixture_model("tiny-bert")).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
        }
    }
    edit(dir.path());
    let p = dir.path().display().to_string();
    (dir, p)
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut Value)) {
    let p = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(p, v.to_string()).unwrap();
}

fn model_error(edit: impl FnOnce(&Path), needles: &[&str]) {
    let (_dir, m) = broken_model(edit);
    let o = run(&["-m", &m], "Berlin\n");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in {err:?}");
    }
}

#[test]
fn missing_config() {
    model_error(
        |d| std::fs::remove_file(d.join("config.json")).unwrap(),
        &["config.json", "No such file"],
    );
}

#[test]
fn missing_weights() {
    model_error(
        |d| std::fs::remove_file(d.join("model.safetensors")).unwrap(),
        &["no weights", "model.safetensors"],
    );
}

#[test]
fn missing_tokenizer() {
    model_error(
        |d| std::fs::remove_file(d.join("tokenizer.json")).unwrap(),
        &["no tokenizer", "tokenizer.json, vocab.txt, vocab.json + merges.txt, sentencepiece.bpe.model or spm.model"],
    );
}

#[test]
fn truncated_safetensors() {
    model_error(
        |d| {
            let p = d.join("model.safetensors");
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        },
        &["model.safetensors", "truncated safetensors"],
    );
}

#[test]
fn corrupt_safetensors_header() {
    model_error(
        |d| {
            let p = d.join("model.safetensors");
            let mut bytes = std::fs::read(&p).unwrap();
            bytes[8..16].copy_from_slice(b"garbage!");
            std::fs::write(&p, bytes).unwrap();
        },
        &["model.safetensors", "corrupt safetensors"],
    );
}

#[test]
fn config_does_not_match_weights() {
    model_error(
        |d| edit_config(d, |v| v["hidden_size"] = 64.into()),
        &["weights do not fit config.json", "shape"],
    );
}

#[test]
fn id2label_size_does_not_match_classifier() {
    model_error(
        |d| {
            edit_config(d, |v| {
                v["id2label"].as_object_mut().unwrap().remove("8");
            })
        },
        &["classifier does not match the 8 labels"],
    );
}

#[test]
fn unknown_model_type_lists_the_supported_ones() {
    model_error(
        |d| edit_config(d, |v| v["model_type"] = "gpt2".into()),
        &[
            "unsupported model_type \"gpt2\"",
            "bert, distilbert, xlm-roberta",
        ],
    );
}

#[test]
fn vocabulary_larger_than_embeddings() {
    model_error(
        |d| {
            edit_config(d, |v| v["vocab_size"] = 100.into());
            // Keep weights consistent with the smaller vocab so the tokenizer check is what fails.
            let st = d.join("model.safetensors");
            let tensors = candle_core::safetensors::load(&st, &candle_core::Device::Cpu).unwrap();
            let mut t: std::collections::HashMap<String, candle_core::Tensor> = tensors;
            let w = t["bert.embeddings.word_embeddings.weight"]
                .narrow(0, 0, 100)
                .unwrap();
            t.insert("bert.embeddings.word_embeddings.weight".into(), w);
            candle_core::safetensors::save(&t, &st).unwrap();
        },
        &["tokenizer has ids up to", "embedding table has 100 rows"],
    );
}

#[test]
fn hub_id_offline_and_not_cached() {
    let o = run(&["-m", "someone/not-cached"], "x\n");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("someone/not-cached") && err.contains("--model DIR"),
        "{err}"
    );
}
