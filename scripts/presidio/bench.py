"""ner-tag -f redact against Microsoft Presidio on the same checkpoint, and against its own -f jsonl.

usage: bench.py BINARY MODEL LINES WORKDIR [--runs N] [--presidio-lines N]
Presidio: AnalyzerEngine with a TransformersNlpEngine on MODEL (the transformers pipeline,
aggregation "max", Presidio's defaults otherwise; a spacy.blank("en") saved to WORKDIR as its
tokenizer) asked for PERSON/LOCATION/ORGANIZATION only (no regex recognizers), then
AnonymizerEngine's default replace operator (`<PERSON>`), one line at a time as its API takes them,
on the first --presidio-lines lines (default 500: it runs at a few lines/s).
ner-tag: `-f redact --labels PER,LOC,ORG -a max` (and `-f jsonl` with the same options), whole
process over all of LINES, 2 threads, medians of RUNS alternating runs. Prints lines/s of each, the ratios, and the
share of Presidio's entity spans that equal ner-tag's (same start, end and type)."""
import argparse, json, os, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("binary"); ap.add_argument("model"); ap.add_argument("lines"); ap.add_argument("work")
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--presidio-lines", type=int, default=500)
args = ap.parse_args()
import torch
torch.set_num_threads(2)
import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NerModelConfiguration, TransformersNlpEngine
from presidio_anonymizer import AnonymizerEngine

lines = [l.rstrip("\n") for l in open(args.lines, encoding="utf-8")]
blank = os.path.join(args.work, "blank_en")
spacy.blank("en").to_disk(blank)
engine = TransformersNlpEngine(
    models=[{"lang_code": "en", "model_name": {"spacy": blank, "transformers": args.model}}],
    ner_model_configuration=NerModelConfiguration(aggregation_strategy="max"))
analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
anonymizer = AnonymizerEngine()
TYPES = {"PERSON": "PER", "LOCATION": "LOC", "ORGANIZATION": "ORG"}


def presidio(n):
    t0 = time.perf_counter()
    found = []
    for text in lines[:n]:
        res = analyzer.analyze(text=text, language="en", entities=list(TYPES))
        anonymizer.anonymize(text=text, analyzer_results=res)
        found.append(sorted((r.start, r.end, TYPES[r.entity_type]) for r in res))
    return time.perf_counter() - t0, found


def ner_tag(fmt):
    t0 = time.perf_counter()
    out = subprocess.run([args.binary, "-q", "-m", args.model, "-a", "max", "--labels", "PER,LOC,ORG", "-j", "2",
                          "-f", fmt, args.lines], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, out.stdout


presidio(20)  # warm-up: first-call costs
t = {"presidio": [], "redact": [], "jsonl": []}
for r in range(args.runs):
    dt, found = presidio(args.presidio_lines); t["presidio"].append(dt / min(len(lines), args.presidio_lines) * len(lines))
    t["redact"].append(ner_tag("redact")[0])
    dt, out = ner_tag("jsonl"); t["jsonl"].append(dt)
    print(f"run {r + 1}: presidio {len(lines) / t['presidio'][-1]:.1f}, redact {len(lines) / t['redact'][-1]:.1f}, "
          f"jsonl {len(lines) / t['jsonl'][-1]:.1f} lines/s", file=sys.stderr, flush=True)
ours = [sorted((e["start"], e["end"], e["label"]) for e in json.loads(l)["entities"]) for l in out.splitlines()]
total = sum(len(f) for f in found)
same = sum(len(set(f) & set(o)) for f, o in zip(found, ours))
ours = ours[:len(found)]
ls = {k: len(lines) / statistics.median(v) for k, v in t.items()}
print(f"| system (2 threads, medians of {args.runs}) | lines/s | x Presidio |")
print("|---|---|---|")
print(f"| Presidio AnalyzerEngine (TransformersNlpEngine) + AnonymizerEngine, first {min(len(lines), args.presidio_lines)} lines "
      f"| {ls['presidio']:.1f} | 1.00x |")
print(f"| ner-tag -f redact --labels PER,LOC,ORG -a max, {len(lines)} lines | {ls['redact']:.1f} | **{ls['redact'] / ls['presidio']:.1f}x** |")
print(f"| ner-tag -f jsonl, same options | {ls['jsonl']:.1f} | {ls['jsonl'] / ls['presidio']:.1f}x |")
print(f"-f redact / -f jsonl: {ls['redact'] / ls['jsonl']:.3f} (lines/s ratio)")
print(f"Presidio entity spans equal to ner-tag's (start, end, type): {same}/{total} = {100 * same / max(total, 1):.2f}% "
      f"(ner-tag found {sum(len(o) for o in ours)})")
