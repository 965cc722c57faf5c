//! The reliability battery, model side: a broken checkpoint is caught at start-up with a
//! one-line message naming the file and what is wrong, exit 1, nothing on stdout.

mod common;

use std::path::Path;

use common::run;
use serde_json::Value;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A copy of fixture `name` with `edit` applied (one file changed), for the broken-model cases.
fn broken_fixture(name: &str, edit: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(common::fixture_model(name)).unwrap() {
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

/// [`fixture_error`] on tiny-bert.
fn model_error(edit: impl FnOnce(&Path), needles: &[&str]) {
    fixture_error("tiny-bert", edit, needles)
}

/// `ner-tag -m <broken copy of fixture name>` fails in one line (exit 1) holding every needle.
fn fixture_error(name: &str, edit: impl FnOnce(&Path), needles: &[&str]) {
    let (_dir, m) = broken_fixture(name, edit);
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

/// Rewrites a safetensors file with its header JSON edited (the data section unchanged).
fn edit_safetensors(file: &Path, f: impl FnOnce(&mut Value)) {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    f(&mut header);
    let header = header.to_string().into_bytes();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(file, out).unwrap();
}

#[test]
fn config_with_zero_sizes() {
    for key in [
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "vocab_size",
    ] {
        model_error(
            |d| edit_config(d, |v| v[key] = 0.into()),
            &["config.json", &format!("\"{key}\" is 0")],
        );
    }
}

#[test]
fn config_with_pad_token_id_outside_the_vocabulary() {
    // tiny-bert's vocabulary has 1500 entries: ids 0..1500.
    model_error(
        |d| edit_config(d, |v| v["pad_token_id"] = 1500.into()),
        &[
            "config.json",
            "\"pad_token_id\" 1500 is not below \"vocab_size\" 1500",
        ],
    );
}

#[test]
fn config_with_sizes_whose_products_overflow() {
    for (key, value) in [
        ("vocab_size", 1u64 << 62),
        ("hidden_size", 1u64 << 32),
        ("num_hidden_layers", 1u64 << 60),
        ("max_position_embeddings", 1u64 << 31),
    ] {
        model_error(
            |d| edit_config(d, |v| v[key] = value.into()),
            &["config.json", "overflow", &format!("\"{key}\" {value}")],
        );
    }
}

#[test]
fn safetensors_data_offsets_past_any_file() {
    // An end offset near 2^64: the range check must not overflow (it panicked here).
    model_error(
        |d| {
            edit_safetensors(&d.join("model.safetensors"), |h| {
                h["classifier.bias"]["data_offsets"][1] = u64::MAX.into();
            })
        },
        &["model.safetensors", "tensor classifier.bias", "truncated"],
    );
}

#[test]
fn safetensors_shard_with_data_offsets_past_the_file_is_named() {
    fixture_error(
        "tiny-bert-sharded-bf16",
        |d| {
            let shard = d.join("model-00002-of-00002.safetensors");
            edit_safetensors(&shard, |h| {
                let (_, t) = h
                    .as_object_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|(k, _)| *k != "__metadata__")
                    .unwrap();
                t["data_offsets"][1] = (u64::MAX - 1).into();
            });
        },
        &["model-00002-of-00002.safetensors: truncated safetensors file: tensor"],
    );
}

#[test]
fn safetensors_shape_that_is_not_a_list_of_sizes() {
    // Before, the -1 was silently dropped and the tensor read as [1500, 32].
    model_error(
        |d| {
            edit_safetensors(&d.join("model.safetensors"), |h| {
                h["bert.embeddings.word_embeddings.weight"]["shape"] =
                    serde_json::json!([1500, 32, -1]);
            })
        },
        &[
            "model.safetensors",
            "tensor bert.embeddings.word_embeddings.weight",
            "not a list of sizes",
        ],
    );
}

#[test]
fn safetensors_shape_that_does_not_match_the_bytes() {
    // A tensor ner-tag never reads, whose declared size is not its byte range: the file is
    // corrupt (the `safetensors` library refuses it too), whatever the model reads of it.
    for (shape, needs) in [
        (serde_json::json!([3]), "needs 12 bytes"),
        (
            serde_json::json!([1u64 << 62, 4]),
            "needs more than 2^64 bytes",
        ),
    ] {
        model_error(
            |d| {
                edit_safetensors(&d.join("model.safetensors"), |h| {
                    h["extra.weight"] =
                        serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [0, 8]});
                })
            },
            &["model.safetensors", "tensor extra.weight", needs, "hold 8"],
        );
    }
}

/// Rewrites tiny-bert-vocab-bin's `pytorch_model.bin` (a zip archive of `pytorch_model/data.pkl`
/// and one record per storage) with `f` editing the archive's records by name.
fn edit_pytorch_bin(dir: &Path, f: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) {
    use std::io::{Read, Write};
    let p = dir.join("pytorch_model.bin");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&p).unwrap()).unwrap();
    let mut records = Vec::new();
    for i in 0..zip.len() {
        let mut r = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        r.read_to_end(&mut data).unwrap();
        records.push((r.name().unwrap().to_string(), data));
    }
    f(&mut records);
    let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in records {
        w.start_file(name, opts).unwrap();
        w.write_all(&data).unwrap();
    }
    w.finish().unwrap();
}

/// Replaces the one occurrence of `from` in `data.pkl` with `to` (a pickle has no offsets).
fn patch_pickle(dir: &Path, from: &[u8], to: &[u8]) {
    edit_pytorch_bin(dir, |records| {
        let (_, pkl) = records
            .iter_mut()
            .find(|(n, _)| n.ends_with("data.pkl"))
            .unwrap();
        let at: Vec<usize> = (0..pkl.len())
            .filter(|&i| pkl[i..].starts_with(from))
            .collect();
        assert_eq!(at.len(), 1, "{from:?} occurs {} times", at.len());
        pkl.splice(at[0]..at[0] + from.len(), to.iter().copied());
    });
}

/// In data.pkl, the word embeddings' `_rebuild_tensor_v2` arguments after their storage:
/// BINPERSID, offset `K 0`, size `(M 1500, K 32)` (memo 9), stride `(K 32, K 1)`.
const WORD_EMBEDDINGS_ARGS: &[u8] = b"QK\x00M\xdc\x05K\x20\x86q\tK\x20K\x01\x86";

fn word_embeddings_args(offset: &[u8], size: &[u8]) -> Vec<u8> {
    [b"Q".as_slice(), offset, size, b"\x86q\tK\x20K\x01\x86"].concat()
}

#[test]
fn pytorch_bin_shape_whose_size_overflows() {
    // Size (2^31 - 1)², contiguous stride (2^31 - 1, 1): candle's reader allocated by the declared
    // shape and panicked ("capacity overflow", exit 101).
    let big = b"QK\x00J\xff\xff\xff\x7fJ\xff\xff\xff\x7f\x86q\tJ\xff\xff\xff\x7fK\x01\x86";
    fixture_error(
        "tiny-bert-vocab-bin",
        |d| patch_pickle(d, WORD_EMBEDDINGS_ARGS, big),
        &[
            "pytorch_model.bin: corrupt PyTorch weights: tensor bert.embeddings.word_embeddings.weight",
            "size [2147483647, 2147483647] (stride [2147483647, 1])",
            "storage of 48000 elements",
        ],
    );
}

#[test]
fn pytorch_bin_storage_offset_past_its_storage() {
    // Offset 2^62 (LONG1): candle multiplied it by the element size and overflowed.
    let mut long = b"\x8a\x08".to_vec();
    long.extend_from_slice(&(1u64 << 62).to_le_bytes());
    fixture_error(
        "tiny-bert-vocab-bin",
        |d| {
            patch_pickle(
                d,
                WORD_EMBEDDINGS_ARGS,
                &word_embeddings_args(&long, b"M\xdc\x05K\x20"),
            );
        },
        &[
            "tensor bert.embeddings.word_embeddings.weight",
            "from offset 4611686018427387904 does not fit its storage of 48000 elements",
        ],
    );
    // A small offset that still runs past the end: 1 + 48000 > 48000.
    fixture_error(
        "tiny-bert-vocab-bin",
        |d| {
            patch_pickle(
                d,
                WORD_EMBEDDINGS_ARGS,
                &word_embeddings_args(b"K\x01", b"M\xdc\x05K\x20"),
            );
        },
        &[
            "tensor bert.embeddings.word_embeddings.weight",
            "from offset 1 does not fit",
        ],
    );
}

#[test]
fn pytorch_bin_storage_record_of_the_wrong_length() {
    fixture_error(
        "tiny-bert-vocab-bin",
        |d| {
            edit_pytorch_bin(d, |records| {
                let (_, data) = records
                    .iter_mut()
                    .find(|(n, _)| n == "pytorch_model/data/0")
                    .unwrap();
                data.truncate(data.len() - 4);
            })
        },
        &[
            "pytorch_model.bin: corrupt PyTorch weights: tensor bert.embeddings.word_embeddings.weight",
            "storage pytorch_model/data/0 holds 191996 bytes, not 48000 × 4",
        ],
    );
}

#[test]
fn pytorch_bin_storage_record_missing() {
    // The word embeddings' storage key "0" → "Z", a record the archive does not hold.
    fixture_error(
        "tiny-bert-vocab-bin",
        |d| {
            patch_pickle(
                d,
                b"FloatStorage\nq\x05X\x01\x00\x00\x000",
                b"FloatStorage\nq\x05X\x01\x00\x00\x00Z",
            )
        },
        &[
            "tensor bert.embeddings.word_embeddings.weight",
            "storage pytorch_model/data/Z cannot be read",
        ],
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
