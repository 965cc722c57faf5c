//! Corpus scale through the real binary: `-r` + `--output-dir` (a file per input, resumable per
//! file after SIGKILL), and the progress bar — drawn on a terminal (a pty made by `script`),
//! never on a pipe or with `-q`.

mod common;

use std::path::{Path, PathBuf};

use common::ner_tag as bin;

fn tiny() -> String {
    common::fixture_model("tiny-bert").display().to_string()
}

/// A corpus folder: nested files, an empty one, hidden ones, a symbolic link loop.
fn corpus(root: &Path, lines: usize) -> PathBuf {
    let c = root.join("corpus");
    let files: [(&str, usize); 5] = [
        ("news/2024/a.txt", lines),
        ("news/b.txt", lines / 2),
        ("empty.txt", 0),
        ("z.md", 3),
        (".cache/hidden.txt", 5),
    ];
    for (name, n) in files {
        let p = c.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let text: String = (0..n)
            .map(|i| format!("{name} {i}: Angela Merkel met Barack Obama in Berlin .\n"))
            .collect();
        std::fs::write(p, text).unwrap();
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink("..", c.join("news/up")).unwrap();
    c
}

/// Every file under `dir`, relative path → bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn output_dir_writes_one_file_per_input_like_tagging_each_alone() {
    let d = tempfile::tempdir().unwrap();
    let c = corpus(d.path(), 20);
    let out = d.path().join("out");
    for format in ["jsonl", "conll"] {
        let o = bin()
            .args(["-m", &tiny(), "-q", "-f", format, "-r", "--output-dir"])
            .arg(&out)
            .arg(&c)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(o.stdout.is_empty(), "records go to the files");
        assert!(err.contains("symbolic link loop"), "{err}");
        let got = tree(&out);
        let names: Vec<&str> = got
            .iter()
            .filter(|(n, _)| n.ends_with(format))
            .map(|(n, _)| n.as_str())
            .collect();
        let want = ["empty", "news/2024/a", "news/b", "z"].map(|n| format!("{n}.{format}"));
        assert_eq!(names, want, "hidden files skipped, loop not followed");
        for (name, bytes) in got.iter().filter(|(n, _)| n.ends_with(format)) {
            let input = c.join(name.replace(
                &format!(".{format}"),
                if name.starts_with('z') { ".md" } else { ".txt" },
            ));
            let alone = bin()
                .args(["-m", &tiny(), "-f", format])
                .arg(&input)
                .output()
                .unwrap();
            assert!(alone.status.success());
            assert_eq!(
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&alone.stdout),
                "{name}: the same bytes as tagging {} alone",
                input.display()
            );
        }
    }
    // Refused: stdin, and writing into a folder being read.
    for args in [
        vec!["--output-dir".to_string(), out.display().to_string()],
        vec![
            "-r".into(),
            "--output-dir".into(),
            c.display().to_string(),
            c.display().to_string(),
        ],
    ] {
        let o = bin().args(["-m", &tiny()]).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    }
}

/// `--output-dir --resume` after SIGKILL at several points: every file byte-identical to an
/// uninterrupted run's, none duplicated.
#[test]
fn output_dir_resumes_per_file_after_sigkill() {
    let d = tempfile::tempdir().unwrap();
    let c = corpus(d.path(), 1500);
    let args = |out: &Path| {
        let mut a: Vec<String> = ["-m", &tiny(), "-q", "--read-ahead", "40", "-r", "--resume"]
            .map(String::from)
            .to_vec();
        a.push("--output-dir".into());
        a.push(out.display().to_string());
        a.push(c.display().to_string());
        a
    };
    let whole = d.path().join("whole");
    let o = bin().args(args(&whole)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = tree(&whole);
    let total: usize = want.iter().map(|(_, b)| b.len()).sum();
    let big: Vec<&(String, Vec<u8>)> = want.iter().filter(|(_, b)| b.len() > 10_000).collect();
    assert_eq!(big.len(), 2, "the two news files");
    for (k, (file, percent)) in [(0, 10), (0, 60), (1, 30), (1, 80)].into_iter().enumerate() {
        let out = d.path().join(format!("killed{k}"));
        // Killed partway through one file, killed again at once, then run to the end: the partial
        // tree must survive both kills and be completed.
        let (name, bytes) = big[file];
        common::kill_when_written(
            &args(&out),
            &out.join(name),
            bytes.len() as u64 * percent / 100,
        );
        let partial: usize = tree(&out).iter().map(|(_, b)| b.len()).sum();
        assert!(
            partial > 0 && partial < total,
            "kill {k} left {partial} of {total} bytes"
        );
        common::kill_after(&args(&out), 20);
        let o = bin().args(args(&out)).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got = tree(&out);
        assert_eq!(
            got.iter().map(|(n, b)| (n, b.len())).collect::<Vec<_>>(),
            want.iter().map(|(n, b)| (n, b.len())).collect::<Vec<_>>(),
            "kill {k}"
        );
        assert!(got == want, "kill {k}: same names, different bytes");
    }
}

/// Runs the binary with stderr on a terminal: `script` (util-linux) gives it a pty and copies
/// what it drew; stdout goes to a file.
fn on_a_terminal(args: &str) -> Option<String> {
    let ok = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: no `script` (util-linux) to make a terminal");
        return None;
    }
    let exe = env!("CARGO_BIN_EXE_ner-tag");
    let o = std::process::Command::new("script")
        .args(["-qfec", &format!("{exe} {args}"), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.txt");
    let text: String = (0..20000)
        .map(|i| format!("Line {i}: Angela Merkel met Barack Obama in Berlin and Paris .\n"))
        .collect();
    std::fs::write(&input, text).unwrap();
    let out = d.path().join("out.jsonl");
    let common = format!("-m {} {} -o {}", tiny(), input.display(), out.display());
    if let Some(drawn) = on_a_terminal(&common) {
        assert!(
            drawn.contains("records") && drawn.contains("ETA") && drawn.contains("entities"),
            "a bar with records, entities and an ETA: {drawn:?}"
        );
        let quiet = on_a_terminal(&format!("-q {common}")).unwrap();
        assert!(quiet.trim().is_empty(), "-q draws nothing: {quiet:?}");
    }
    // A pipe: nothing at all on stderr.
    let o = bin()
        .args(["-m", &tiny(), "-o"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The GPU's run loop (read + tokenize, model, decode + write on three threads) and the CPU's
/// (stages in turn) write the same bytes, file per source and one file, error records and
/// empty sources included: the GPU loop is forced here on the CPU.
#[test]
fn overlapped_run_loop_writes_what_the_sequential_one_does() {
    use ner_tag::config::{Config, OnError, TagOptions};
    use ner_tag::input::Source;
    use ner_tag::output::target::Target;
    use ner_tag::output::{Format, PrintOptions};
    use std::sync::Arc;

    let opts = TagOptions {
        aggregation: ner_tag::decode::Aggregation::Simple,
        batch_size: 4,
        ..TagOptions::default()
    };
    let rt = ner_tag::runtime::Runtime::cpu();
    let mut tagger = ner_tag::pipeline::load_tagger(Path::new(&tiny()), &rt, &opts).unwrap();
    let mem = |name: &str, text: Vec<u8>| Source::Memory(name.into(), Arc::from(text));
    let lines = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| format!("Line {i}: Angela Merkel met Barack Obama in Berlin .\n"))
            .collect::<String>()
            .into_bytes()
    };
    let mut bad = lines(9);
    bad.extend_from_slice(b"broken \xff utf-8\n");
    bad.extend(lines(5));
    let inputs = vec![
        mem("a.txt", lines(23)),
        mem("empty.txt", Vec::new()),
        mem("bad.txt", bad),
        mem("b.txt", lines(1)),
    ];
    let d = tempfile::tempdir().unwrap();
    let run = |tagger: &ner_tag::pipeline::Tagger, target: Target, format: Format| {
        let cfg = Config {
            model: ner_tag::hub::ModelSource::Dir(tiny().into()),
            inputs: inputs.clone(),
            input_format: ner_tag::records::InputFormat::Text,
            format,
            byte_offsets: false,
            tag: opts.clone(),
            runtime: ner_tag::runtime::Runtime::cpu(),
            read_ahead: 7,
            stats: false,
            progress: false,
            quiet: true,
            lossy: false,
            on_error: OnError::Skip,
            interrupt: None,
            shard: None,
            target: target.clone(),
            resume: false,
            filter: Default::default(),
            redact: Default::default(),
            redact_entities: false,
            ls_from_name: "label".into(),
            ls_to_name: "text".into(),
            manifest: None,
        };
        let print = PrintOptions {
            format,
            byte_offsets: false,
            aggregation: tagger.aggregation,
            redact: Default::default(),
            redact_json: None,
            label_studio: ner_tag::output::label_studio::LabelStudio {
                from_name: "label".into(),
                to_name: "text".into(),
                text_key: "text".into(),
                model_version: "tiny-bert".into(),
            },
        };
        let mut opened = target.open(print, false).unwrap();
        let stats =
            ner_tag::pipeline::tag_stream(tagger, &cfg, opened.skip, opened.printer.as_mut())
                .unwrap();
        assert_eq!((stats.lines, stats.errors), (23 + 15 + 1, 1));
    };
    for format in [Format::Jsonl, Format::Conll, Format::Html] {
        let mut trees = Vec::new();
        for parallel in [true, false] {
            tagger.batching.parallel_batches = parallel;
            let root = d.path().join(format!("{parallel}-{format:?}"));
            let paths = ["a", "empty", "bad", "b"]
                .map(|n| root.join(format!("dir/{n}.{}", format.extension())))
                .to_vec();
            run(&tagger, Target::PerSource(paths), format);
            run(&tagger, Target::File(root.join("one")), format);
            trees.push(tree(&root));
        }
        assert_eq!(trees[0].len(), 5, "four files and one");
        assert!(trees[0] == trees[1], "{format:?}: the two run loops differ");
    }
}
