//! The reliability battery: hostile input, broken models, broken pipes and signals, each case
//! driving the real binary and asserting its records and exit status. Policy (README): one
//! record per input record, an error record in place of one that cannot be tagged, exit 3 then.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::run;
use serde_json::Value;

fn tiny() -> String {
    common::fixture_model("tiny-bert").display().to_string()
}

fn records(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("torn or invalid record {l:?}: {e}"))
        })
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every entity's offsets lie in the text, are ordered, and slice to its `text`.
fn check_offsets(rec: &Value) {
    let text: Vec<char> = rec["text"].as_str().unwrap().chars().collect();
    let mut last_end = 0;
    for e in rec["entities"].as_array().unwrap() {
        let (s, t) = (
            e["start"].as_u64().unwrap() as usize,
            e["end"].as_u64().unwrap() as usize,
        );
        assert!(s < t && t <= text.len(), "{e} out of {}", text.len());
        assert!(s >= last_end, "overlapping or unsorted: {rec}");
        last_end = t;
        assert_eq!(
            text[s..t].iter().collect::<String>(),
            e["text"].as_str().unwrap()
        );
    }
}

/// (line, text) of each record; error records as (line, "ERROR: …").
fn summary(o: &Output) -> Vec<(u64, String)> {
    records(o)
        .iter()
        .map(|r| {
            if let Some(e) = r.get("error") {
                (
                    r["line"].as_u64().unwrap(),
                    format!("ERROR: {}", e.as_str().unwrap()),
                )
            } else {
                check_offsets(r);
                (
                    r["line"].as_u64().unwrap(),
                    r["text"].as_str().unwrap().to_string(),
                )
            }
        })
        .collect()
}

fn lines(v: &[(u64, &str)]) -> Vec<(u64, String)> {
    v.iter().map(|(n, t)| (*n, t.to_string())).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn empty_input_gives_no_records() {
    let o = run(&["-m", &tiny()], "");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
}

#[test]
fn only_blank_lines_give_empty_records() {
    let o = run(&["-m", &tiny()], "\n\n\n");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&o), lines(&[(1, ""), (2, ""), (3, "")]));
    assert!(records(&o)
        .iter()
        .all(|r| r["entities"] == serde_json::json!([])));
}

#[test]
fn last_line_without_newline_is_a_record() {
    let o = run(&["-m", &tiny()], "Berlin\nParis");
    assert_eq!(summary(&o), lines(&[(1, "Berlin"), (2, "Paris")]));
}

#[test]
fn crlf_is_not_part_of_the_text() {
    let o = run(&["-m", &tiny(), "-a", "none"], "Berlin is big\r\nParis\r\n");
    assert_eq!(summary(&o), lines(&[(1, "Berlin is big"), (2, "Paris")]));
}

#[test]
fn bom_at_file_start_is_dropped_only_there() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bom.txt",
        "\u{feff}Berlin\n\u{feff}Paris\n".as_bytes(),
    );
    let o = run(&["-m", &tiny(), &f], "");
    assert_eq!(summary(&o), lines(&[(1, "Berlin"), (2, "\u{feff}Paris")]));
}

#[test]
fn invalid_utf8_mid_file_gives_an_error_record_and_exit_3() {
    let o = run(&["-m", &tiny()], "ok\nbad \u{0}\n");
    assert_eq!(o.status.code(), Some(0), "NUL is valid UTF-8");
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.txt", b"first\nbad \xff\xfe here\nthird\n");
    let o = run(&["-m", &tiny(), &f], "");
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        summary(&o),
        lines(&[
            (1, "first"),
            (2, "ERROR: invalid UTF-8 at byte 4"),
            (3, "third")
        ])
    );
    let err = stderr(&o);
    assert!(err.contains("bad.txt:2: invalid UTF-8 at byte 4"), "{err}");
    assert!(
        err.contains("1 input record(s) could not be tagged"),
        "{err}"
    );
}

#[test]
fn on_error_fail_stops_at_the_first_bad_line() {
    let o = run(
        &["-m", &tiny(), "--on-error", "fail"],
        "first\nsecond\nbad \u{0}\u{0}\n",
    );
    assert_eq!(o.status.code(), Some(0));
    let mut child_input = b"first\nsecond\nbad \xff\nlater\n".to_vec();
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "x.txt", &std::mem::take(&mut child_input));
    let o = run(&["-m", &tiny(), "--on-error", "fail", &f], "");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(summary(&o), lines(&[(1, "first"), (2, "second")]));
    assert!(stderr(&o).contains("x.txt:3: invalid UTF-8"));
}

#[test]
fn lossy_replaces_invalid_utf8_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "l.txt", b"Ber\xfflin x\n");
    let o = run(&["-m", &tiny(), "-a", "none", "--lossy", &f], "");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&o), lines(&[(1, "Ber\u{fffd}lin x")]));
}

#[test]
fn nul_bytes_and_control_characters_are_tagged() {
    let o = run(
        &["-m", &tiny(), "-a", "none"],
        "a\u{0}b\tc\u{1}d\u{7f} Berlin\n",
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&o), lines(&[(1, "a\u{0}b\tc\u{1}d\u{7f} Berlin")]));
}

#[test]
fn lone_surrogate_in_jsonl_is_an_error_record() {
    let o = run(
        &["-m", &tiny(), "--input-format", "jsonl"],
        "{\"text\": \"ok\"}\n{\"text\": \"\\ud800\"}\n{\"text\": \"fine\"}\n",
    );
    assert_eq!(o.status.code(), Some(3));
    let r = records(&o);
    assert_eq!(r.len(), 3);
    let err = r[1]["error"].as_str().unwrap();
    assert!(err.starts_with("invalid JSON"), "{err}"); // serde_json: a lone \\ud800 is an invalid escape
    assert_eq!(
        (r[0]["text"].as_str(), r[2]["text"].as_str()),
        (Some("ok"), Some("fine"))
    );
}

#[test]
fn invalid_json_lines_keep_their_place() {
    let o = run(
        &["-m", &tiny(), "--input-format", "jsonl"],
        "{\"text\": \"a\"}\n{oops\n{\"id\": 1}\n{\"text\": \"b\"}\n",
    );
    assert_eq!(o.status.code(), Some(3));
    let r = records(&o);
    assert_eq!(r.len(), 4);
    assert!(r[1]["error"].as_str().unwrap().starts_with("invalid JSON"));
    assert_eq!(r[2]["error"], "no field \"text\"");
    assert_eq!(r[3]["text"], "b");
}

#[test]
fn conll_sentence_with_ragged_columns_is_one_error_record() {
    let input = "John B-PER\nSmith I-PER extra\n\nBerlin B-LOC\n";
    let o = run(&["-m", &tiny(), "--input-format", "conll"], input);
    assert_eq!(o.status.code(), Some(3));
    let r = records(&o);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["line"], 2);
    assert!(r[0]["error"].as_str().unwrap().contains("3 columns"));
    assert_eq!(r[1]["text"], "Berlin");
}

#[test]
fn megabyte_line_without_spaces() {
    let line = "x".repeat(1 << 20);
    let o = run(&["-m", &tiny()], &format!("{line}\nBerlin\n"));
    assert_eq!(o.status.code(), Some(0));
    let r = records(&o);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["text"].as_str().unwrap().len(), 1 << 20);
    check_offsets(&r[0]);
}

#[test]
fn hundred_thousand_token_line_is_windowed_in_bounded_memory() {
    let line = "Berlin is a city . ".repeat(20_000); // 100k words
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "long.txt", line.as_bytes());
    let o = Command::new("/usr/bin/time")
        .args([
            "-f",
            "%M",
            env!("CARGO_BIN_EXE_ner-tag"),
            "-m",
            &tiny(),
            "-a",
            "simple",
            &f,
        ])
        .output();
    let Ok(o) = o else {
        return eprintln!("SKIPPED memory check: /usr/bin/time not available");
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = records(&o);
    assert_eq!(r.len(), 1);
    check_offsets(&r[0]);
    let last = r[0]["entities"]
        .as_array()
        .unwrap()
        .last()
        .map(|e| e["end"].as_u64().unwrap())
        .unwrap_or(0);
    assert!(
        last as usize > line.trim_end().chars().count() - 40,
        "entities stop at {last}"
    );
    let kb: u64 = stderr(&o)
        .trim()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(kb < 1_500_000, "peak memory {kb} KB for a 380 KB line");
}

#[test]
fn combining_marks_cjk_emoji_zwj_and_rtl_offsets_slice_exactly() {
    let input = "Zu\u{308}rich cafe\u{301}\n東京と北京で会議\n👨\u{200d}👩\u{200d}👧 family 🇩🇪\nمرحبا Berlin שלום\n";
    for a in ["none", "simple", "first", "average", "max"] {
        let o = run(&["-m", &tiny(), "-a", a], input);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(summary(&o).len(), 4); // summary checks every slice
        let ob = run(&["-m", &tiny(), "-a", a, "--byte-offsets"], input);
        for r in records(&ob) {
            let text = r["text"].as_str().unwrap();
            for e in r["entities"].as_array().unwrap() {
                let (s, t) = (
                    e["start"].as_u64().unwrap() as usize,
                    e["end"].as_u64().unwrap() as usize,
                );
                assert_eq!(&text[s..t], e["text"].as_str().unwrap());
            }
        }
    }
}

#[test]
fn punctuation_only_line() {
    let o = run(&["-m", &tiny()], "!!! ... ??? --- ,,,\n");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&o), lines(&[(1, "!!! ... ??? --- ,,,")]));
}

#[test]
fn special_tokens_typed_literally_are_text() {
    let o = run(
        &["-m", &tiny(), "-a", "none"],
        "[CLS] Berlin [SEP] <s> </s> [PAD] [MASK]\n",
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        summary(&o),
        lines(&[(1, "[CLS] Berlin [SEP] <s> </s> [PAD] [MASK]")])
    );
}

#[test]
fn directory_and_missing_files_get_error_records_and_the_rest_is_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.txt", b"Berlin\n");
    let missing = dir.path().join("missing.txt").display().to_string();
    let d = dir.path().display().to_string();
    let o = run(&["-m", &tiny(), &a, &missing, &d, &a], "");
    assert_eq!(o.status.code(), Some(3));
    let r = records(&o);
    assert_eq!(r.len(), 4);
    assert_eq!(
        (
            r[0]["file"].as_str().unwrap(),
            r[0]["text"].as_str().unwrap()
        ),
        (a.as_str(), "Berlin")
    );
    assert_eq!(r[1]["file"], missing.as_str());
    assert!(r[1]["error"].as_str().unwrap().contains("No such file"));
    assert_eq!(
        r[2]["error"],
        "is a directory (-r reads the files under it)"
    );
    assert_eq!(r[3]["text"], "Berlin");
    let err = stderr(&o);
    assert!(
        err.contains("missing.txt: No such file") && err.contains(": is a directory"),
        "{err}"
    );
}

#[test]
fn unreadable_source_is_an_error_record() {
    // /proc/self/mem cannot be read from offset 0, even by root.
    let o = run(&["-m", &tiny(), "/proc/self/mem", "-"], "Paris\n");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let r = records(&o);
    assert!(r[0].get("error").is_some(), "{:?}", r[0]);
    assert_eq!(r.last().unwrap()["text"], "Paris");
}

#[test]
fn closed_pipe_exits_quietly() {
    let mut child = common::ner_tag()
        .args(["-m", &tiny()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all("Berlin\n".repeat(5000).as_bytes());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn full_disk_is_an_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return eprintln!("SKIPPED: no /dev/full");
    };
    let o = common::ner_tag()
        .args(["-m", &tiny()])
        .stdin(Stdio::piped())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            let _ = c.stdin.take().unwrap().write_all(b"Berlin\n");
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "ner-tag: stdout: No space left on device (os error 28)"
    );
}

fn big_input(dir: &Path) -> PathBuf {
    let p = dir.join("big.txt");
    let text: String = (0..200_000)
        .map(|i| format!("Wolfgang lives in Berlin number {i}\n"))
        .collect();
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn sigint_mid_run_writes_whole_records_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let input = big_input(dir.path());
    let out = dir.path().join("out.jsonl");
    let mut child = common::ner_tag()
        .args(["-m", &tiny(), "--read-ahead", "64", input.to_str().unwrap()])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for some output, then interrupt.
    let started = std::time::Instant::now();
    while std::fs::metadata(&out).map_or(0, |m| m.len()) == 0 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    send_signal(child.id(), 2);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with('\n'), "torn last record");
    let n = text
        .lines()
        .inspect(|l| drop(serde_json::from_str::<Value>(l).unwrap()))
        .count();
    assert!(n > 0 && n < 200_000, "{n} records");
    // Records are whole and in order from the first line.
    assert_eq!(
        serde_json::from_str::<Value>(text.lines().last().unwrap()).unwrap()["line"],
        n
    );
}

#[test]
fn sigterm_while_waiting_for_input_exits_143() {
    let mut child = common::ner_tag()
        .args(["-m", &tiny()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"Berlin\n").unwrap(); // and keep the pipe open
    std::thread::sleep(std::time::Duration::from_millis(500));
    send_signal(child.id(), 15);
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(o.status.code(), Some(143));
    assert_eq!(
        records(&o).len(),
        1,
        "the line read before the signal is written"
    );
}

/// Starts ner-tag with `args` on `model`, writes `input` to its stdin from a thread and keeps
/// the pipe open for 30 s after (a live pipe: the run never sees the end of its input).
fn feeding(model: &str, args: &[&str], input: String) -> std::process::Child {
    let mut child = common::ner_tag()
        .args(["-m", model])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    child
}

/// One enormous line is one job of thousands of batches: a signal stops it between two of them.
#[test]
fn a_signal_stops_an_enormous_line_between_batches() {
    // 3 MB, one window per batch on one thread: tagging it takes ~9 s of CPU, far past the
    // signal; tokenizing it, a second or two (more on a loaded machine), cannot be interrupted.
    // Without the stop between batches the line is tagged and written: two records.
    let line = "Peter Smith lives in Berlin . ".repeat(100_000);
    let args = ["-a", "simple", "-j", "1", "--batch-size", "1"];
    let child = feeding(&tiny(), &args, format!("Berlin\n{line}\n"));
    std::thread::sleep(std::time::Duration::from_millis(4000));
    let t = std::time::Instant::now();
    send_signal(child.id(), 15);
    let o = child.wait_with_output().unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(secs < 10.0, "exited {secs:.1} s after SIGTERM");
    // The short line before it was written whole; the interrupted one is not written at all.
    let recs = records(&o);
    assert!(recs.len() <= 1, "{} records", recs.len());
}

/// One enormous line is tokenized and tagged a segment at a time: a signal stops it within a
/// second, even while its text is being tokenized (which took over a minute, whole), and it
/// gets no record (`--resume` tags it again).
#[test]
fn a_signal_stops_an_enormous_line_within_a_second() {
    // 12 MB: tagging it takes far longer than the 2 s before the signal, in either mode.
    let line = "Peter Smith lives in Berlin . ".repeat(400_000);
    for (signal, code, args) in [(15, 143, ["-a", "word"]), (2, 130, ["-a", "simple"])] {
        let child = feeding(
            &tiny(),
            &[&args[..], &["-j", "1"]].concat(),
            format!("Berlin\n{line}\n"),
        );
        std::thread::sleep(std::time::Duration::from_millis(2000));
        let t = std::time::Instant::now();
        send_signal(child.id(), signal);
        let o = child.wait_with_output().unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        // A batch or a segment is milliseconds; the bound leaves room for a loaded machine.
        assert!(
            secs < 1.5,
            "{args:?}: exited {secs:.2} s after signal {signal}"
        );
        let recs = records(&o);
        assert!(recs.len() <= 1, "{args:?}: {} records", recs.len());
        assert!(
            recs.iter().all(|r| r["text"] == "Berlin"),
            "{args:?}: the long line was written"
        );
    }
}

/// tiny-bert with a pre-tokenizer [`ner_tag::segment`] cannot prove safe to cut (a `Split`
/// regex before BERT's): its long lines are tokenized whole, which no signal interrupts.
fn whole_line_model(dir: &Path) -> String {
    let tiny = common::fixture_model("tiny-bert");
    for f in ["config.json", "model.safetensors", "tokenizer_config.json"] {
        std::fs::copy(tiny.join(f), dir.join(f)).unwrap();
    }
    let mut tok: Value =
        serde_json::from_str(&std::fs::read_to_string(tiny.join("tokenizer.json")).unwrap())
            .unwrap();
    tok["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed", "invert": false},
        {"type": "BertPreTokenizer"}]});
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    dir.display().to_string()
}

/// A line tokenized whole is one uninterruptible step: the first signal lets it finish, a
/// second one must not wait.
#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = whole_line_model(dir.path());
    for (first, second, code) in [(2, 2, 130), (15, 2, 130), (2, 15, 143)] {
        let line = "Peter Smith lives in Berlin . ".repeat(200_000);
        let child = feeding(&model, &["-a", "simple"], format!("{line}\n"));
        std::thread::sleep(std::time::Duration::from_millis(1500));
        send_signal(child.id(), first);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let t = std::time::Instant::now();
        send_signal(child.id(), second);
        let o = child.wait_with_output().unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "signal {second} after {first}: exited {:.1} s later",
            t.elapsed().as_secs_f64()
        );
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
    }
}

fn send_signal(pid: u32, signal: i32) {
    let ok = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn same_input_twice_is_byte_identical_across_threads() {
    let input = std::fs::read_to_string(common::root().join("tests/fixtures/inputs.txt")).unwrap();
    let a = run(&["-m", &tiny(), "-j", "1"], &input);
    let b = run(&["-m", &tiny(), "-j", "2"], &input);
    let c = run(&["-m", &tiny(), "-j", "2"], &input);
    for o in [&a, &b, &c] {
        assert!(o.status.success());
    }
    assert_eq!(
        a.stdout.iter().filter(|&&b| b == b'\n').count(),
        input.lines().count()
    );
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(b.stdout, c.stdout);
}

#[test]
fn conll_output_marks_error_records_as_comments() {
    let o = run(
        &["-m", &tiny(), "-f", "conll", "--input-format", "jsonl"],
        "{\"text\": \"Berlin\"}\nnope\n",
    );
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("\n\n# error: 2: invalid JSON"), "{out}");
}
