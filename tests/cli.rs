//! Drives the real `ner-tag` binary: output contract, exit codes, stdout/stderr discipline.
//! Golden outputs live in tests/golden; they use the tiny fixture checkpoint, so they run anywhere.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{ner_tag as bin, run};

fn tiny() -> String {
    common::fixture_model("tiny-bert").display().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn golden(name: &str, got: &str) {
    let path = common::root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if name.ends_with(".jsonl") {
        // Spans exactly; scores to 1e-5, as other CPUs' SIMD paths round the last bits differently.
        let parse = |t: &str| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<serde_json::Value>>()
        };
        let p = common::parity(&parse(&want), &parse(got));
        assert_eq!(
            p.identical,
            p.lines,
            "{}: {:?}",
            path.display(),
            p.first_mismatch
        );
        assert!(
            p.max_score_diff < 1e-5,
            "{}: scores differ by {}",
            path.display(),
            p.max_score_diff
        );
    } else {
        assert_eq!(got, want, "output differs from {}", path.display());
    }
}

const INPUT: &str = "My name is Wolfgang and I live in Berlin\n\nZürich 東京 👍🏽 café\n";

#[test]
fn jsonl_golden_one_record_per_line_including_empty() {
    let o = run(&["-m", &tiny(), "-a", "simple"], INPUT);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "stderr must stay quiet: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 3);
    golden("tiny-bert.simple.jsonl", &out);
}

#[test]
fn offsets_slice_the_text_in_chars_and_in_bytes() {
    for byte_offsets in [false, true] {
        let mut args = vec!["-m".to_string(), tiny(), "-a".into(), "none".into()];
        if byte_offsets {
            args.push("--byte-offsets".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args, INPUT);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut checked = 0;
        for line in stdout(&o).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = v["text"].as_str().unwrap();
            for e in v["entities"].as_array().unwrap() {
                checked += 1;
                let (s, t) = (
                    e["start"].as_u64().unwrap() as usize,
                    e["end"].as_u64().unwrap() as usize,
                );
                let slice: String = if byte_offsets {
                    text[s..t].to_string()
                } else {
                    text.chars().skip(s).take(t - s).collect()
                };
                assert_eq!(slice, e["text"].as_str().unwrap());
            }
        }
        assert!(checked > 10, "only {checked} entities checked");
    }
}

#[test]
fn word_mode_is_the_default_golden() {
    let input = "P. Simmons (Reuters) met U.S. officials in Chester-le-Street, Germany's capital.\n\n\"Berlin,\" he said.\n";
    let o = run(&["-m", &tiny()], input);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert_eq!(out, stdout(&run(&["-m", &tiny(), "-a", "word"], input)));
    golden("tiny-bert.word.jsonl", &out);
    let o = run(&["-m", &tiny(), "-f", "conll"], input);
    assert!(o.status.success());
    golden("tiny-bert.word.conll", &stdout(&o));
}

#[test]
fn conll_golden() {
    let o = run(&["-m", &tiny(), "-f", "conll", "-a", "first"], INPUT);
    assert!(o.status.success());
    let out = stdout(&o);
    assert_eq!(
        out.lines().filter(|l| l.is_empty()).count(),
        3,
        "a blank line after each input line"
    );
    golden("tiny-bert.first.conll", &out);
}

#[test]
fn several_files_are_read_in_order_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    std::fs::write(&a, "Berlin\nParis\n").unwrap();
    std::fs::write(&b, "Rome").unwrap(); // no trailing newline: still a line
    let o = run(
        &["-m", &tiny(), a.to_str().unwrap(), "-", b.to_str().unwrap()],
        "stdin line\n",
    );
    assert!(o.status.success());
    let recs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, u64, String)> = recs
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
                r["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    assert_eq!(
        got,
        vec![
            (a.clone(), 1, "Berlin".into()),
            (a, 2, "Paris".into()),
            ("<stdin>".into(), 1, "stdin line".into()),
            (b, 1, "Rome".into())
        ]
    );
}

fn records(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn same_input_same_bytes_and_same_spans_whatever_batching() {
    let input = std::fs::read_to_string(common::root().join("tests/fixtures/inputs.txt")).unwrap();
    let model = tiny();
    let base = run(&["-m", &model, "--stride", "12"], &input);
    assert!(base.status.success());
    assert_eq!(
        stdout(&run(&["-m", &model, "--stride", "12"], &input)),
        stdout(&base),
        "two identical runs differ"
    );
    // Batches are single-threaded inside candle, so the thread count cannot change a bit.
    for j in ["1", "2", "3"] {
        let o = run(&["-m", &model, "--stride", "12", "-j", j], &input);
        assert!(o.status.success());
        assert_eq!(stdout(&o), stdout(&base), "output changed with -j {j}");
    }
    // Other batch shapes change the order of float additions inside the matrix kernels, so scores
    // may move in the last bits; the spans may not.
    for args in [
        ["-b", "1", "-j", "1"],
        ["-b", "7", "-j", "2"],
        ["-b", "64", "--read-ahead", "3"],
    ] {
        let mut all = vec!["-m", &model, "--stride", "12"];
        all.extend_from_slice(&args);
        let o = run(&all, &input);
        assert!(o.status.success(), "{args:?}");
        let p = common::parity(&records(&base), &records(&o));
        assert_eq!(
            p.identical, p.lines,
            "spans changed with {args:?}: {:?}",
            p.first_mismatch
        );
        assert!(
            p.max_score_diff < 1e-5,
            "scores moved by {} with {args:?}",
            p.max_score_diff
        );
    }
}

#[test]
fn long_lines_are_windowed_not_truncated() {
    let line = "Wolfgang lives in Berlin . ".repeat(200);
    let o = run(&["-m", &tiny(), "-a", "none", "--stride", "12"], &line);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let last_end = v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["end"].as_u64().unwrap())
        .max()
        .unwrap();
    // The tiny model's windows hold 48 tokens; entities must reach the end of a 5,400-char line.
    assert!(
        last_end as usize > line.len() - 100,
        "entities stop at {last_end} of {}",
        line.len()
    );
}

#[test]
fn head_closes_the_pipe_quietly() {
    let input = "Berlin\n".repeat(20_000);
    let mut child = bin()
        .args(["-m", &tiny()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn one_line_error(o: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(o.stdout.is_empty());
}

#[test]
fn usage_and_failure_exit_codes() {
    // Usage errors found after parsing exit 2, like clap's own.
    one_line_error(
        &run(&["-m", &tiny(), "--device", "cuda"], "x\n"),
        2,
        "without CUDA support",
    );
    one_line_error(
        &run(&["-m", &tiny(), "--device", "tpu"], "x\n"),
        2,
        "expected cpu, cuda",
    );
    one_line_error(&run(&["-m", "/no/such/dir"], "x\n"), 2, "no such directory");
    one_line_error(
        &run(&["-m", &tiny(), "--stride", "47"], "x\n"),
        2,
        "--stride 47 must be smaller than the 46 text tokens of the model's 48-token windows",
    );
    // Messages name only the flags the user gave.
    let o = run(&["-m", &tiny(), "--max-length", "2"], "x\n");
    one_line_error(&o, 2, "--max-length 2: no room for text");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("--stride"));
    one_line_error(
        &run(&["-m", &tiny(), "--max-length", "4096"], "x\n"),
        2,
        "exceeds what the model allows",
    );
    one_line_error(
        &run(&["-m", "dslim/distilbert-NER"], "x\n"),
        1,
        "--model DIR",
    );
    let o = run(&["--aggregation", "bogus"], "");
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--help"], "");
    assert!(o.status.success() && stdout(&o).contains("Examples:"));
}

#[test]
fn device_auto_falls_back_to_cpu() {
    let o = run(&["-m", &tiny(), "--device", "auto"], "Berlin\n");
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 1);
    // It says which device it took, on stderr.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("running on the CPU"), "{err}");
}

/// Each JSONL line's entities as (label, start, end).
fn entity_spans(o: &Output) -> Vec<Vec<(String, Option<u64>, Option<u64>)>> {
    stdout(o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["entities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["label"].to_string(),
                        e["start"].as_u64(),
                        e["end"].as_u64(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn dtype_on_the_cpu() {
    // The native kernels take f32 or bf16: f16 is refused in one line, exit 2.
    one_line_error(
        &run(&["-m", &tiny(), "--dtype", "f16"], "x\n"),
        2,
        "--dtype f16: the native CPU kernels compute in f32 or bf16",
    );
    one_line_error(
        &run(
            &["-m", &tiny(), "--dtype", "bf16", "--quantize", "int8"],
            "x\n",
        ),
        2,
        "--dtype bf16 and --quantize int8",
    );
    // Kernels capped below AVX-512 (as on a CPU without AVX512-BF16): bf16 is refused, naming
    // what it needs.
    let mut capped = common::ner_tag();
    capped.env("NER_TAG_SIMD", "avx2");
    one_line_error(
        &common::run_with(capped, &["-m", &tiny(), "--dtype", "bf16"], "x\n"),
        2,
        "--dtype bf16 on the CPU needs AVX512-BF16",
    );
    // Where the CPU has it, bf16 tags as f32 does with the built-in (trained) model on the
    // fixture inputs: every line's spans the same (`tests/backends.rs` holds the logits of every
    // fixture family close, and CoNLL F1 within 0.1 point).
    let input = std::fs::read_to_string(common::root().join("tests/fixtures/inputs.txt")).unwrap();
    let native = |extra: &[&str]| {
        let mut a = vec!["-a", "simple"];
        a.extend_from_slice(extra);
        run(&a, &input)
    };
    let o = native(&["--dtype", "bf16"]);
    if ner_tag::model::kernels::bf16_fast() {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let f32_out = native(&[]);
        let (a, b) = (entity_spans(&o), entity_spans(&f32_out));
        assert_eq!(a.len(), b.len());
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert_eq!(same, b.len(), "bf16: {same}/{} lines as f32", b.len());
    } else {
        one_line_error(&o, 2, "--dtype bf16 on the CPU needs AVX512-BF16");
    }
    let o = run(&["-m", &tiny(), "--dtype", "f8"], "x\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values: f32, f16, bf16"));
    // The candle backend computes it on the CPU; the tags match f32 on the fixture inputs.
    let input = std::fs::read_to_string(common::root().join("tests/fixtures/inputs.txt")).unwrap();
    let tags = |extra: &[&str]| {
        let model = tiny();
        let mut a = vec!["-m", model.as_str(), "-a", "simple", "--backend", "candle"];
        a.extend_from_slice(extra);
        let o = run(&a, &input);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        entity_spans(&o)
    };
    let f32_tags = tags(&["--dtype", "f32"]);
    assert_eq!(tags(&[]), f32_tags, "f32 is the CPU default");
    let f16_tags = tags(&["--dtype", "f16"]);
    let same = f16_tags
        .iter()
        .zip(&f32_tags)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same * 10 >= f32_tags.len() * 9,
        "f16: {same}/{} lines",
        f32_tags.len()
    );
}

#[test]
fn crlf_and_bom_are_not_text() {
    let o = run(&["-m", &tiny(), "-a", "none"], "\u{feff}Berlin\r\nRome\r\n");
    let texts: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts, ["Berlin", "Rome"]);
}

#[test]
fn invalid_utf8_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.txt");
    std::fs::write(&f, b"ok\nbad \xff here\n").unwrap();
    let o = run(&["-m", &tiny(), f.to_str().unwrap()], "");
    let err = String::from_utf8_lossy(&o.stderr);
    // The bad line gets an error record in its place; the run ends with exit 3 (reliability policy).
    assert_eq!(o.status.code(), Some(3));
    assert!(err.contains("bad.txt:2: invalid UTF-8 at byte 4"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("{\"line\":2,\"error\":\"invalid UTF-8 at byte 4\"}"));
}

#[test]
fn list_models_prints_the_catalog() {
    let o = run(&["--list-models"], "");
    assert!(o.status.success());
    assert!(stdout(&o).contains("dslim/distilbert-NER"));
}

#[test]
fn truncation_and_padding_baked_into_tokenizer_json_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::fixture_model("tiny-bert");
    for f in ["config.json", "model.safetensors", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("tokenizer.json")).unwrap())
            .unwrap();
    tok["truncation"] = serde_json::json!({"direction": "Right", "max_length": 6, "strategy": "LongestFirst", "stride": 0});
    tok["padding"] = serde_json::json!({"strategy": {"Fixed": 40}, "direction": "Right", "pad_to_multiple_of": null,
        "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
    std::fs::write(dir.path().join("tokenizer.json"), tok.to_string()).unwrap();
    let input = std::fs::read_to_string(common::root().join("tests/fixtures/inputs.txt")).unwrap();
    let baked = run(
        &["-m", dir.path().to_str().unwrap(), "--stride", "12"],
        &input,
    );
    let clean = run(&["-m", &tiny(), "--stride", "12"], &input);
    assert!(
        baked.status.success(),
        "{}",
        String::from_utf8_lossy(&baked.stderr)
    );
    assert_eq!(stdout(&baked), stdout(&clean));
}

#[test]
fn a_record_comes_out_while_stdin_stays_open() {
    let mut child = bin()
        .args(["-m", &tiny()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"Berlin is big\n").unwrap();
    stdin.flush().unwrap();
    // Read the first record while stdin is still open: it must not wait for more input or EOF.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut out, &mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("no record within 20 s while stdin stayed open");
    assert!(
        line.starts_with("{\"line\":1,\"text\":\"Berlin is big\""),
        "{line}"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn jsonl_error_records_keep_the_object_and_scores_print_as_f32() {
    let input = "{\"id\":7,\"text\":\"Berlin is big\"}\n{\"id\":8,\"body\":\"x\"}\n{\"id\":9,\"text\":5}\nnot json\n";
    let o = run(
        &["-m", &tiny(), "--input-format", "jsonl", "-a", "none"],
        input,
    );
    assert_eq!(o.status.code(), Some(3));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[1],
        "{\"id\":8,\"body\":\"x\",\"error\":\"no field \\\"text\\\"\"}"
    );
    assert_eq!(
        lines[2],
        "{\"id\":9,\"text\":5,\"error\":\"field \\\"text\\\" is not a string\"}"
    );
    assert!(
        lines[3].starts_with("{\"line\":4,\"error\":\"invalid JSON"),
        "{}",
        lines[3]
    );
    // One score format: the same entity scores print identically for text and JSONL input.
    let text = stdout(&run(&["-m", &tiny(), "-a", "none"], "Berlin is big\n"));
    let scores = |l: &str| -> Vec<String> {
        l.split("\"score\":")
            .skip(1)
            .map(|s| s.split(['}', ',']).next().unwrap().to_string())
            .collect()
    };
    assert!(!scores(&text).is_empty());
    assert_eq!(scores(lines[0]), scores(&text));
    for s in scores(lines[0]) {
        let v: f32 = s.parse().unwrap();
        assert_eq!(v.to_string(), s, "shortest f32 form");
    }
}

#[test]
fn stats_on_a_pipe_are_plain_lines() {
    let o = run(&["-m", &tiny(), "--stats"], "Berlin\nParis\n");
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains('\r'),
        "no carriage returns off a terminal: {err:?}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err:?}");
    assert!(
        lines[0].starts_with("ner-tag: 2 records (0 error records), 2 windows, ")
            && lines[0].contains("% of the wall time; peak RSS ")
            && lines[0].ends_with(" MB"),
        "{err:?}"
    );
    assert!(lines[1].starts_with("ner-tag: 2 entities: "), "{err:?}");
    // The dispatch chosen at start-up, e.g. "simd avx512, int8 avx512-vnni (512-bit vpdpbusd)".
    assert!(
        lines[2].starts_with("ner-tag: CPU kernels: simd ") && lines[2].contains(", int8 "),
        "{err:?}"
    );
}

#[test]
fn shards_together_are_the_whole_output() {
    // JSONL input with a bad record in the middle: it belongs to one shard like any other.
    let mut input = String::new();
    for i in 0..23 {
        if i == 11 {
            input.push_str("{not json\n");
        } else {
            input.push_str(&format!(
                "{{\"id\":{i},\"text\":\"Merkel met Obama in Berlin {i}\"}}\n"
            ));
        }
    }
    let args = |extra: &[&str]| {
        let model = tiny();
        let mut a = vec![
            "-m".to_string(),
            model,
            "--input-format".into(),
            "jsonl".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let go = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&a, &input)
    };
    let whole = go(&[]);
    assert_eq!(whole.status.code(), Some(3));
    let whole = stdout(&whole);
    for n in [1, 2, 3, 5] {
        let mut lines: Vec<(u64, String)> = Vec::new();
        for i in 0..n {
            let o = go(&["--shard", &format!("{i}/{n}")]);
            let out = stdout(&o);
            for l in out.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                // JSONL input keeps each object (its id); the error record names its line.
                let index = v["id"]
                    .as_u64()
                    .or_else(|| v["line"].as_u64().map(|l| l - 1))
                    .unwrap();
                assert_eq!(index as usize % n, i, "shard {i}/{n} got record {index}");
                lines.push((index, l.to_string()));
            }
            // Exit 3 only for the shard holding the bad record (line 12, index 11).
            let expect = if 11 % n == i { 3 } else { 0 };
            assert_eq!(o.status.code(), Some(expect), "shard {i}/{n}");
        }
        lines.sort();
        let merged: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
        assert_eq!(merged.join("\n") + "\n", whole, "{n} shards");
    }
    let o = go(&["--shard", "2/2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--shard 2/2: I must be below N"));
}

#[test]
fn stats_json_summarises_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.json");
    let input = "{\"text\":\"Merkel met Obama in Berlin\"}\n{bad\n{\"text\":\"Paris and Rome\"}\n";
    let o = run(
        &[
            "-m",
            &tiny(),
            "--input-format",
            "jsonl",
            "-a",
            "simple",
            "--stats-json",
            path.to_str().unwrap(),
        ],
        input,
    );
    assert_eq!(o.status.code(), Some(3));
    let entities: usize = stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["entities"].as_array().map_or(0, Vec::len)
        })
        .sum();
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(s["records"], 3);
    assert_eq!(s["error_records"], 1);
    assert_eq!(s["windows"], 2);
    assert!(s["tokens"].as_u64().unwrap() >= 8, "{s}");
    assert_eq!(s["entities"].as_u64().unwrap() as usize, entities);
    let per_label: u64 = s["entities_per_label"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(per_label as usize, entities);
    assert!(s["wall_secs"].as_f64().unwrap() > 0.0);
    assert!(!dir.path().join("stats.json.tmp").exists());
}

/// `-o FILE --resume` after SIGKILL at several points: the resumed file is byte-identical to an
/// uninterrupted run's, for JSONL and CoNLL output.
#[test]
fn resume_after_sigkill_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let text: String = (0..3000)
        .map(|i| format!("Line {i}: Angela Merkel met Barack Obama in Berlin and Paris .\n"))
        .collect();
    std::fs::write(&input, text).unwrap();
    let model = tiny();
    for format in ["jsonl", "conll"] {
        let args = |out: &std::path::Path| {
            vec![
                "-m".to_string(),
                model.clone(),
                "-f".into(),
                format.into(),
                "--read-ahead".into(),
                "50".into(),
                "-o".into(),
                out.display().to_string(),
                "--resume".into(),
                input.display().to_string(),
            ]
        };
        let whole = dir.path().join(format!("whole.{format}"));
        let o = bin().args(args(&whole)).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stdout.is_empty(), "stdout stays empty with -o");
        let want = std::fs::read(&whole).unwrap();
        assert!(want.iter().filter(|&&b| b == b'\n').count() >= 3000);
        // Killed once part of the output is written (at growing fractions of it), then resumed:
        // the partial file must be kept (not re-tagged from the start) and completed exactly.
        for (k, percent) in [3u64, 30, 60, 90].into_iter().enumerate() {
            let out = dir.path().join(format!("killed{k}.{format}"));
            let at =
                common::kill_when_written(&args(&out), &out, want.len() as u64 * percent / 100);
            let partial = std::fs::read(&out).unwrap();
            assert!(
                at > 0 && (partial.len() as u64) < want.len() as u64,
                "{format}: kill at {percent}% left {} of {} bytes",
                partial.len(),
                want.len()
            );
            let stats = dir.path().join(format!("stats{k}.json"));
            let mut resumed = args(&out);
            resumed.extend(["--stats-json".into(), stats.display().to_string()]);
            let o = bin().args(&resumed).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let got = std::fs::read(&out).unwrap();
            assert!(
                got == want,
                "{format}, killed at {percent}%: {} bytes, want {}",
                got.len(),
                want.len()
            );
            // The resumed run tagged only what the killed one had not completed (one window a line;
            // `records` counts the kept ones too).
            let s: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
            let tagged = s["windows"].as_u64().unwrap();
            let kept = if format == "jsonl" {
                partial.iter().filter(|&&b| b == b'\n').count() as u64
            } else {
                // CoNLL: a record ends with its blank line.
                String::from_utf8_lossy(&partial).matches("\n\n").count() as u64
            };
            assert!(
                kept > 0 || percent < 10,
                "{format}: nothing kept at {percent}%"
            );
            assert_eq!(
                tagged,
                3000 - kept,
                "{format}, killed at {percent}%: re-tagged records"
            );
        }
    }
    // --resume needs -o or --output-dir.
    let o = run(&["-m", &model, "--resume"], "x\n");
    assert_eq!(o.status.code(), Some(2));
}

/// `-f html`: one page, a block per record, hostile text escaped; where Debian's `chromium` is
/// installed, the page is rendered headless, its DOM checked and a screenshot taken.
#[test]
fn html_page_renders_in_a_headless_browser() {
    let input = "Angela Merkel met Barack Obama in Berlin\n<script>document.title='pwned'</script> in Paris\n\n";
    let o = run(&["-m", &tiny(), "-f", "html", "-a", "simple"], input);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = stdout(&o);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</body></html>\n"));
    assert_eq!(html.matches("<div class=\"rec\">").count(), 3);
    assert!(!html.contains("<script"), "input markup escaped");
    assert!(html.contains("&lt;"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no fetches"
    );
    // One <mark> per entity of the same run's JSONL, and the CSP that forbids scripts and fetches.
    let marks = html.matches("<mark").count();
    let jsonl = run(&["-m", &tiny(), "-a", "simple"], input);
    assert!(jsonl.status.success());
    let entities: usize = stdout(&jsonl)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["entities"].as_array().unwrap().len()
        })
        .sum();
    assert!(entities > 0);
    assert_eq!(marks, entities, "{html}");
    let csp = html
        .split("http-equiv=\"Content-Security-Policy\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no Content-Security-Policy meta: {html}"));
    // default-src 'none' forbids scripts, fetches, frames and images; only inline style is let in.
    assert!(csp.starts_with("default-src 'none';"), "CSP {csp:?}");
    assert!(
        !csp.contains("script-src") && !csp.contains("connect-src"),
        "CSP {csp:?}"
    );
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("skipped the browser half: no chromium on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    std::fs::write(&page, &html).unwrap();
    let shot = dir.path().join("shot.png");
    let browser = |extra: &str| {
        std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                &format!("--user-data-dir={}", dir.path().join("profile").display()),
                extra,
                &format!("file://{}", page.display()),
            ])
            .output()
            .unwrap()
    };
    let dom = browser("--dump-dom");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The browser's DOM: the same entities, labels inside them, the input's script still text.
    assert_eq!(dom.matches("<mark").count(), marks, "{dom}");
    assert_eq!(dom.matches("class=\"lbl\"").count(), marks);
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("&lt;"));
    assert!(
        dom.contains("<title>ner-tag</title>"),
        "the input's script did not run"
    );
    let o = browser(&format!("--screenshot={}", shot.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2000,
        "{} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("NER_TAG_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// `--resume` continues only what the same settings wrote: the run manifest beside `-o FILE`
/// (`.FILE.ner-tag.json`) or in `--output-dir` names the model and options; another strategy,
/// format or model, or a file no manifest vouches for, is refused in one line (exit 2) and the
/// output is left as it was.
#[test]
fn resume_refuses_an_output_written_with_other_settings() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(
        &input,
        "Angela Merkel met Barack Obama .\nParis and Berlin .\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let (i, o) = (input.display().to_string(), out.display().to_string());
    let model = tiny();
    let tag = |extra: &[&str]| {
        let mut a = vec!["-q", "-m", model.as_str(), "-o", o.as_str()];
        a.extend_from_slice(extra);
        a.push(i.as_str());
        run(&a, "")
    };
    assert!(tag(&["-a", "simple"]).status.success());
    let manifest = dir.path().join(".out.jsonl.ner-tag.json");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(m["aggregation"], "Simple", "{m}");
    // Keep the first record only, as a killed run would have left it.
    let whole = std::fs::read_to_string(&out).unwrap();
    let first = whole.lines().next().unwrap().to_string() + "\n";
    std::fs::write(&out, &first).unwrap();
    for (extra, needle) in [
        (
            &["-a", "first"][..],
            "was written with aggregation \"Simple\" (this run: \"First\")",
        ),
        (&["-a", "simple", "--byte-offsets"][..], "byte_offsets"),
        (&["-a", "simple", "--labels", "PER"][..], "filter"),
    ] {
        let mut a = extra.to_vec();
        a.push("--resume");
        let r = tag(&a);
        one_line_error(&r, 2, needle);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), first, "untouched");
    }
    // Another model (the built-in one).
    let r = run(
        &[
            "-q", "-m", "default", "-a", "simple", "-o", &o, "--resume", &i,
        ],
        "",
    );
    one_line_error(&r, 2, "was written with model");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first, "untouched");
    // The same settings (thread count aside) continue it to the uninterrupted output.
    let r = tag(&["-a", "simple", "-j", "1", "--resume"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), whole);
    // A file with records that no manifest vouches for.
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(&out, &first).unwrap();
    one_line_error(
        &tag(&["-a", "simple", "--resume"]),
        2,
        "has no readable run manifest",
    );
    // --output-dir: one manifest in the directory.
    let od = dir.path().join("tagged");
    let od_s = od.display().to_string();
    let r = run(&["-q", "-m", &model, "--output-dir", &od_s, &i], "");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(od.join(".ner-tag.json").is_file());
    let r = run(
        &[
            "-q",
            "-m",
            &model,
            "-a",
            "max",
            "--output-dir",
            &od_s,
            "--resume",
            &i,
        ],
        "",
    );
    one_line_error(&r, 2, "aggregation");
}
