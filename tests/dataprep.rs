//! Data-prep options through the real binary: entity filters (`--labels`, `--ignore-labels`,
//! `--min-score`) and redaction (`-f redact`). The tiny fixture model has random weights and
//! labels many tokens, so every filter has plenty to drop.

mod common;

use std::process::Output;

use serde_json::Value;

fn tiny() -> String {
    common::fixture_model("tiny-bert").display().to_string()
}

const TEXT: &str = "My name is Wolfgang and I live in Berlin.\n\
Angela Merkel met Emmanuel Macron in Paris on Tuesday.\n\
The European Union and the United Nations signed a treaty in Geneva.\n\
Ünïcödé names like Zoë Ñúñez and 東京 also appear here 🙂 today.\n\
Apple, Google and Microsoft are companies in California and Washington.\n";

const STRATEGIES: &[&str] = &["word", "none", "simple", "first", "average", "max"];

fn tag(args: &[&str], stdin: &str) -> Output {
    let tiny = tiny();
    let mut all = vec!["-q", "-m", tiny.as_str()];
    all.extend_from_slice(args);
    common::run(&all, stdin)
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The entity type of a label: the raw tag's type with `-a none`.
fn kind(label: &str) -> &str {
    label.split_once('-').map_or(label, |(_, t)| t)
}

/// The unfiltered records with only the entities `keep` keeps.
fn filtered(unfiltered: &[Value], keep: &dyn Fn(&Value) -> bool) -> Vec<Value> {
    unfiltered
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let kept: Vec<Value> = r["entities"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| keep(e))
                .cloned()
                .collect();
            r["entities"] = Value::Array(kept);
            r
        })
        .collect()
}

fn entity_count(recs: &[Value]) -> usize {
    recs.iter()
        .map(|r| r["entities"].as_array().unwrap().len())
        .sum()
}

#[test]
fn filters_keep_exactly_what_they_say_in_every_strategy() {
    let mut dropped = 0;
    for &a in STRATEGIES {
        let all = records(&ok(&tag(&["-a", a], TEXT)));
        assert!(entity_count(&all) > 5, "-a {a}: the fixture labels little");
        let cases: Vec<(Vec<&str>, Box<dyn Fn(&Value) -> bool>)> = vec![
            (
                vec!["--labels", "PER,ORG"],
                Box::new(|e: &Value| matches!(kind(e["label"].as_str().unwrap()), "PER" | "ORG")),
            ),
            (
                vec!["--ignore-labels", "MISC"],
                Box::new(|e: &Value| kind(e["label"].as_str().unwrap()) != "MISC"),
            ),
            (
                vec!["--min-score", "0.3"],
                Box::new(|e: &Value| e["score"].as_f64().unwrap() as f32 >= 0.3),
            ),
            (
                vec![
                    "--labels",
                    "PER,LOC,MISC",
                    "--ignore-labels",
                    "LOC",
                    "--min-score",
                    "0.2",
                ],
                Box::new(|e: &Value| {
                    matches!(kind(e["label"].as_str().unwrap()), "PER" | "MISC")
                        && e["score"].as_f64().unwrap() as f32 >= 0.2
                }),
            ),
        ];
        for (flags, keep) in cases {
            let mut args = vec!["-a", a];
            args.extend_from_slice(&flags);
            let got = records(&ok(&tag(&args, TEXT)));
            let want = filtered(&all, keep.as_ref());
            assert_eq!(got, want, "-a {a} {flags:?}");
            dropped += entity_count(&all) - entity_count(&got);
        }
    }
    assert!(
        dropped > 0,
        "no filter dropped anything: the test proves nothing"
    );
}

#[test]
fn stats_count_only_the_kept_entities() {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    let stats_arg = stats.display().to_string();
    let out = ok(&tag(&["--labels", "PER", "--stats-json", &stats_arg], TEXT));
    let recs = records(&out);
    let n = entity_count(&recs);
    assert!(n > 0, "no PER entity: the test proves nothing");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(summary["entities"], n);
    let per_label = summary["entities_per_label"].as_object().unwrap();
    assert_eq!(per_label.keys().collect::<Vec<_>>(), ["PER"]);
    assert_eq!(per_label["PER"], n);
    // --stats on stderr names only the kept type.
    let o = tag(&["--labels", "PER", "--stats", "-f", "conll"], TEXT);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{n} entities: PER {n}")), "{err}");
}

/// Word tags of CoNLL output: (word, tag) per line, a blank line between records.
fn conll_tags(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (w, t) = l.rsplit_once(['\t', ' ']).unwrap();
            (w.to_string(), t.to_string())
        })
        .collect()
}

#[test]
fn conll_output_tags_the_words_of_dropped_entities_o() {
    let sentences = "Angela B-PER\nMerkel I-PER\nvisited O\nParis B-LOC\n.\tO\n\nThe O\nUnited B-ORG\nNations I-ORG\nmet O\nin O\nGeneva B-LOC\n\n";
    for (input, strategy) in [
        (TEXT, "word"),
        (TEXT, "none"),
        (TEXT, "first"),
        (sentences, "word"),
    ] {
        let fmt = if input == TEXT { "text" } else { "conll" };
        let base = ["--input-format", fmt, "-f", "conll", "-a", strategy];
        let all = conll_tags(&ok(&tag(&base, input)));
        let mut args = base.to_vec();
        args.extend(["--labels", "PER"]);
        let got = conll_tags(&ok(&tag(&args, input)));
        assert_eq!(got.len(), all.len(), "{fmt} -a {strategy}: the same words");
        let mut kept = 0;
        let mut zeroed = 0;
        for ((w, t), (w0, t0)) in got.iter().zip(&all) {
            assert_eq!(w, w0);
            if kind(t0) == "PER" && strategy == "none" {
                // `none` tags a word B- after an O word: only the type is kept for sure.
                assert_eq!(kind(t), "PER", "{fmt} -a {strategy}: {w}");
                kept += 1;
            } else if kind(t0) == "PER" {
                assert_eq!(t, t0, "{fmt} -a {strategy}: {w}");
                kept += 1;
            } else if strategy == "none" && kind(t) == "PER" {
                // With `none` each token is an entity: a word whose first token was dropped
                // takes the type of a later token of it that was kept.
                assert_ne!(t0, "O", "{fmt} -a {strategy}: {w}");
            } else {
                assert_eq!(t, "O", "{fmt} -a {strategy}: {w} was {t0}");
                zeroed += usize::from(t0 != "O");
            }
        }
        assert!(
            kept > 0 && zeroed > 0,
            "{fmt} -a {strategy}: {kept} kept, {zeroed} zeroed"
        );
    }
}

#[test]
fn unknown_types_and_bad_scores_are_usage_errors() {
    let o = tag(&["--labels", "PER,PERSON"], TEXT);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("PERSON") && err.contains("LOC, MISC, ORG, PER"),
        "{err}"
    );
    let o = tag(&["--ignore-labels", "B-PER"], TEXT);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for bad in ["1.5", "-0.1", "high", "NaN"] {
        let o = tag(&["--min-score", bad], TEXT);
        assert_eq!(o.status.code(), Some(2), "--min-score {bad}");
    }
}

#[test]
fn eval_refuses_filters_in_one_line() {
    let gold = common::root().join("tests/data/hand.conll");
    let gold = gold.display().to_string();
    for flags in [
        &["--labels", "PER"][..],
        &["--ignore-labels", "MISC"],
        &["--min-score", "0.5"],
    ] {
        let tiny = tiny();
        let mut args = vec!["eval", "-q", "-m", tiny.as_str(), gold.as_str()];
        args.extend_from_slice(flags);
        let o = common::run(&args, "");
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("eval scores every entity"), "{err}");
    }
}

/// A file with a BOM, CRLF and LF lines, an invalid-UTF-8 line, and a last line without an end.
fn messy_input() -> (Vec<u8>, Vec<(&'static str, &'static str, bool)>) {
    // (text, ending, bom) per valid line; line 3 is the invalid one.
    let lines = vec![
        ("Angela Merkel met Emmanuel Macron in Paris.", "\r\n", true),
        (
            "Zoë Ñúñez flew from 東京 to Berlin 🙂 with Angela Merkel.",
            "\n",
            false,
        ),
        ("Apple and Google hired Wolfgang in California.", "", false),
    ];
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(format!("{}\r\n{}\n", lines[0].0, lines[1].0).as_bytes());
    bytes.extend_from_slice(b"caf\xE9 au lait with Angela\n");
    bytes.extend_from_slice(lines[2].0.as_bytes());
    (bytes, lines)
}

/// `text` with the entities of its JSONL record replaced by `with(label, entity text)`.
fn redacted(text: &str, entities: &[Value], with: &dyn Fn(&str, &str) -> String) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut done = 0;
    for e in entities {
        let (s, t) = (
            e["start"].as_u64().unwrap() as usize,
            e["end"].as_u64().unwrap() as usize,
        );
        let s = s.max(done);
        if t <= s {
            continue;
        }
        out.extend(&chars[done..s]);
        let span: String = chars[s..t].iter().collect();
        out.push_str(&with(e["label"].as_str().unwrap(), &span));
        done = t;
    }
    out.extend(&chars[done..]);
    out
}

fn run_file(args: &[&str], file: &std::path::Path) -> Output {
    let f = file.display().to_string();
    let mut all = args.to_vec();
    all.push(&f);
    tag(&all, "")
}

#[test]
fn redaction_writes_every_byte_back_but_the_entities() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, lines) = messy_input();
    let input = dir.path().join("messy.txt");
    std::fs::write(&input, &bytes).unwrap();
    let jsonl = run_file(&["-f", "jsonl"], &input);
    assert_eq!(
        jsonl.status.code(),
        Some(3),
        "the invalid line is an error record"
    );
    let recs = records(&String::from_utf8(jsonl.stdout).unwrap());
    assert_eq!(recs.len(), 4);
    assert!(recs[2]["error"].is_string());
    let good = [&recs[0], &recs[1], &recs[3]];
    assert!(
        good.iter()
            .map(|r| r["entities"].as_array().unwrap().len())
            .sum::<usize>()
            > 3
    );
    type With = Box<dyn Fn(&str, &str) -> String>;
    let cases: Vec<(&str, With)> = vec![
        ("label", Box::new(|l, _| format!("[{l}]"))),
        ("mask", Box::new(|_, t| "█".repeat(t.chars().count()))),
        ("remove", Box::new(|_, _| String::new())),
    ];
    for (how, with) in cases {
        let o = run_file(&["-f", "redact", "--redact-with", how], &input);
        assert_eq!(
            o.status.code(),
            Some(3),
            "{how}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut want = Vec::new();
        for (i, (text, ending, bom)) in lines.iter().enumerate() {
            if i == 2 {
                // The invalid line's place: an error line, never the line itself.
                want.extend_from_slice(b"# error: 3: ");
                want.extend_from_slice(recs[2]["error"].as_str().unwrap().as_bytes());
                want.push(b'\n');
            }
            assert_eq!(good[i]["text"], *text);
            if *bom {
                want.extend_from_slice(b"\xEF\xBB\xBF");
            }
            let ents = good[i]["entities"].as_array().unwrap();
            want.extend_from_slice(redacted(text, ents, with.as_ref()).as_bytes());
            want.extend_from_slice(ending.as_bytes());
        }
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&want),
            "--redact-with {how}"
        );
        assert_eq!(o.stdout, want, "--redact-with {how}: byte for byte");
        assert!(
            !o.stdout.windows(4).any(|w| w == b"caf\xE9"),
            "{how}: the bad line passed through"
        );
    }
    // --on-error fail stops at the bad line, what came before written.
    let o = run_file(&["-f", "redact", "--on-error", "fail"], &input);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.matches('\n').count(), 2, "{out}");
    assert!(!out.contains("caf"));
}

#[test]
fn pseudonyms_are_stable_per_key_across_runs_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    std::fs::write(&a, "Angela Merkel met Emmanuel Macron in Paris.\n").unwrap();
    std::fs::write(&b, "In Paris, Emmanuel Macron thanked Angela Merkel.\n").unwrap();
    let hashed = |file: &std::path::Path, key: &str| {
        ok(&run_file(
            &["-f", "redact", "--redact-with", "hash", "--redact-key", key],
            file,
        ))
    };
    let first = hashed(&a, "k1");
    assert_eq!(first, hashed(&a, "k1"), "two runs, one key");
    // The key from the environment is the same key.
    let mut cmd = common::ner_tag();
    cmd.env("NER_TAG_REDACT_KEY", "k1");
    let tiny = tiny();
    let a_arg = a.display().to_string();
    let env = common::run_with(
        cmd,
        &[
            "-q",
            "-m",
            &tiny,
            "-f",
            "redact",
            "--redact-with",
            "hash",
            &a_arg,
        ],
        "",
    );
    assert_eq!(ok(&env), first);
    assert_ne!(first, hashed(&a, "k2"), "another key, other pseudonyms");
    // Exactly label + 6 hex digits of HMAC-SHA256(key, entity text), in both files.
    use hmac::{Hmac, Mac};
    let pseudonym = |key: &str, label: &str, text: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(text.as_bytes());
        let d = mac.finalize().into_bytes();
        format!("{label}_{:02x}{:02x}{:02x}", d[0], d[1], d[2])
    };
    for file in [&a, &b] {
        let recs = records(&ok(&run_file(&["-f", "jsonl"], file)));
        let ents = recs[0]["entities"].as_array().unwrap();
        assert!(!ents.is_empty());
        let text = recs[0]["text"].as_str().unwrap();
        for key in ["k1", "k2"] {
            let want = redacted(text, ents, &|l, t| pseudonym(key, l, t)) + "\n";
            assert_eq!(
                hashed(file, key),
                want,
                "{} --redact-key {key}",
                file.display()
            );
        }
    }
}

#[test]
fn redaction_usage_errors_and_output_dir() {
    let o = tag(&["-f", "redact", "--redact-with", "hash"], "Angela\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs a key"));
    for args in [
        &["-f", "redact", "--input-format", "conll"][..],
        &["--redact-entities"][..],
        &["-f", "redact", "--redact-entities"][..],
    ] {
        let o = tag(args, "Angela\n");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "Angela Merkel met Emmanuel Macron in Paris.\n").unwrap();
    let out_dir = dir.path().join("clean");
    let out_arg = out_dir.display().to_string();
    ok(&run_file(
        &["-f", "redact", "--output-dir", &out_arg],
        &input,
    ));
    let written = std::fs::read_to_string(out_dir.join("in.txt")).unwrap();
    assert!(
        written.contains('[') && written.ends_with('\n'),
        "{written}"
    );
    // --resume on a finished output adds nothing.
    ok(&run_file(
        &["-f", "redact", "--output-dir", &out_arg, "--resume"],
        &input,
    ));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("in.txt")).unwrap(),
        written
    );
}

/// JSONL input: the text field redacted in place (every other field as it was), `entities` at
/// offsets of the redacted text, untaggable objects written without their text, never dropped.
#[test]
fn jsonl_is_redacted_in_place() {
    let objects: Vec<Value> = TEXT
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::json!({"id": i, "body": l, "meta": {"src": "x", "n": [1, 2]}}))
        .collect();
    let mut input: String = objects.iter().map(|o| format!("{o}\n")).collect();
    input.push_str("{\"id\": 99, \"body\": 5}\nnot json\n");
    let plain = ok_or_3(&tag(
        &[
            "--input-format",
            "jsonl",
            "--text-field",
            "body",
            "-a",
            "simple",
        ],
        &input,
    ));
    let plain = records(&plain);
    for with in ["label", "mask", "remove"] {
        let out = ok_or_3(&tag(
            &[
                "--input-format",
                "jsonl",
                "--text-field",
                "body",
                "-a",
                "simple",
                "-f",
                "redact",
                "--redact-with",
                with,
                "--redact-entities",
            ],
            &input,
        ));
        let recs = records(&out);
        assert_eq!(
            recs.len(),
            objects.len() + 2,
            "{with}: one record per input line"
        );
        for (i, (got, orig)) in recs.iter().zip(&objects).enumerate() {
            assert_eq!(got["id"], orig["id"]);
            assert_eq!(got["meta"], orig["meta"], "other fields pass through");
            let ents = plain[i]["entities"].as_array().unwrap();
            let text = orig["body"].as_str().unwrap();
            let want = redacted(text, ents, &|label, span| match with {
                "label" => format!("[{label}]"),
                "mask" => "█".repeat(span.chars().count()),
                _ => String::new(),
            });
            let body = got["body"].as_str().unwrap();
            assert_eq!(body, want, "{with}, line {i}");
            // Offsets into the redacted text: each entity's span there is its replacement.
            let chars: Vec<char> = body.chars().collect();
            let listed = got["entities"].as_array().unwrap();
            assert_eq!(listed.len(), ents.len());
            for e in listed {
                let (s, t) = (
                    e["start"].as_u64().unwrap() as usize,
                    e["end"].as_u64().unwrap() as usize,
                );
                let span: String = chars[s..t].iter().collect();
                assert_eq!(e["text"].as_str().unwrap(), span);
                if with == "label" {
                    assert_eq!(span, format!("[{}]", e["label"].as_str().unwrap()));
                }
            }
        }
        // The untaggable object keeps its other fields but not its text; the bad line is named.
        let bad = &recs[objects.len()];
        assert_eq!(bad["id"], 99);
        assert!(
            bad.get("body").is_none() && bad["error"].is_string(),
            "{bad}"
        );
        let torn = &recs[objects.len() + 1];
        assert!(
            torn["error"].is_string() && torn.get("body").is_none(),
            "{torn}"
        );
        assert!(!out.contains("not json"));
    }
}

/// The output of a run that wrote error records (exit 3), or a failure.
fn ok_or_3(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// `-f label-studio`: one task per line whose predictions are exactly the JSONL entities.
#[test]
fn label_studio_tasks_carry_the_entities() {
    let plain = records(&ok(&tag(&["-a", "simple"], TEXT)));
    let tasks = records(&ok(&tag(&["-a", "simple", "-f", "label-studio"], TEXT)));
    assert_eq!(tasks.len(), plain.len());
    let mut regions = 0;
    for (task, rec) in tasks.iter().zip(&plain) {
        assert_eq!(task["data"]["text"], rec["text"]);
        let p = &task["predictions"][0];
        assert_eq!(p["model_version"], "tiny-bert");
        let result = p["result"].as_array().unwrap();
        let ents = rec["entities"].as_array().unwrap();
        assert_eq!(result.len(), ents.len());
        for (r, e) in result.iter().zip(ents) {
            assert_eq!(
                (r["from_name"].as_str(), r["to_name"].as_str()),
                (Some("label"), Some("text"))
            );
            assert_eq!(r["type"], "labels");
            let v = &r["value"];
            assert_eq!(
                (&v["start"], &v["end"], &v["text"]),
                (&e["start"], &e["end"], &e["text"])
            );
            assert_eq!(v["labels"], serde_json::json!([e["label"]]));
            assert_eq!(r["score"], e["score"]);
            regions += 1;
        }
        let ids: std::collections::HashSet<&str> =
            result.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), result.len(), "region ids are unique in a task");
    }
    assert!(regions > 10, "only {regions} regions");
    // Offsets are code points: the CJK and emoji line's regions still cut its text right.
    let line = &tasks[3];
    for r in line["predictions"][0]["result"].as_array().unwrap() {
        let text: Vec<char> = line["data"]["text"].as_str().unwrap().chars().collect();
        let (s, t) = (
            r["value"]["start"].as_u64().unwrap() as usize,
            r["value"]["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            text[s..t].iter().collect::<String>(),
            r["value"]["text"].as_str().unwrap()
        );
    }
    // Names of another labeling config; JSONL input keeps its fields in `data`; a record that
    // cannot be tagged is still a task, with the problem in `meta.error`.
    let input =
        "{\"id\": 1, \"body\": \"Angela Merkel met Emmanuel Macron in Paris.\"}\n{\"id\": 2}\n";
    let o = tag(
        &[
            "-f",
            "label-studio",
            "--input-format",
            "jsonl",
            "--text-field",
            "body",
            "--ls-from-name",
            "ner",
            "--ls-to-name",
            "doc",
        ],
        input,
    );
    assert_eq!(o.status.code(), Some(3));
    let tasks = records(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["data"]["id"], 1);
    assert!(tasks[0]["data"]["body"]
        .as_str()
        .unwrap()
        .starts_with("Angela"));
    for r in tasks[0]["predictions"][0]["result"].as_array().unwrap() {
        assert_eq!(
            (r["from_name"].as_str(), r["to_name"].as_str()),
            (Some("ner"), Some("doc"))
        );
    }
    assert_eq!(tasks[1]["data"]["id"], 2);
    assert_eq!(tasks[1]["data"]["body"], "");
    assert!(
        tasks[1]["meta"]["error"].as_str().unwrap().contains("body"),
        "{}",
        tasks[1]
    );
}

/// `-f spans`: tokens cut the text, spans sit on whole tokens without overlapping; in word mode
/// (entities on word boundaries) the spans are exactly the entities.
#[test]
fn spans_are_token_aligned_and_equal_word_mode_entities() {
    for strategy in STRATEGIES {
        let plain = records(&ok(&tag(&["-a", strategy], TEXT)));
        let tasks = records(&ok(&tag(&["-a", strategy, "-f", "spans"], TEXT)));
        assert_eq!(tasks.len(), plain.len());
        for (task, rec) in tasks.iter().zip(&plain) {
            assert_eq!(task["text"], rec["text"]);
            let chars: Vec<char> = task["text"].as_str().unwrap().chars().collect();
            let tokens = task["tokens"].as_array().unwrap();
            assert!(!tokens.is_empty());
            let span_of = |v: &Value| {
                (
                    v["start"].as_u64().unwrap() as usize,
                    v["end"].as_u64().unwrap() as usize,
                )
            };
            for (i, t) in tokens.iter().enumerate() {
                let (s, e) = span_of(t);
                assert_eq!(
                    chars[s..e].iter().collect::<String>(),
                    t["text"].as_str().unwrap()
                );
                assert_eq!(t["id"], i);
            }
            // As spaCy's Doc: the tokens and their trailing spaces are the text itself.
            let rebuilt: String = tokens
                .iter()
                .map(|t| {
                    let ws = if t["ws"].as_bool().unwrap() { " " } else { "" };
                    format!("{}{ws}", t["text"].as_str().unwrap())
                })
                .collect();
            assert_eq!(rebuilt, task["text"].as_str().unwrap());
            let spans = task["spans"].as_array().unwrap();
            let mut last_end = None;
            for sp in spans {
                let (a, b) = (
                    sp["token_start"].as_u64().unwrap() as usize,
                    sp["token_end"].as_u64().unwrap() as usize,
                );
                assert!(a <= b && b < tokens.len());
                assert_eq!(span_of(sp), (span_of(&tokens[a]).0, span_of(&tokens[b]).1));
                assert!(last_end.is_none_or(|l| l < a), "spans overlap: {sp}");
                last_end = Some(b);
            }
            if *strategy == "word" {
                let want: Vec<(u64, u64, &str)> = rec["entities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            e["start"].as_u64().unwrap(),
                            e["end"].as_u64().unwrap(),
                            e["label"].as_str().unwrap(),
                        )
                    })
                    .collect();
                let got: Vec<(u64, u64, &str)> = spans
                    .iter()
                    .map(|e| {
                        (
                            e["start"].as_u64().unwrap(),
                            e["end"].as_u64().unwrap(),
                            e["label"].as_str().unwrap(),
                        )
                    })
                    .collect();
                assert_eq!(got, want, "{}", rec["text"]);
            }
        }
    }
}

/// `-f spacy`: one zlib-compressed msgpack DocBin (as spaCy's `DocBin.to_bytes`) holding a Doc per
/// input line — the `-f spans` tokens (ORTH = spaCy's string id of the text, trailing spaces), the
/// `-f spans` spans as ENT_IOB/ENT_TYPE, the line number in `user_data` — and an empty Doc
/// with the error for a line that cannot be tagged. (`scripts/clients-check.sh` loads the file
/// with spaCy itself.)
#[test]
fn spacy_docbin_holds_a_doc_per_line_with_the_spans_as_entities() {
    use ner_tag::output::docbin::string_id;
    use rmpv::Value as M;
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut input = TEXT.as_bytes().to_vec();
    input.extend_from_slice(b"bad \xff byte\nlast line in Rome\n");
    let input_path = dir.path().join("in.txt");
    std::fs::write(&input_path, &input).unwrap();
    for strategy in ["word", "none", "simple"] {
        let out = dir.path().join(format!("{strategy}.spacy"));
        let o = run_file(
            &["-a", strategy, "-f", "spacy", "-o", out.to_str().unwrap()],
            &input_path,
        );
        assert_eq!(
            o.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.stdout.is_empty());
        let tasks = records(&ok_or_3(&run_file(
            &["-a", strategy, "-f", "spans"],
            &input_path,
        )));
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(std::fs::File::open(&out).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        let msg = rmpv::decode::read_value(&mut raw.as_slice()).unwrap();
        let get = |k: &str| -> &M {
            msg.as_map()
                .unwrap()
                .iter()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {k}"))
        };
        assert_eq!(get("version").as_str(), Some("0.1"));
        let attrs: Vec<u64> = get("attrs")
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(attrs, [65, 77, 78], "ORTH, ENT_IOB, ENT_TYPE");
        let lengths: Vec<usize> = get("lengths")
            .as_slice()
            .unwrap()
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as usize)
            .collect();
        let words: Vec<u64> = get("tokens")
            .as_slice()
            .unwrap()
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let spaces = get("spaces").as_slice().unwrap();
        let strings: Vec<&str> = get("strings")
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let user: Vec<M> = get("user_data")
            .as_array()
            .unwrap()
            .iter()
            .map(|v| rmpv::decode::read_value(&mut v.as_slice().unwrap()).unwrap())
            .collect();
        assert_eq!(
            lengths.len(),
            tasks.len(),
            "a Doc per line, the bad one included"
        );
        assert_eq!(user.len(), tasks.len());
        assert_eq!(get("flags").as_array().unwrap().len(), tasks.len());
        let mut at = 0;
        for (i, (task, &n)) in tasks.iter().zip(&lengths).enumerate() {
            let field = |k: &str| {
                user[i]
                    .as_map()
                    .unwrap()
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(k))
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(
                field("line").and_then(|v| v.as_u64()),
                task["meta"]["line"].as_u64()
            );
            let tokens = task["tokens"].as_array().unwrap();
            if task["meta"].get("error").is_some() {
                assert_eq!(n, 0);
                assert!(field("error").is_some_and(|e| e.as_str().is_some_and(|s| !s.is_empty())));
                continue;
            }
            assert_eq!(n, tokens.len());
            let mut iob = vec![(2u64, 0u64); n];
            for sp in task["spans"].as_array().unwrap() {
                let (a, b) = (
                    sp["token_start"].as_u64().unwrap() as usize,
                    sp["token_end"].as_u64().unwrap() as usize,
                );
                let label = sp["label"].as_str().unwrap();
                assert!(strings.contains(&label));
                for (k, slot) in iob[a..=b].iter_mut().enumerate() {
                    *slot = (if k == 0 { 3 } else { 1 }, string_id(label));
                }
            }
            for (j, t) in tokens.iter().enumerate() {
                let text = t["text"].as_str().unwrap();
                let row = &words[(at + j) * 3..(at + j) * 3 + 3];
                assert_eq!(row[0], string_id(text), "ORTH of {text:?}");
                assert_eq!(
                    (row[1], row[2]),
                    iob[j],
                    "{strategy}: token {j} of {:?}",
                    task["text"]
                );
                assert_eq!(spaces[at + j] == 1, t["ws"].as_bool().unwrap());
                assert!(strings.contains(&text));
            }
            at += n;
        }
        assert_eq!(at * 3, words.len());
    }
    // No appending to one compressed block; no binary on a terminal is checked by hand.
    let o = tag(
        &[
            "-f",
            "spacy",
            "--resume",
            "-o",
            dir.path().join("r.spacy").to_str().unwrap(),
        ],
        "x\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("a .spacy file is one compressed block"));
}
