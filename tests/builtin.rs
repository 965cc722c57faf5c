//! The built-in model (`models/bert-minilm-conll03`, compiled in by the default `bundled-model`
//! feature): what runs with no --model, offline, from memory; its accuracy is the shared
//! checkpoint's; `NER_TAG_MODEL` overrides it. Also the --help snapshot a newcomer reads.

mod common;

fn tag(args: &[&str], env: &[(&str, &str)], stdin: &str) -> std::process::Output {
    let hf_home = tempfile::tempdir().unwrap(); // an empty cache: nothing downloaded, ever
    let mut cmd = common::ner_tag();
    cmd.env("HF_HOME", hf_home.path())
        .env_remove("NER_TAG_MODEL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run_with(cmd, args, stdin)
}

fn entities(out: &[u8]) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_slice(out.split(|&b| b == b'\n').next().unwrap()).unwrap();
    v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["text"].as_str().unwrap().into(),
                e["label"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn no_model_flag_runs_the_built_in_model_offline() {
    let line = "My name is Wolfgang and I live in Berlin\n";
    let o = tag(&[], &[("HF_HUB_OFFLINE", "1")], line);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let want = vec![
        ("Wolfgang".to_string(), "PER".to_string()),
        ("Berlin".into(), "LOC".into()),
    ];
    assert_eq!(entities(&o.stdout), want);
    // `--model default` names it; the same bytes come out.
    let named = tag(&["--model", "default"], &[("HF_HUB_OFFLINE", "1")], line);
    assert_eq!(named.stdout, o.stdout);
    // An unreachable hub is never contacted for it.
    let unreachable = tag(&[], &[("HF_ENDPOINT", "http://127.0.0.1:9")], line);
    assert_eq!(unreachable.stdout, o.stdout);
}

#[test]
fn ner_tag_model_in_the_environment_replaces_the_default() {
    let tiny = common::fixture_model("tiny-bert").display().to_string();
    let line = "Berlin is big\n";
    let by_env = tag(&[], &[("NER_TAG_MODEL", &tiny)], line);
    let by_flag = tag(&["-m", &tiny], &[], line);
    assert!(by_env.status.success());
    assert_eq!(by_env.stdout, by_flag.stdout);
    // --model wins over the environment.
    let flag_wins = tag(&["-m", "default"], &[("NER_TAG_MODEL", &tiny)], line);
    assert_eq!(flag_wins.stdout, tag(&[], &[], line).stdout);
}

#[test]
fn built_in_model_scores_as_the_shared_checkpoint() {
    let Some(shared) = common::shared() else {
        eprintln!("skipped: ../shared is absent");
        return;
    };
    let valid =
        ner_tag::input::Source::parse(shared.join("data/conll2003/valid.txt").to_str().unwrap());
    let rt = ner_tag::runtime::Runtime::cpu();
    let opts = ner_tag::config::TagOptions::default();
    let built_in =
        ner_tag::tagger::load_checkpoint(&ner_tag::model::Checkpoint::BuiltIn, &rt, &opts).unwrap();
    let (e, _) = ner_tag::eval::evaluate(
        &built_in,
        std::slice::from_ref(&valid),
        ner_tag::decode::Scheme::Iob2,
        None,
        512,
        false,
    )
    .unwrap();
    let f1 = e.overall.f1();
    eprintln!("built-in model, CoNLL-2003 valid F1 {f1:.4} (shared f32 checkpoint: 0.8975)");
    assert!((f1 - 0.8975).abs() < 1e-3, "F1 {f1}");
}

#[test]
fn help_snapshot() {
    let o = tag(&["--help"], &[], "");
    assert!(o.status.success());
    let got = String::from_utf8(o.stdout).unwrap();
    let path = common::root().join("tests/golden/help.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        got, want,
        "--help changed: review it, then UPDATE_GOLDEN=1 rewrites tests/golden/help.txt"
    );
    // Every example runs anywhere: no paths beside this repository.
    assert!(!got.contains("../shared"), "{got}");
    for code in [
        "0 success",
        "1 failure",
        "2 usage error",
        "3 some input records",
        "130/143",
    ] {
        assert!(
            got.contains(code),
            "exit status {code:?} missing from --help"
        );
    }
}
