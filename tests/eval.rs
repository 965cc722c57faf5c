//! `ner-tag eval` and the CoNLL / JSONL inputs: conlleval's layout and semantics on hand-worked
//! examples, seqeval's numbers on the reference predictions, and end-to-end F1 of the real
//! checkpoints on CoNLL-2003 validation.

mod common;

use std::process::Output;

use common::run;

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn data(name: &str) -> String {
    common::root()
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn conlleval_layout_on_hand_worked_examples() {
    // Expected reports worked out by hand (see the sentences in tests/data): a stray I-MISC after O
    // starts a new predicted entity; IOB1 and BIOES gold read with --scheme.
    for (file, scheme) in [("hand", "iob2"), ("iob1", "iob1"), ("bioes", "bioes")] {
        let got = stdout(&run(
            &[
                "eval",
                "--predictions",
                "--scheme",
                scheme,
                &data(&format!("{file}.conll")),
            ],
            "",
        ));
        let want = std::fs::read_to_string(data(&format!("{file}.conlleval.txt"))).unwrap();
        assert_eq!(got, want, "{file}");
    }
}

#[test]
fn seqeval_layout_on_hand_worked_example() {
    // What seqeval.metrics.classification_report(digits=4) prints for the same sentences.
    let want = "              precision    recall  f1-score   support

         LOC     0.0000    0.0000    0.0000         1
        MISC     0.5000    1.0000    0.6667         1
         ORG     1.0000    1.0000    1.0000         1
         PER     1.0000    1.0000    1.0000         1

   micro avg     0.6000    0.7500    0.6667         4
   macro avg     0.6250    0.7500    0.6667         4
weighted avg     0.6250    0.7500    0.6667         4
";
    assert_eq!(
        stdout(&run(
            &[
                "eval",
                "--predictions",
                "--report",
                "seqeval",
                &data("hand.conll")
            ],
            ""
        )),
        want
    );
}

#[test]
fn bad_gold_tags_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.conll");
    std::fs::write(&f, "John B-PER B-PER\nSmith X-PER I-PER\n").unwrap();
    let o = run(&["eval", "--predictions", f.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.conll:2:") && err.contains("X-PER"),
        "{err}"
    );
}

#[test]
fn reference_predictions_score_like_seqeval() {
    let Some(shared) = common::shared() else {
        eprintln!(
            "SKIPPED: ../shared is absent; seqeval parity on the reference predictions not checked"
        );
        return;
    };
    let file = shared.join("reference/bert-valid.words.conll");
    let out = stdout(&run(
        &["eval", "--predictions", "--json", file.to_str().unwrap()],
        "",
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f1 = |p: &serde_json::Value| format!("{:.4}", p["f1"].as_f64().unwrap());
    assert_eq!(f1(&v["micro"]), "0.8975");
    for (kind, want) in [
        ("LOC", "0.9302"),
        ("MISC", "0.8060"),
        ("ORG", "0.8380"),
        ("PER", "0.9534"),
    ] {
        assert_eq!(f1(&v["types"][kind]), want, "{kind}");
    }
    // seqeval's macro and weighted averages for the same file.
    assert_eq!(f1(&v["macro"]), "0.8819");
    assert_eq!(f1(&v["weighted"]), "0.8973");
}

/// `ner-tag eval --model` end to end on CoNLL-2003 validation, against the targets.
fn end_to_end(model: &str, tolerance: f64) {
    let Some(shared) = common::shared() else {
        eprintln!("SKIPPED: ../shared is absent; end-to-end F1 of {model} not checked");
        return;
    };
    let m = shared.join("models").join(model);
    let gold = shared.join("data/conll2003/valid.txt");
    let o = run(
        &[
            "eval",
            "-m",
            m.to_str().unwrap(),
            "--json",
            gold.to_str().unwrap(),
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let f1 = v["micro"]["f1"].as_f64().unwrap();
    eprintln!(
        "{model}: F1 {f1:.4}; {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    assert!((f1 - 0.8975).abs() <= tolerance, "{model}: F1 {f1}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("tokens/s"));
}

#[test]
fn bert_valid_f1() {
    end_to_end("bert-minilm-conll03", 0.0005);
}

#[test]
fn distilbert_valid_f1() {
    end_to_end("distilbert-minilm-conll03", 0.002);
}

#[test]
fn xlmr_valid_f1() {
    end_to_end("xlmr-minilm-conll03", 0.002);
}

fn tiny() -> String {
    common::fixture_model("tiny-bert").display().to_string()
}

#[test]
fn jsonl_input_passes_other_fields_through() {
    let input = "{\"id\": 7, \"body\": \"Wolfgang lives in Berlin\", \"meta\": {\"src\": \"x\"}}\n{\"id\": 8, \"body\": \"\"}\n";
    let out = stdout(&run(
        &[
            "-m",
            &tiny(),
            "--input-format",
            "jsonl",
            "--text-field",
            "body",
        ],
        input,
    ));
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["id"], 7);
    assert_eq!(recs[0]["meta"]["src"], "x");
    assert_eq!(recs[0]["body"], "Wolfgang lives in Berlin");
    assert!(recs[0]["entities"].is_array());
    assert_eq!(recs[1]["entities"], serde_json::json!([]));
    // Field order is kept: id, body, meta, then entities.
    assert!(out
        .lines()
        .next()
        .unwrap()
        .starts_with("{\"id\":7,\"body\":"));
}

#[test]
fn jsonl_input_errors_name_the_line() {
    for (input, needle) in [
        ("{\"text\": \"ok\"}\nnot json\n", "<stdin>:2: invalid JSON"),
        (
            "{\"text\": \"ok\"}\n{\"other\": 1}\n",
            "<stdin>:2: no field \"text\"",
        ),
        (
            "{\"text\": 5}\n",
            "<stdin>:1: field \"text\" is not a string",
        ),
        ("[1, 2]\n", "<stdin>:1: not a JSON object"),
    ] {
        // Reliability policy: an error record in the bad line's place, exit 3 at the end...
        let o = run(&["-m", &tiny(), "--input-format", "jsonl"], input);
        assert_eq!(o.status.code(), Some(3), "{input:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{err}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(out.lines().count(), input.lines().count(), "{out}");
        let (line, msg) = needle
            .trim_start_matches("<stdin>:")
            .split_once(": ")
            .unwrap();
        let bad: serde_json::Value = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r.get("error").is_some())
            .unwrap();
        // A line that parsed as an object keeps its fields (like a tagged record, no `line`);
        // anything else gets the bare {"line", "error"} record.
        let bad_input = input
            .lines()
            .nth(line.parse::<usize>().unwrap() - 1)
            .unwrap();
        match serde_json::from_str::<serde_json::Value>(bad_input) {
            Ok(serde_json::Value::Object(mut o)) => {
                o.insert("error".into(), bad["error"].clone());
                assert_eq!(bad, serde_json::Value::Object(o));
            }
            _ => assert_eq!(bad["line"].to_string(), line),
        }
        assert!(bad["error"].as_str().unwrap().starts_with(msg), "{bad}");
        // ...or, with --on-error fail, exit 1 at the first bad line.
        let o = run(
            &[
                "-m",
                &tiny(),
                "--input-format",
                "jsonl",
                "--on-error",
                "fail",
            ],
            input,
        );
        assert_eq!(o.status.code(), Some(1), "{input:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle));
    }
}

#[test]
fn conll_input_tags_the_given_tokens() {
    let input = "-DOCSTART- -X- O\n\nJohn NNP B-PER\nSmith-Jones NNP I-PER\nvisited VBD O\n\nBerlin NNP B-LOC\n";
    let conll = stdout(&run(
        &["-m", &tiny(), "--input-format", "conll", "-f", "conll"],
        input,
    ));
    let lines: Vec<&str> = conll.lines().collect();
    // conlleval's input: token gold predicted; a blank line after each sentence.
    assert_eq!(lines.len(), 6, "{conll}");
    for (line, (token, gold)) in lines.iter().filter(|l| !l.is_empty()).zip([
        ("John", "B-PER"),
        ("Smith-Jones", "I-PER"),
        ("visited", "O"),
        ("Berlin", "B-LOC"),
    ]) {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!((f[0], f[1]), (token, gold), "{line}");
        assert_eq!(f.len(), 3);
    }
    let jsonl = stdout(&run(&["-m", &tiny(), "--input-format", "conll"], input));
    let recs: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["text"], "John Smith-Jones visited");
    assert_eq!(recs[0]["line"], 3);
    assert_eq!(recs[1]["line"], 7);
    for r in &recs {
        let text = r["text"].as_str().unwrap();
        for e in r["entities"].as_array().unwrap() {
            let (s, t) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            let slice: String = text.chars().skip(s).take(t - s).collect();
            assert_eq!(slice, e["text"].as_str().unwrap());
            // Entities cover whole given tokens.
            assert!(s == 0 || text[..].chars().nth(s - 1) == Some(' '));
        }
    }
}

/// Word labels follow the first sub-token, as the reference's words.conll was made: the tagger's
/// word-level predictions equal the reference's predicted column token for token.
#[test]
fn word_predictions_match_the_reference_column() {
    let Some(shared) = common::shared() else {
        eprintln!("SKIPPED: ../shared is absent; word-level parity not checked");
        return;
    };
    let m = shared.join("models/bert-minilm-conll03");
    let gold = shared.join("data/conll2003/valid.txt");
    let ours = stdout(&run(
        &[
            "-m",
            m.to_str().unwrap(),
            "--input-format",
            "conll",
            "-f",
            "conll",
            gold.to_str().unwrap(),
        ],
        "",
    ));
    let reference =
        std::fs::read_to_string(shared.join("reference/bert-valid.words.conll")).unwrap();
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), reference.lines().collect());
    assert_eq!(a.len(), b.len());
    // Word lines only: the blank lines between sentences match trivially.
    let words = b.iter().filter(|l| !l.trim().is_empty()).count();
    assert!(words > 50_000, "{words} word lines");
    let same = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| !y.trim().is_empty() && x == y)
        .count();
    eprintln!("word-level lines identical: {same}/{words}");
    assert_eq!(same, words, "word lines differ from the reference");
}
