"""Real clients read what ner-tag writes: spaCy takes `-f spans` and reads `-f spacy` (a DocBin),
label-studio-sdk validates `-f label-studio`. Run by scripts/clients-check.sh (which builds the binary and the venv).

usage: check.py BINARY MODEL INPUTS
For each strategy: every `-f spans` task becomes a spaCy `Doc(words, spaces)` whose text is the
line, whose spans equal spaCy's own `Doc.char_span(alignment_mode="expand")` of the `-f jsonl`
entities (same overlap rule: the more confident of two spans sharing a token), and which takes
them as `doc.ents`; the docs round-trip through a `.spacy` DocBin. Every `-f spacy` file loads with
`DocBin().from_disk`: one Doc per line, its text the line, its `doc.ents` the `-f spans` spans, its
`user_data` the line number. Every `-f label-studio` task has
the text under `data.text` and a prediction that label-studio-sdk's `LabelInterface` (the NER
template's labeling config) validates with no error, regions equal to the JSONL entities.
"""
import json
import os
import subprocess
import sys
import tempfile

import spacy
from label_studio_sdk.label_interface import LabelInterface
from spacy.tokens import Doc, DocBin

binary, model, inputs = sys.argv[1:4]


def run(*args):
    p = subprocess.run([binary, "-q", "-m", model, *args, inputs], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"clients-check: {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return [json.loads(l) for l in p.stdout.splitlines()]


nlp = spacy.blank("en")
failures = []
for strategy in ["word", "simple", "first", "average", "max", "none"]:
    plain = run("-a", strategy)
    spans = run("-a", strategy, "-f", "spans")
    db = DocBin()
    same = 0
    for p, s in zip(plain, spans, strict=True):
        doc = Doc(nlp.vocab, words=[t["text"] for t in s["tokens"]], spaces=[t["ws"] for t in s["tokens"]])
        if doc.text != s["text"]:
            failures.append(f"spans {strategy}: Doc text {doc.text!r} != {s['text']!r}")
            continue
        ref = []
        for e in p["entities"]:
            label = e["label"].split("-", 1)[-1] if strategy == "none" else e["label"]
            span = doc.char_span(e["start"], e["end"], label=label, alignment_mode="expand")
            if span is None or all(t.is_space for t in span):
                continue
            a, b = span.start, span.end - 1
            while doc[a].is_space:
                a += 1
            while doc[b].is_space:
                b -= 1
            if ref and ref[-1][1] >= a:
                if e["score"] > ref[-1][3]:
                    ref[-1] = (a, b, label, e["score"])
                continue
            ref.append((a, b, label, e["score"]))
        got = [(x["token_start"], x["token_end"], x["label"]) for x in s["spans"]]
        if got == [r[:3] for r in ref]:
            same += 1
        else:
            failures.append(f"spans {strategy}: {s['text'][:50]!r}: {got} != spaCy {ref}")
        doc.ents = [doc.char_span(x["start"], x["end"], label=x["label"]) for x in s["spans"]]
        db.add(doc)
    docs = list(DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab))
    ents = sum(len(d.ents) for d in docs)
    print(f"spans -a {strategy}: {same}/{len(spans)} tasks equal spaCy {spacy.__version__} char_span(expand); "
          f"DocBin round trip {len(docs)} docs, {ents} ents")

with tempfile.TemporaryDirectory() as tmp:
    for strategy in ["word", "simple", "none"]:
        spans = run("-a", strategy, "-f", "spans")
        path = os.path.join(tmp, f"{strategy}.spacy")
        p = subprocess.run([binary, "-q", "-m", model, "-a", strategy, "-f", "spacy", "-o", path, inputs],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"clients-check: -f spacy exited {p.returncode}: {p.stderr}")
        docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
        same = 0
        for i, (s, doc) in enumerate(zip(spans, docs, strict=True)):
            got = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
            want = [(x["start"], x["end"], x["label"]) for x in s["spans"]]
            if doc.text == s["text"] and got == want and doc.user_data.get("line") == s["meta"]["line"]:
                same += 1
            else:
                failures.append(f"spacy {strategy}: doc {i} {doc.text[:50]!r}: {got} != {want}")
        print(f"spacy -a {strategy}: {same}/{len(spans)} DocBin docs (spaCy {spacy.__version__} from_disk) "
              f"with the line's text, doc.ents = -f spans, user_data line")

labels = "".join(f'<Label value="{t}"/>' for t in ["PER", "ORG", "LOC", "MISC"])
li = LabelInterface(f'<View><Labels name="label" toName="text">{labels}</Labels><Text name="text" value="$text"/></View>')
for strategy in ["word", "simple", "none"]:
    plain = run("-a", strategy)
    tasks = run("-a", strategy, "-f", "label-studio")
    valid = 0
    for p, t in zip(plain, tasks, strict=True):
        # (LabelInterface.validate_task of label-studio-sdk 2.x calls validate_prediction without
        # its argument: the prediction is validated directly.)
        errors = li.validate_prediction(t["predictions"][0], return_errors=True)
        regions = [(r["value"]["start"], r["value"]["end"], r["value"]["text"]) for r in t["predictions"][0]["result"]]
        want = [(e["start"], e["end"], e["text"]) for e in p["entities"]]
        if t["data"].get("text") != p["text"] or errors or regions != want:
            failures.append(f"label-studio {strategy}: {p['text'][:50]!r}: {errors or 'regions differ'}")
        else:
            valid += 1
    print(f"label-studio -a {strategy}: {valid}/{len(tasks)} tasks valid for label-studio-sdk's LabelInterface, "
          f"regions = JSONL entities")
if failures:
    print("clients-check: FAILED\n" + "\n".join(failures[:20]), file=sys.stderr)
    sys.exit(1)
print("clients-check: OK")
