//! The hub path for real: `ner-tag --model org/name` against a hub served on 127.0.0.1
//! (`HF_ENDPOINT`), downloading into a temporary `HF_HOME` in the Python-compatible layout.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::hub_server::{HubServer, Repo};

const MAIN: &str = "1111111111111111111111111111111111111111";
const V1: &str = "2222222222222222222222222222222222222222";

fn tag(endpoint: &str, hf_home: &Path, args: &[&str], offline: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ner-tag"));
    c.args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", hf_home)
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_CACHE");
    if offline {
        c.env("HF_HUB_OFFLINE", "1");
    } else {
        c.env_remove("HF_HUB_OFFLINE");
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run that fails before reading its input closes the pipe: the exit status tells the story.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(b"My name is Wolfgang and I live in Berlin\n");
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn local(model: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ner-tag"))
        .args(["-m", common::fixture_model(model).to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"My name is Wolfgang and I live in Berlin\n")?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(o.stdout).unwrap()
}

fn server() -> HubServer {
    let mut repos = HashMap::new();
    repos.insert(
        "test-org/tiny-bert".to_string(),
        Repo {
            dir: common::fixture_model("tiny-bert"),
            hidden: vec![],
            refs: vec![("main", MAIN), ("v1", V1)],
        },
    );
    // Only vocab.txt and pytorch_model.bin: the fallbacks must be fetched.
    repos.insert(
        "test-org/tiny-bert-vocab-bin".to_string(),
        Repo {
            dir: common::fixture_model("tiny-bert-vocab-bin"),
            hidden: vec![],
            refs: vec![("main", MAIN)],
        },
    );
    HubServer::start(repos)
}

#[test]
fn downloads_into_python_cache_layout_then_works_without_the_server() {
    let home = tempfile::tempdir().unwrap();
    let mut hub = server();
    let first = ok(&tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/tiny-bert"],
        false,
    ));
    assert_eq!(
        first,
        local("tiny-bert"),
        "downloaded model tags like the local directory"
    );
    let snap = home
        .path()
        .join("hub/models--test-org--tiny-bert/snapshots")
        .join(MAIN);
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(snap.join(f).exists(), "{f} missing from {}", snap.display());
    }
    assert_eq!(
        std::fs::read_to_string(
            home.path()
                .join("hub/models--test-org--tiny-bert/refs/main")
        )
        .unwrap()
        .trim(),
        MAIN
    );

    hub.stop();
    let again = ok(&tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/tiny-bert"],
        false,
    ));
    assert_eq!(again, first, "second run, server stopped, from the cache");
    let offline = ok(&tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/tiny-bert"],
        true,
    ));
    assert_eq!(offline, first, "HF_HUB_OFFLINE=1 from the cache");
}

#[test]
fn revision_resolves_to_its_commit() {
    let home = tempfile::tempdir().unwrap();
    let hub = server();
    ok(&tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/tiny-bert", "--revision", "v1"],
        false,
    ));
    assert!(home
        .path()
        .join("hub/models--test-org--tiny-bert/snapshots")
        .join(V1)
        .join("config.json")
        .exists());
    assert_eq!(
        std::fs::read_to_string(home.path().join("hub/models--test-org--tiny-bert/refs/v1"))
            .unwrap()
            .trim(),
        V1
    );
    let o = tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/tiny-bert", "--revision", "nope"],
        false,
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn falls_back_to_pytorch_bin_and_vocab_txt() {
    let home = tempfile::tempdir().unwrap();
    let hub = server();
    let out = ok(&tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/tiny-bert-vocab-bin"],
        false,
    ));
    assert_eq!(out, local("tiny-bert-vocab-bin"));
    let snap = home
        .path()
        .join("hub/models--test-org--tiny-bert-vocab-bin/snapshots")
        .join(MAIN);
    assert!(snap.join("pytorch_model.bin").exists() && snap.join("vocab.txt").exists());
    assert!(!snap.join("model.safetensors").exists());
}

#[test]
fn offline_never_touches_the_network_and_explains() {
    let home = tempfile::tempdir().unwrap();
    let hub = server();
    let o = tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/tiny-bert"],
        true,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("test-org/tiny-bert") && err.contains("--model DIR"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(
        hub.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "offline run made requests"
    );
}

#[test]
fn unknown_repo_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let hub = server();
    let o = tag(
        &hub.endpoint,
        home.path(),
        &["-m", "test-org/does-not-exist"],
        false,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("test-org/does-not-exist"), "{err}");
}
