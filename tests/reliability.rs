//! Reliability through the real binary: an output never writes over an input, an empty window
//! never reaches a kernel, an output belongs to one run (a second run on it is refused, the
//! first run's bytes untouched), file names are bytes, CoNLL lines stay lines, and a signal during
//! model loading has its default effect.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{ner_tag as bin, run};

fn tiny() -> String {
    common::fixture_model("tiny-bert").display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit `code` with one line on stderr holding `needle`.
fn one_line_error(o: &Output, code: i32, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    assert!(e.contains(needle), "{needle:?} not in {e}");
}

fn records(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).display().to_string();
    let text = "Angela Merkel lives in Berlin\n";
    std::fs::write(p("in.txt"), text).unwrap();
    std::fs::hard_link(p("in.txt"), p("hard.txt")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(p("in.txt"), p("soft.txt")).unwrap();
    std::fs::create_dir(p("corpus")).unwrap();
    std::fs::write(p("corpus/a.txt"), text).unwrap();
    let m = tiny();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["-o".into(), p("in.txt"), p("in.txt")], "--output"),
        (vec!["-o".into(), p("hard.txt"), p("in.txt")], "--output"),
        #[cfg(unix)]
        (vec!["-o".into(), p("soft.txt"), p("in.txt")], "--output"),
        (
            vec!["-o".into(), p("in.txt"), "--resume".into(), p("in.txt")],
            "--output",
        ),
        (
            vec!["--stats-json".into(), p("in.txt"), p("in.txt")],
            "--stats-json",
        ),
        (
            vec![
                "--stats-json".into(),
                p("soft.txt"),
                "-o".into(),
                p("o.jsonl"),
                p("in.txt"),
            ],
            "--stats-json",
        ),
        (
            vec!["-r".into(), "-o".into(), p("corpus/a.txt"), p("corpus")],
            "--output",
        ),
        (
            vec![
                "-o".into(),
                p("o.jsonl"),
                "--stats-json".into(),
                p("o.jsonl"),
                p("in.txt"),
            ],
            "--stats-json",
        ),
    ];
    for (args, option) in cases {
        let o = bin().args(["-m", &m]).args(&args).output().unwrap();
        one_line_error(&o, 2, option);
        assert!(!o.stderr.is_empty() && o.stdout.is_empty(), "{args:?}");
        assert_eq!(
            std::fs::read_to_string(p("in.txt")).unwrap(),
            text,
            "{args:?}"
        );
        assert_eq!(std::fs::read_to_string(p("corpus/a.txt")).unwrap(), text);
        assert!(
            !Path::new(&p("o.jsonl")).exists(),
            "{args:?}: nothing created"
        );
    }
    // Stdin redirected from the output file is the same file.
    let o = bin()
        .args(["-m", &m, "-o", &p("in.txt")])
        .stdin(std::fs::File::open(p("in.txt")).unwrap())
        .output()
        .unwrap();
    one_line_error(&o, 2, "refusing to write over it");
    assert_eq!(std::fs::read_to_string(p("in.txt")).unwrap(), text);
    // `-` from a pipe, and another file, are fine.
    let o = run(&["-m", &m, "-o", &p("o.jsonl"), "-"], text);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(records(&std::fs::read(p("o.jsonl")).unwrap()).len(), 1);
}

/// tiny-bert with `"post_processor": null`: no special tokens, so an empty line has no tokens.
fn no_specials_model(dir: &Path) -> String {
    let src = common::fixture_model("tiny-bert");
    for f in ["config.json", "model.safetensors", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("tokenizer.json")).unwrap())
            .unwrap();
    tok["post_processor"] = serde_json::Value::Null;
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    dir.display().to_string()
}

#[test]
fn empty_and_blank_lines_get_empty_records_on_every_backend() {
    let d = tempfile::tempdir().unwrap();
    let model = no_specials_model(d.path());
    let input = "Angela Merkel met Barack Obama in Berlin\n\n   \n\t\nParis\n\n";
    for backend in ["native", "candle"] {
        for aggregation in ["word", "simple", "none", "first"] {
            let what = format!("{backend}, -a {aggregation}");
            let o = run(
                &[
                    "-m",
                    &model,
                    "--backend",
                    backend,
                    "-a",
                    aggregation,
                    "-b",
                    "2",
                ],
                input,
            );
            assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
            let recs = records(&o.stdout);
            assert_eq!(recs.len(), 6, "{what}");
            for (i, r) in recs.iter().enumerate() {
                assert_eq!(r["line"], i + 1, "{what}");
                if input.lines().nth(i).unwrap().trim().is_empty() {
                    assert_eq!(
                        r["entities"],
                        serde_json::json!([]),
                        "{what}: line {}",
                        i + 1
                    );
                }
            }
            // Only empty lines: nothing at all reaches the model.
            let o = run(
                &["-m", &model, "--backend", backend, "-a", aggregation],
                "\n\n \n",
            );
            assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
            assert_eq!(records(&o.stdout).len(), 3, "{what}");
        }
        let o = run(&["-m", &model, "--backend", backend, "-f", "conll"], input);
        assert_eq!(o.status.code(), Some(0), "{backend}, conll: {}", stderr(&o));
    }
    // JSONL input with an empty text field, and the stats of such a run.
    let o = run(
        &["-m", &model, "--input-format", "jsonl", "--stats"],
        "{\"text\":\"\"}\n{\"text\":\"Berlin\"}\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(records(&o.stdout)[0]["entities"], serde_json::json!([]));
}

/// The same through the library, in both run loops (whole batches side by side, as on the CPU,
/// and batches queued one after another, as on a GPU), on both backends.
#[test]
fn a_tagger_never_runs_a_window_of_no_tokens() {
    use ner_tag::runtime::{Backend, DeviceChoice, Quantize, Runtime};
    let d = tempfile::tempdir().unwrap();
    let model = no_specials_model(d.path());
    for backend in [Backend::Native, Backend::Candle] {
        for parallel in [true, false] {
            let rt = Runtime::open(DeviceChoice::Cpu, Some(backend), Quantize::None, None).unwrap();
            let opts = ner_tag::config::TagOptions::default();
            let mut tagger = ner_tag::pipeline::load_tagger(Path::new(&model), &rt, &opts).unwrap();
            tagger.batching.parallel_batches = parallel;
            let what = format!("{backend:?}, parallel {parallel}");
            let none = tagger.tag(&["", " ", "\t\t"]).expect(&what);
            assert!(none.iter().all(Vec::is_empty), "{what}");
            let mixed = tagger
                .tag(&["", "Angela Merkel met Barack Obama in Berlin", ""])
                .expect(&what);
            assert_eq!(mixed.len(), 3, "{what}");
            assert!(mixed[0].is_empty() && mixed[2].is_empty(), "{what}");
        }
    }
}

/// A run of ner-tag reading stdin that the test keeps open: it cannot finish until released.
struct Held {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
}

impl Held {
    fn start(args: &[String]) -> Self {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    fn feed(&mut self, text: &str) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(text.as_bytes()).unwrap();
        s.flush().unwrap();
    }

    /// Closes stdin: the run finishes.
    fn finish(mut self) -> Output {
        drop(self.stdin.take());
        self.child.wait_with_output().unwrap()
    }
}

/// Waits until `path` exists and holds `lines` newlines (the run wrote them), for up to 60 s;
/// a file just made is given time to be locked as well.
fn wait_for_lines(path: &Path, lines: usize) {
    let start = Instant::now();
    loop {
        let n = std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count());
        if n.as_ref().is_ok_and(|&n| n >= lines) {
            if lines == 0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}: {n:?}, not {lines} lines after 60 s",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| format!("Line {i}: Angela Merkel met Barack Obama in Berlin .\n"))
        .collect()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `-o FILE`: while a first run (with or without --resume) writes it, a second (with or without
/// --resume, before or after the first has written records) is refused in one line, exit 1, and
/// the first run's file ends as an uncontended run's.
#[test]
fn a_second_run_on_the_same_output_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny();
    let input = d.path().join("in.txt");
    std::fs::write(&input, lines(0..20)).unwrap();
    let text = lines(0..40);
    let want = run(&["-m", &m], &text).stdout;
    assert_eq!(records(&want).len(), 40);
    for (k, first_resumes) in [false, true].into_iter().enumerate() {
        let out = d.path().join(format!("out{k}.jsonl"));
        let o = out.display().to_string();
        let mut first_args = strings(&["-m", &m, "-o", &o]);
        if first_resumes {
            first_args.push("--resume".into());
        }
        let mut first = Held::start(&first_args);
        // Refused whether the first run has written nothing yet or some records.
        for (written, part) in [(0, 0..0), (20, 0..20)] {
            first.feed(&lines(part));
            wait_for_lines(&out, written);
            for second_resumes in [false, true] {
                let before = std::fs::read(&out).unwrap();
                let mut args = strings(&["-m", &m, "-o", &o, input.to_str().unwrap()]);
                if second_resumes {
                    args.push("--resume".into());
                }
                let second = bin().args(&args).output().unwrap();
                one_line_error(&second, 1, "another ner-tag process is writing");
                assert!(second
                    .stderr
                    .starts_with(format!("ner-tag: {o}").as_bytes()));
                assert_eq!(std::fs::read(&out).unwrap(), before, "{args:?}");
            }
        }
        first.feed(&lines(20..40));
        let done = first.finish();
        assert!(done.status.success(), "{}", stderr(&done));
        assert!(
            std::fs::read(&out).unwrap() == want,
            "first run's output changed"
        );
    }
}

#[cfg(unix)]
fn fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// `--output-dir`: a first run has finished one file and is writing a second (its input a pipe
/// the test holds open); second runs over the same folder — on the finished file's input or the
/// pipe's, with or without --resume — are refused, and nothing the first wrote changes.
#[cfg(unix)]
#[test]
fn a_second_run_on_the_same_output_dir_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny();
    let src = d.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let a = src.join("a.txt");
    std::fs::write(&a, lines(0..30)).unwrap();
    let fresh = d.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    std::fs::write(fresh.join("a.txt"), lines(0..30)).unwrap();
    std::fs::write(fresh.join("slow.txt"), lines(100..130)).unwrap();
    let want_dir = d.path().join("want");
    let o = bin()
        .args(["-m", &m, "-r", "--output-dir", want_dir.to_str().unwrap()])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for (k, first_resumes) in [false, true].into_iter().enumerate() {
        let slow = src.join(format!("slow{k}.txt"));
        fifo(&slow);
        let out = d.path().join(format!("out{k}"));
        let od = out.display().to_string();
        let mut args = strings(&["-m", &m, "--output-dir", &od]);
        if first_resumes {
            args.push("--resume".into());
        }
        let first = bin()
            .args(&args)
            .arg(&a)
            .arg(&slow)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Blocks until the first run has finished a.txt and opened the pipe.
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&slow).unwrap();
        pipe.write_all(lines(100..115).as_bytes()).unwrap();
        pipe.flush().unwrap();
        let slow_out = out.join(format!("slow{k}.jsonl"));
        wait_for_lines(&slow_out, 15);
        let snapshot =
            || [out.join("a.jsonl"), slow_out.clone()].map(|p| std::fs::read(p).unwrap());
        let before = snapshot();
        for input in [&a, &slow] {
            for second_resumes in [false, true] {
                let mut cmd = bin();
                cmd.args(["-m", &m, "--output-dir", &od]).arg(input);
                if second_resumes {
                    cmd.arg("--resume");
                }
                // The pipe is given only under --resume, which locks before reading inputs.
                if input == &slow && !second_resumes {
                    continue;
                }
                let second = cmd.output().unwrap();
                one_line_error(&second, 1, "another ner-tag process is writing");
                assert!(snapshot() == before, "{input:?} resume={second_resumes}");
            }
        }
        pipe.write_all(lines(115..130).as_bytes()).unwrap();
        drop(pipe);
        let done = first.wait_with_output().unwrap();
        assert!(done.status.success(), "{}", stderr(&done));
        assert!(
            std::fs::read(out.join("a.jsonl")).unwrap()
                == std::fs::read(want_dir.join("a.jsonl")).unwrap()
        );
        assert!(
            std::fs::read(&slow_out).unwrap()
                == std::fs::read(want_dir.join("slow.jsonl")).unwrap()
        );
        // Once the first run is over, the folder is free again: --resume keeps it all.
        let again = bin()
            .args(["-m", &m, "--output-dir", &od, "--resume"])
            .arg(&a)
            .output()
            .unwrap();
        assert!(again.status.success(), "{}", stderr(&again));
        assert!(
            std::fs::read(out.join("a.jsonl")).unwrap()
                == std::fs::read(want_dir.join("a.jsonl")).unwrap()
        );
        std::fs::remove_file(&slow).unwrap();
    }
}

/// `--stats-json`: locked for the run (a held lock refuses the run before the output is
/// touched), written through a temporary file of its own, which does not stay behind.
#[test]
fn stats_json_is_locked_and_replaced_whole() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny();
    let stats = d.path().join("stats.json");
    let out = d.path().join("out.jsonl");
    std::fs::write(&out, "kept\n").unwrap();
    let holder = std::fs::File::create(&stats).unwrap();
    holder.try_lock().unwrap();
    let args = [
        "-m",
        &m,
        "--stats-json",
        stats.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    let o = run(&args, "Berlin\n");
    one_line_error(&o, 1, "another ner-tag process is writing");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept\n");
    drop(holder);
    // The -o file held: the stats file this run created is removed again.
    std::fs::remove_file(&stats).unwrap();
    let holder = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
    holder.try_lock().unwrap();
    let o = run(&args, "Berlin\n");
    one_line_error(&o, 1, "another ner-tag process is writing");
    assert!(!stats.exists(), "an empty stats file left behind");
    drop(holder);
    let o = run(&args, "Berlin\nParis\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(s["records"], 2);
    // (Beside the output, its run manifest `.out.jsonl.ner-tag.json`, which `--resume` checks.)
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".out.jsonl.ner-tag.json")
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&stats),
            mode(&out),
            "permissions of a file made as any other"
        );
    }
    // Devices are written to, not replaced or locked.
    #[cfg(unix)]
    {
        let o = run(
            &["-m", &m, "--stats-json", "/dev/null", "-o", "/dev/null"],
            "Berlin\n",
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[cfg(unix)]
fn odd_names(dir: &Path) -> [PathBuf; 2] {
    use std::os::unix::ffi::OsStrExt;
    let odd = dir.join("oddn");
    std::fs::create_dir_all(&odd).unwrap();
    let names = [b"caf\xe9.txt".as_slice(), b"caf\xe8.txt".as_slice()]
        .map(|n| odd.join(std::ffi::OsStr::from_bytes(n)));
    std::fs::write(&names[0], "Angela Merkel lives in Berlin\n").unwrap();
    std::fs::write(&names[1], "Paris\nBarack Obama\n").unwrap();
    names
}

/// Non-UTF-8 file names are read given directly and under -r; their records keep the lossy
/// name in `file` and the raw bytes in `file_bytes`, which tells them apart.
#[cfg(unix)]
#[test]
fn file_names_are_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let m = tiny();
    let names = odd_names(d.path());
    let direct = bin().args(["-m", &m]).args(&names).output().unwrap();
    let walked = bin()
        .args(["-m", &m, "-r"])
        .arg(d.path().join("oddn"))
        .output()
        .unwrap();
    for (what, o, order) in [("direct", &direct, [0, 1]), ("-r", &walked, [1, 0])] {
        assert!(o.status.success(), "{what}: {}", stderr(o));
        let recs = records(&o.stdout);
        assert_eq!(recs.len(), 3, "{what}");
        let mut seen = Vec::new();
        for r in &recs {
            let file = r["file"].as_str().unwrap();
            assert!(file.ends_with("caf\u{FFFD}.txt"), "{what}: {file}");
            let bytes: Vec<u8> = r["file_bytes"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no file_bytes in {r}"))
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect();
            if seen.last() != Some(&bytes) {
                seen.push(bytes);
            }
        }
        // In -r's name order \xe8 comes first.
        let want: Vec<Vec<u8>> = order
            .iter()
            .map(|&i| names[i].as_os_str().as_bytes().to_vec())
            .collect();
        assert_eq!(seen, want, "{what}");
    }
    // A UTF-8 name has no file_bytes.
    let plain = d.path().join("plain.txt");
    std::fs::write(&plain, "Berlin\n").unwrap();
    let o = bin()
        .args(["-m", &m])
        .arg(&plain)
        .arg(&names[0])
        .output()
        .unwrap();
    let recs = records(&o.stdout);
    assert!(recs[0].get("file_bytes").is_none() && recs[1].get("file_bytes").is_some());
    // --output-dir writes each under its own (byte) name; a missing one is named lossily.
    let out = d.path().join("out");
    let o = bin()
        .args(["-m", &m, "-r", "--output-dir"])
        .arg(&out)
        .arg(d.path().join("oddn"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Two outputs and the run manifest `.ner-tag.json`.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    assert!(out.join(".ner-tag.json").is_file());
    let missing = d.path().join(std::ffi::OsStr::from_bytes(b"gone\xff.txt"));
    let o = bin().args(["-m", &m]).arg(&missing).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("gone\u{FFFD}.txt"), "{}", stderr(&o));
}

/// CoNLL output: a label or a file name holding a newline is escaped, so every record stays one
/// block of lines (what `--resume` counts).
#[test]
fn conll_lines_stay_lines() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("model");
    std::fs::create_dir(&model).unwrap();
    let src = common::fixture_model("tiny-bert");
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(src.join(f), model.join(f)).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    for (_, label) in cfg["id2label"].as_object_mut().unwrap() {
        let l = label.as_str().unwrap().to_string();
        *label = format!("{l}\nx y").into();
    }
    std::fs::write(model.join("config.json"), cfg.to_string()).unwrap();
    let a = d.path().join("a\nb.txt");
    let b = d.path().join("c.txt");
    std::fs::write(&a, b"Angela Merkel met Barack Obama in Berlin\n\xff\n\n").unwrap();
    std::fs::write(&b, "Paris\n").unwrap();
    let o = bin()
        .args(["-m", model.to_str().unwrap(), "-f", "conll", "-a", "none"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    // 4 records (a sentence, an error, an empty line, a sentence), as --resume counts them.
    let done =
        ner_tag::output::resume::complete_records(out.as_bytes(), ner_tag::output::Format::Conll);
    assert_eq!((done.records, done.bytes as usize), (4, out.len()), "{out}");
    for line in out.lines().filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with("# error: ") || line.split('\t').count() == 2 && !line.contains(' '),
            "{line:?}"
        );
    }
    assert!(out.contains("\\nx\\u{0020}y"), "{out}");
    assert!(out.contains("a\\nb.txt:2: "), "{out}");
}

/// A signal while the model loads (here a hub download that never answers) has its default
/// effect: the process ends at once, killed by it.
#[cfg(unix)]
#[test]
fn a_signal_during_model_loading_stops_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let mut child = bin()
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", &endpoint)
        .args(["-m", "nobody/never-answers"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the download has begun (the connection arrives), then stop it.
    let (_conn, _) = listener.accept().unwrap();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("still loading 5 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}
