"""GPU proof of ner-tag: parity with the CPU reference, F1 per dtype, speed against the transformers
pipeline on the same GPU. Run by scripts/gpu-check.sh (which finds the CUDA libraries and unpacks
the binary); also runs every fixture checkpoint of tests/fixtures/models (one per family and
layout) against the entities `transformers` recorded for it; prints one table, writes it (and the raw figures) under --out, exits 1 on a failure.

usage: python3 scripts/gpu/check.py BIN BUNDLE --out DIR [--quick]
"""
import argparse
import json
import lzma
import os
import statistics
import subprocess
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("bin")
ap.add_argument("bundle")
ap.add_argument("--out", required=True)
ap.add_argument("--model", default="models/bert-minilm-conll03")
ap.add_argument("--big-lines", type=int, default=100_000, help="lines of the big corpus")
ap.add_argument("--base-lines", type=int, default=20_000, help="lines for the base-sized models")
ap.add_argument("--batch-sizes", default="32,128,512", help="pipeline batch sizes tried")
ap.add_argument("--quick", action="store_true", help="parity, F1 and the small model on valid only")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)
work = os.environ.get("NER_TAG_GPU_WORK", "/tmp/ner-tag-gpu-work")
os.makedirs(work, exist_ok=True)
failures = []
rows = []  # (section, what, value, verdict)


def add_row(row):
    rows.append(row)
    print("gpu-check: |", " | ".join(row), "|", file=sys.stderr, flush=True)


def log(*a):
    print("gpu-check:", *a, file=sys.stderr, flush=True)


def verdict(ok, what):
    if not ok:
        failures.append(what)
    return "ok" if ok else "FAIL"


def ner_tag(*a, stdout=None, check=True):
    cmd = [args.bin, *map(str, a)]
    t0 = time.time()
    p = subprocess.run(cmd, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.time() - t0
    if check and p.returncode != 0:
        raise SystemExit(f"gpu-check: {' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p, dt


# ---- corpora --------------------------------------------------------------------------------
def sentences(text):
    out, cur = [], []
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(" ".join(cur))
            cur = []
        elif not line.startswith("-DOCSTART-"):
            cur.append(line.split()[0])
    if cur:
        out.append(" ".join(cur))
    return out


valid_lines = os.path.join(args.bundle, "valid_lines.txt")
valid = open(valid_lines, encoding="utf-8").read().splitlines()
train = sentences(lzma.open(os.path.join(args.bundle, "train.txt.xz"), "rt", encoding="utf-8").read())
pool = train + valid
big = [pool[i % len(pool)] for i in range(args.big_lines)]
big_path = os.path.join(work, "big.txt")
open(big_path, "w", encoding="utf-8").write("\n".join(big) + "\n")
base_path = os.path.join(work, "base.txt")
open(base_path, "w", encoding="utf-8").write("\n".join(big[: args.base_lines]) + "\n")
corpora = {"valid": (valid_lines, len(valid)), f"big ({args.big_lines // 1000}k)": (big_path, len(big)),
           f"big[:{args.base_lines // 1000}k]": (base_path, args.base_lines)}


# ---- parity and F1 --------------------------------------------------------------------------
def spans(path):
    out = []
    for line in open(path, encoding="utf-8"):
        rec = json.loads(line)
        out.append([(e["label"], e["start"], e["end"]) for e in rec.get("entities", [])])
    return out


def parity(agg, dtype):
    ref = spans(os.path.join(args.bundle, f"ref.{agg}.jsonl"))
    path = os.path.join(work, f"gpu.{agg}.{dtype}.jsonl")
    with open(path, "w") as f:
        ner_tag("--device", "cuda", "--dtype", dtype, "-m", args.model, "-a", agg, valid_lines, stdout=f)
    got = spans(path)
    same = sum(a == b for a, b in zip(ref, got)) if len(ref) == len(got) else 0
    return same, len(ref)


log("parity on the GPU against the CPU reference")
for agg in ("word", "first"):
    for dtype in ("f32", "f16", "bf16"):
        same, n = parity(agg, dtype)
        share = same / n
        need = 0.999 if dtype == "f32" else None
        v = verdict(share >= need, f"parity {agg} {dtype}") if need else "info"
        add_row(("parity vs CPU", f"-a {agg} --dtype {dtype}: lines with identical spans",
                     f"{same}/{n} ({100 * share:.2f}%)", v + (" (≥ 99.9%)" if need else "")))

log("F1 per dtype (ner-tag eval on CoNLL-2003 valid)")
ref_f1 = json.load(open(os.path.join(args.bundle, "ref.eval.json")))
cpu_f1 = ref_f1["micro"]["f1"]
f1 = {}
for dtype in ("f32", "f16", "bf16"):
    p, _ = ner_tag("eval", "--device", "cuda", "--dtype", dtype, "-m", args.model, "--json",
                   os.path.join(args.bundle, "valid.txt"))
    j = json.loads(p.stdout)
    f1[dtype] = j["micro"]["f1"]
add_row(("F1", "CPU f32 (reference)", f"{cpu_f1:.4f}", "info"))
for dtype in ("f32", "f16", "bf16"):
    d = abs(f1[dtype] - (f1["f32"] if dtype != "f32" else cpu_f1)) * 100
    v = verdict(d <= 0.1, f"F1 {dtype}")
    add_row(("F1", f"GPU {dtype} (Δ vs {'CPU' if dtype == 'f32' else 'GPU f32'} {d:.3f} pt)",
                 f"{f1[dtype]:.4f}", v + " (≤ 0.1 pt)"))


# ---- every family on the GPU: the random-weight fixtures against transformers ---------------
def fixture_parity():
    """Each fixture checkpoint of tests/fixtures/models (BERT, DistilBERT f16, XLM-R, RoBERTa BPE, ELECTRA,
    DeBERTa-v3, ModernBERT, ...) on CUDA, all five strategies with the stride generate.py used, against
    the pipeline's entities it recorded (expected/<strategy>.jsonl): f32 must give identical spans and
    scores within 1e-3; f16/bf16 are reported (random weights put many scores near ties)."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures")
    inputs = os.path.join(root, "inputs.txt")
    lines = open(inputs, encoding="utf-8").read().split("\n")
    models = os.path.join(root, "models")
    for name in sorted(os.listdir(models)):
        d = os.path.join(models, name)
        if not os.path.isdir(os.path.join(d, "expected")) or not os.path.exists(os.path.join(d, "expected", "simple.jsonl")):
            continue
        for dtype in ("f32", "f16", "bf16"):
            same = total = 0
            worst = 0.0
            for agg in ("none", "simple", "first", "average", "max"):
                exp = [json.loads(l) for l in open(os.path.join(d, "expected", f"{agg}.jsonl"), encoding="utf-8")]
                p, _ = ner_tag("--device", "cuda", "--dtype", dtype, "-m", d, "-a", agg, "--stride", 12, inputs)
                got = [json.loads(l) for l in p.stdout.splitlines()]
                for rec in exp:
                    g = got[rec["line"]]["entities"] if rec["line"] < len(got) else []
                    a = [(e["label"], e["start"], e["end"]) for e in rec["entities"]]
                    b = [(e["label"], e["start"], e["end"]) for e in g]
                    total += 1
                    if a == b:
                        same += 1
                        for x, y in zip(rec["entities"], g):
                            worst = max(worst, abs(x["score"] - y["score"]))
            if dtype == "f32":
                v = verdict(same == total and worst < 1e-3, f"fixture {name} f32")
            else:
                v = "info"
            add_row(("fixtures vs transformers", f"{name} --dtype {dtype}, 5 strategies: identical lines, max score diff",
                     f"{same}/{total}, {worst:.1e}", v + (" (all, < 1e-3)" if dtype == "f32" else "")))


log("every family: fixture checkpoints against transformers on the GPU")
fixture_parity()


# ---- speed ----------------------------------------------------------------------------------
class Util:
    """Mean GPU utilisation reported by nvidia-smi every 100 ms while a run lasts."""

    def __enter__(self):
        self.samples = []
        self.p = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                   "-lms", "100"], stdout=subprocess.PIPE, text=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        return self

    def _read(self):
        for line in self.p.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                pass

    def __exit__(self, *exc):
        self.p.terminate()
        self.p.wait()
        self.mean = statistics.mean(self.samples) if self.samples else float("nan")


def ner_tag_speed(model, path, n, runs=3):
    """Median lines/s of the whole process (start and load included), GPU utilisation, and the
    share of wall time the model stage reports (--stats)."""
    res = []
    for _ in range(runs):
        with Util() as u:
            p, dt = ner_tag("--device", "cuda", "-m", model, "-a", "simple", "--stats", path,
                            stdout=subprocess.DEVNULL)
        stage = p.stderr.strip().splitlines()[-1]
        res.append((n / dt, u.mean, stage))
    res.sort()
    return res[len(res) // 2]


def pipeline_speed(model, path, sizes):
    cmd = [sys.executable, os.path.join(os.path.dirname(__file__), "hf_pipeline.py"), model, path,
           "--batch-sizes", sizes]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"gpu-check: {' '.join(cmd)}: {p.stderr[-2000:]}")
    return json.loads(p.stdout)  # {batch_size: lines/s}


def random_model(name, config, update):
    d = os.path.join(work, name)
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return d
    log(f"building random-weight {name}")
    import shutil
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification
    cfg = AutoConfig.from_pretrained(os.path.join(args.bundle, "configs", config))
    for k, v in update.items():
        setattr(cfg, k, v)
    torch.manual_seed(0)
    m = AutoModelForTokenClassification.from_config(cfg).to(torch.float16).eval()
    m.save_pretrained(d)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(args.model, f), d)
    return d


runs = [("bert-minilm (real, f16 file)", args.model, "valid")]
if not args.quick:
    runs.append(("bert-minilm (real, f16 file)", args.model, f"big ({args.big_lines // 1000}k)"))
    db = random_model("distilbert-base-random", "distilbert.json",
                      dict(dim=768, hidden_dim=3072, n_heads=12, n_layers=6))
    xb = random_model("xlmr-base-shape-random", "xlmr.json",
                      dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                           num_hidden_layers=12, vocab_size=250002))
    runs += [("distilbert-base (random)", db, f"big[:{args.base_lines // 1000}k]"),
             ("xlmr-base shape (random)", xb, f"big[:{args.base_lines // 1000}k]")]

speed = []
for name, model, corpus in runs:
    path, n = corpora[corpus]
    log(f"speed: {name} on {corpus}")
    ours, util, stage = ner_tag_speed(model, path, n)
    # The pipeline's best batch size, found on the valid lines, then measured on the corpus.
    sweep = pipeline_speed(model, valid_lines if corpus != "valid" else path, args.batch_sizes)
    best = max(sweep, key=lambda b: sweep[b])
    theirs = sweep[best] if corpus == "valid" else pipeline_speed(model, path, best)[best]
    ratio = ours / theirs
    v = verdict(ratio >= 3.0, f"speed {name} {corpus}")
    speed.append(dict(model=name, corpus=corpus, lines=n, ner_tag=ours, pipeline=theirs, batch=int(best),
                      ratio=ratio, gpu_util=util, stats=stage, sweep=sweep))
    add_row(("speed", f"{name}, {corpus}: ner-tag {ours:.0f} l/s, pipeline fp16 {theirs:.0f} l/s (bs {best}); "
                 f"GPU busy {util:.0f}%", f"{ratio:.2f}×", v + " (≥ 3×)"))

# ---- report ---------------------------------------------------------------------------------
dev = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                     stdout=subprocess.PIPE, text=True).stdout.strip()
lines = [f"device: {dev}", "", "| check | what | value | verdict |", "|---|---|---|---|"]
lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
table = "\n".join(lines)
print(table)
open(os.path.join(args.out, "gpu-check.md"), "w").write(table + "\n")
json.dump(dict(device=dev, f1=f1, cpu_f1=cpu_f1, speed=speed, failures=failures),
          open(os.path.join(args.out, "gpu-check.json"), "w"), indent=1)
if failures:
    print("gpu-check: FAILED: " + ", ".join(failures), file=sys.stderr)
    sys.exit(1)
print("gpu-check: all checks passed", file=sys.stderr)
