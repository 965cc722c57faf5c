//! Memory of one enormous line, through the binary: what it costs beyond a short line's run
//! grows by about the line's own size (its text), not by its tokens, windows or entities —
//! README's memory paragraph. Peak RSS is the run's own (`--stats-json`'s `peak_rss_bytes`,
//! `VmHWM`: `wait4`'s would start at this test's size when it forked), with mimalloc told to return
//! freed memory at once, so it follows what the run holds rather than what the allocator keeps.

mod common;

use std::process::Stdio;

/// Peak RSS (bytes) of `ner-tag ARGS FILE`, stdout into `out`, which must succeed.
#[cfg(target_os = "linux")]
fn peak_rss(args: &[&str], input: &std::path::Path, out: &std::path::Path) -> u64 {
    let stats = out.with_extension("stats.json");
    let status = common::ner_tag()
        .args(args)
        .arg("--stats-json")
        .arg(&stats)
        .arg(input)
        .env("MIMALLOC_PURGE_DELAY", "0")
        .env("MIMALLOC_ALLOW_THP", "0")
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::inherit())
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}: {status}");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    stats["peak_rss_bytes"]
        .as_u64()
        .expect("peak_rss_bytes on Linux")
}

/// Lines of 1 and 5 MB (tiny-bert: ~90,000 and ~450,000 entities, the larger spilled to a
/// temporary file), JSONL in both modes and `-f redact`: the second costs at most 2 bytes of
/// memory per extra input byte, plus 8 MB. Before lines streamed their entities and record, it was
/// ~22 bytes per input byte.
#[cfg(target_os = "linux")]
#[test]
fn an_enormous_line_costs_about_its_own_size() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::fixture_model("tiny-bert");
    let model = model.to_str().unwrap();
    let unit = "Peter Smith lives in Berlin . ";
    for (aggregation, format) in [("simple", "jsonl"), ("word", "jsonl"), ("simple", "redact")] {
        let what = format!("-a {aggregation} -f {format}");
        let mut peaks = Vec::new();
        for mb in [1, 5] {
            let input = dir.path().join(format!("{mb}.txt"));
            let line = unit.repeat(mb * 1_000_000 / unit.len());
            std::fs::write(&input, format!("{line}\n")).unwrap();
            let out = dir.path().join("out");
            let args = ["-m", model, "-a", aggregation, "-f", format];
            let peak = peak_rss(&args, &input, &out);
            let text = std::fs::read_to_string(&out).unwrap();
            assert_eq!(text.lines().count(), 1, "{what}");
            if format == "redact" {
                // The line with its entities replaced by their labels.
                let replaced = text.matches("] ").count();
                assert!(
                    text.ends_with('\n') && replaced > mb * 10_000,
                    "{what}: {replaced}"
                );
            } else {
                // One whole record: the text as given and entities in order inside it.
                let rec: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(rec["text"].as_str().map(str::len), Some(line.len()));
                let entities = rec["entities"].as_array().unwrap();
                assert!(entities.len() > mb * 10_000, "{} entities", entities.len());
                let ends: Vec<u64> = entities
                    .iter()
                    .map(|e| e["end"].as_u64().unwrap())
                    .collect();
                assert!(
                    ends.windows(2).all(|w| w[0] <= w[1]),
                    "entities out of order"
                );
            }
            peaks.push((line.len() as u64, peak));
        }
        let ((small, small_rss), (large, large_rss)) = (peaks[0], peaks[1]);
        let grew = large_rss.saturating_sub(small_rss);
        let per_byte = grew as f64 / (large - small) as f64;
        eprintln!(
            "{what}: peak RSS {} MB → {} MB: {per_byte:.2} bytes per input byte",
            small_rss >> 20,
            large_rss >> 20
        );
        assert!(
            grew <= 2 * (large - small) + (8 << 20),
            "{what}: {} MB more for a line {} MB longer ({per_byte:.1} bytes per byte)",
            grew >> 20,
            (large - small) >> 20
        );
    }
}
