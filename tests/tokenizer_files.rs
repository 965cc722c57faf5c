//! Tokenizer files as the hub ships them: the tokenizers built from `vocab.json` + `merges.txt`,
//! `sentencepiece.bpe.model` and `spm.model` give the ids and offsets `transformers` gives on
//! every fixture line (recorded by tests/fixtures/generate_layouts.py), and a missing or corrupt
//! file is one line naming it.

mod common;

use std::path::Path;

use ner_tag::tokenize::TextTokenizer;
use ner_tag::tokenizer_files::{self, sentencepiece};
use serde_json::Value;

/// The layout fixtures: (directory, its only tokenizer files).
const LAYOUTS: &[(&str, &[&str])] = &[
    ("tiny-xlmr-spm", &["sentencepiece.bpe.model"]),
    ("tiny-camembert-spm", &["sentencepiece.bpe.model"]),
    ("tiny-deberta-spm", &["spm.model"]),
    ("tiny-roberta-files", &["vocab.json", "merges.txt"]),
];

/// A copy of a fixture's files (no sub-folders) in a temporary directory.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(common::fixture_model(name)).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn read_config(dir: &Path) -> Value {
    let p = dir.join("tokenizer_config.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// tokenizer_config.json of `dir` updated with the keys of `patch`, as generate_layouts.py does.
fn patch_config(dir: &Path, patch: &Value) {
    let mut cfg = read_config(dir);
    for (k, v) in patch.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    std::fs::write(dir.join("tokenizer_config.json"), cfg.to_string()).unwrap();
}

fn ids_offsets(rec: &Value) -> (Vec<u32>, Vec<(usize, usize)>) {
    let ids = rec["ids"].as_array().unwrap();
    let offsets = rec["offsets"].as_array().unwrap();
    (
        ids.iter().map(|v| v.as_u64().unwrap() as u32).collect(),
        offsets
            .iter()
            .map(|o| {
                (
                    o[0].as_u64().unwrap() as usize,
                    o[1].as_u64().unwrap() as usize,
                )
            })
            .collect(),
    )
}

#[test]
fn every_layout_gives_the_ids_and_offsets_of_transformers() {
    for (name, files) in LAYOUTS {
        let fixture = common::fixture_model(name);
        assert!(!fixture.join("tokenizer.json").exists(), "{name}");
        for f in *files {
            assert!(fixture.join(f).is_file(), "{name}: {f}");
        }
        let records = common::read_jsonl(&fixture.join("expected/tokens.jsonl"));
        let mut variants: Vec<Value> = Vec::new();
        for r in &records {
            if !variants.contains(&r["patch"]) {
                variants.push(r["patch"].clone());
            }
        }
        for patch in &variants {
            let dir = copy_of(name);
            patch_config(dir.path(), patch);
            let tok = tokenizer_files::load(dir.path(), &read_config(dir.path())).unwrap();
            // TextTokenizer::load goes through the same loader; a line shorter than a window is
            // one window, the whole encoding.
            let (text_tok, _) = TextTokenizer::load(dir.path()).unwrap();
            let mut lines = 0;
            for rec in records.iter().filter(|r| &r["patch"] == patch) {
                let text = rec["text"].as_str().unwrap();
                let (ids, offsets) = ids_offsets(rec);
                let enc = tok.encode_char_offsets(text, true).unwrap();
                assert_eq!(enc.get_ids(), ids, "{name} {patch}: ids of {text:?}");
                assert_eq!(
                    enc.get_offsets(),
                    offsets,
                    "{name} {patch}: offsets of {text:?}"
                );
                let w = &text_tok.windows(text).unwrap()[0];
                assert_eq!(w.ids, ids, "{name} {patch}: window ids of {text:?}");
                assert_eq!(
                    w.offsets, offsets,
                    "{name} {patch}: window offsets of {text:?}"
                );
                lines += 1;
            }
            eprintln!("{name} {patch}: {lines} lines, ids and offsets identical");
            assert!(lines > 20, "{name}: only {lines} recorded lines");
        }
    }
}

/// The whole error message of loading `dir`'s tokenizer.
fn load_error(dir: &Path) -> String {
    let cfg = read_config(dir);
    match tokenizer_files::load(dir, &cfg) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_names(msg: &str, needles: &[&str]) {
    assert_eq!(msg.lines().count(), 1, "not one line: {msg}");
    for n in needles {
        assert!(msg.contains(n), "{n:?} not in {msg:?}");
    }
}

#[test]
fn a_truncated_sentencepiece_model_is_an_error_naming_it() {
    for (name, file) in [
        ("tiny-xlmr-spm", "sentencepiece.bpe.model"),
        ("tiny-deberta-spm", "spm.model"),
    ] {
        let dir = copy_of(name);
        let p = dir.path().join(file);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert_names(
            &load_error(dir.path()),
            &[file, "not a valid SentencePiece model"],
        );
        std::fs::write(&p, b"").unwrap();
        assert_names(&load_error(dir.path()), &[file, "no pieces"]);
    }
}

/// Every prefix length (sampled) and many single-byte changes of a real model: the reader
/// answers Ok or Err, never panics, and whatever it accepts builds a tokenizer that encodes.
#[test]
fn damaged_model_bytes_never_panic() {
    let good =
        std::fs::read(common::fixture_model("tiny-xlmr-spm").join("sentencepiece.bpe.model"))
            .unwrap();
    assert!(sentencepiece::parse(&good).is_ok());
    let step = good.len() / 300 + 1;
    let mut rejected = 0;
    for n in (0..good.len()).step_by(step) {
        rejected += sentencepiece::parse(&good[..n]).is_err() as usize;
    }
    assert!(rejected > 250, "only {rejected} truncations rejected");
    // charsmap bytes sit at the end of the file: flip bytes everywhere, densest there
    let dir = copy_of("tiny-xlmr-spm");
    let path = dir.path().join("sentencepiece.bpe.model");
    let cfg = read_config(dir.path());
    let mut loaded = 0;
    for i in 0..400usize {
        let at = if i % 2 == 0 {
            (i * 7919) % good.len()
        } else {
            good.len() - 1 - (i * 104_729) % (good.len() / 2)
        };
        let mut bad = good.clone();
        bad[at] ^= 1 << (i % 8);
        let _ = sentencepiece::parse(&bad);
        if i % 8 == 1 {
            std::fs::write(&path, &bad).unwrap();
            if let Ok(tok) = tokenizer_files::load(dir.path(), &cfg) {
                tok.encode_char_offsets("Zürich ﬁ Ⅻ ① ｆｕｌｌ 東京 👍🏽 café", true)
                    .unwrap();
                loaded += 1;
            }
        }
    }
    eprintln!("{loaded}/50 single-bit changes of the charsmap half still load and encode");
}

#[test]
fn broken_bpe_files_are_errors_naming_the_file() {
    let dir = copy_of("tiny-roberta-files");
    let merges = dir.path().join("merges.txt");
    let good = std::fs::read_to_string(&merges).unwrap();
    std::fs::write(&merges, format!("{good}\u{120}a b c\n")).unwrap();
    let n = good.lines().count() + 1;
    assert_names(
        &load_error(dir.path()),
        &["merges.txt", &format!("line {n}")],
    );
    std::fs::write(&merges, "#version: 0.2\nnot_in_vocab_x nor_this_y\n").unwrap();
    assert_names(&load_error(dir.path()), &["merges.txt", "vocab.json"]);
    std::fs::write(&merges, [0xffu8, 0xfe, 0x20, 0x41]).unwrap();
    assert_names(&load_error(dir.path()), &["merges.txt"]);
    std::fs::write(&merges, &good).unwrap();
    let vocab = dir.path().join("vocab.json");
    std::fs::write(&vocab, "{\"a\": 0, \"b\": ").unwrap();
    assert_names(&load_error(dir.path()), &["vocab.json", "not valid JSON"]);
    std::fs::write(&vocab, "{\"a\": -1}").unwrap();
    assert_names(&load_error(dir.path()), &["vocab.json", "\"a\""]);
    std::fs::remove_file(&vocab).unwrap();
    assert_names(
        &load_error(dir.path()),
        &[
            "no tokenizer",
            "spm.model",
            "merges.txt is there without its vocab.json",
        ],
    );
}

#[test]
fn a_directory_without_tokenizer_files_lists_the_five_layouts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer_config.json"), "{}").unwrap();
    assert_names(
        &load_error(dir.path()),
        &[
            "tokenizer.json",
            "vocab.txt",
            "vocab.json + merges.txt",
            "sentencepiece.bpe.model",
            "spm.model",
        ],
    );
}

#[test]
fn a_tokenizer_class_without_a_builder_for_the_file_is_an_error() {
    let dir = copy_of("tiny-deberta-spm");
    patch_config(
        dir.path(),
        &serde_json::json!({"tokenizer_class": "AlbertTokenizer"}),
    );
    assert_names(
        &load_error(dir.path()),
        &["spm.model", "AlbertTokenizer", "DebertaV2Tokenizer"],
    );
    // no tokenizer_class: config.json's model_type decides
    let dir = copy_of("tiny-xlmr-spm");
    let cfg = dir.path().join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("\"xlm-roberta\"", "\"bert\"")).unwrap();
    assert_names(
        &load_error(dir.path()),
        &["sentencepiece.bpe.model", "model_type \"bert\""],
    );
}

/// Through the binary: a checkpoint whose only tokenizer file is corrupt stops at start-up, exit 1,
/// one line on stderr naming the file, nothing on stdout; the intact one tags.
#[test]
fn the_cli_names_a_corrupt_tokenizer_file() {
    let dir = copy_of("tiny-xlmr-spm");
    let m = dir.path().display().to_string();
    let o = common::run(&["-m", &m], "Peter lives in Berlin\n");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.stdout.is_empty());
    let p = dir.path().join("sentencepiece.bpe.model");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..1000]).unwrap();
    let o = common::run(&["-m", &m], "Peter lives in Berlin\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
    assert_names(err.trim_end(), &["sentencepiece.bpe.model"]);
}
