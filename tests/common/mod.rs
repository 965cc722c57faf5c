//! Helpers shared by the integration tests: reference files, entity comparison, paths.
#![allow(dead_code)]

pub mod hub_server;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tiny checkpoints of tests/fixtures/models: every architecture and file layout.
pub const FIXTURE_MODELS: &[&str] = &[
    "tiny-bert",
    "tiny-bert-vocab-bin",
    "tiny-distilbert-f16",
    "tiny-xlmr-unigram",
    "tiny-bert-bioes",
    "tiny-bert-sharded-bf16",
    "tiny-roberta-bpe",
    "tiny-roberta-bpe-prefix",
    "tiny-roberta-bpe-untrimmed",
    "tiny-roberta-files",
    "tiny-xlmr-spm",
    "tiny-electra",
    "tiny-deberta-v3",
    "tiny-modernbert",
    "tiny-modernbert-long",
];

pub fn fixture_model(name: &str) -> PathBuf {
    root().join("tests/fixtures/models").join(name)
}

/// `../shared` beside the checkout. Its absence fails the test that needs it — a missing
/// prerequisite is not a pass — unless `NER_TAG_ALLOW_NO_SHARED=1` says to skip (the test then
/// prints `SKIPPED`, and None comes back).
pub fn shared() -> Option<PathBuf> {
    let p = root().join("../shared");
    if p.join("models").is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var_os("NER_TAG_ALLOW_NO_SHARED").is_some_and(|v| v == "1"),
        "{} is missing: the real-model checks need it (NER_TAG_ALLOW_NO_SHARED=1 skips them)",
        p.display()
    );
    None
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (label, start, end) of each entity of a record, and their scores.
pub fn spans(record: &Value) -> (Vec<(String, u64, u64)>, Vec<f64>) {
    let ents = record["entities"].as_array().unwrap();
    (
        ents.iter()
            .map(|e| {
                (
                    e["label"].as_str().unwrap().to_string(),
                    e["start"].as_u64().unwrap(),
                    e["end"].as_u64().unwrap(),
                )
            })
            .collect(),
        ents.iter().map(|e| e["score"].as_f64().unwrap()).collect(),
    )
}

/// Parity summary of one output against its reference.
pub struct Parity {
    pub lines: usize,
    pub identical: usize,
    pub max_score_diff: f64,
    pub first_mismatch: Option<String>,
}

impl Parity {
    pub fn rate(&self) -> f64 {
        self.identical as f64 / self.lines.max(1) as f64
    }
}

/// Compares records pairwise: identical spans, and the largest score difference on those lines.
pub fn parity(reference: &[Value], got: &[Value]) -> Parity {
    assert_eq!(reference.len(), got.len(), "record counts differ");
    let mut p = Parity {
        lines: reference.len(),
        identical: 0,
        max_score_diff: 0.0,
        first_mismatch: None,
    };
    for (r, g) in reference.iter().zip(got) {
        assert_eq!(r["text"], g["text"], "texts differ: input order lost?");
        let ((rs, rscore), (gs, gscore)) = (spans(r), spans(g));
        if rs == gs {
            p.identical += 1;
            for (a, b) in rscore.iter().zip(&gscore) {
                p.max_score_diff = p.max_score_diff.max((a - b).abs());
            }
        } else if p.first_mismatch.is_none() {
            p.first_mismatch = Some(format!("line {}: expected {rs:?}\n got {gs:?}", r["line"]));
        }
    }
    p
}

/// A record in the reference files' shape, from a line and its entities.
pub fn record(i: usize, line: &str, entities: &[ner_tag::decode::Entity]) -> Value {
    let ents: Vec<Value> = entities
        .iter()
        .map(|e| json!({"label": e.label, "start": e.start, "end": e.end, "score": e.score}))
        .collect();
    json!({"line": i, "text": line, "entities": ents})
}

/// The `ner-tag` binary with the hub out of reach (offline, an empty cache, no endpoint).
/// The binary under test, run through `$NER_TAG_TEST_RUNNER` when set (`scripts/test-aarch64.sh`:
/// `qemu-aarch64 -L /usr/aarch64-linux-gnu`, as cargo's target runner runs the tests themselves).
pub fn ner_tag() -> std::process::Command {
    let exe = env!("CARGO_BIN_EXE_ner-tag");
    let runner = std::env::var("NER_TAG_TEST_RUNNER").unwrap_or_default();
    let mut runner = runner.split_whitespace();
    let mut c = match runner.next() {
        Some(program) => {
            let mut c = std::process::Command::new(program);
            c.args(runner).arg(exe);
            c
        }
        None => std::process::Command::new(exe),
    };
    c.env_remove("HF_ENDPOINT")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", std::env::temp_dir().join("ner-tag-test-no-hub"));
    c
}

/// Starts `ner-tag` with `args` and SIGKILLs it after `ms` milliseconds (it may have finished).
pub fn kill_after<S: AsRef<std::ffi::OsStr>>(args: &[S], ms: u64) {
    let mut child = ner_tag()
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let _ = child.kill();
    child.wait().unwrap();
}

/// Starts `ner-tag` with `args` and SIGKILLs it as soon as `out` holds at least `bytes` bytes, so
/// a kill lands mid-output however fast or slow this machine is. Returns the size at the kill;
/// fails if the run finished first.
pub fn kill_when_written<S: AsRef<std::ffi::OsStr>>(args: &[S], out: &Path, bytes: u64) -> u64 {
    let mut child = ner_tag()
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let len = std::fs::metadata(out).map_or(0, |m| m.len());
        if len >= bytes {
            let _ = child.kill();
            child.wait().unwrap();
            return std::fs::metadata(out).map_or(0, |m| m.len());
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("finished ({status}) with {len} bytes before reaching {bytes}: nothing to kill");
        }
        assert!(start.elapsed().as_secs() < 120, "no output after 120 s");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Runs `ner-tag` with `args`, feeding `stdin`, with the hub out of reach.
pub fn run(args: &[&str], stdin: &str) -> std::process::Output {
    run_with(ner_tag(), args, stdin)
}

/// Runs the prepared command (environment set by the caller) with `args`, feeding `stdin`.
pub fn run_with(
    mut cmd: std::process::Command,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run that fails before reading its input closes the pipe: the exit status tells the story.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}
