"""ner-tag against the transformers pipeline (and ONNX Runtime), same machine, same run, same inputs.

Run through scripts/bench.sh, which builds the release binary and the reference venv first.
usage: bench.py BINARY SHARED WORKDIR [--runs N] [--base-lines N] [--quick] [--avx2-binary CAPPED]

Per model x corpus it alternates ner-tag f32, ner-tag --quantize int8 and the pipeline, RUNS times,
and prints medians: lines/s, tokens/s, ratio to the pipeline, achieved GFLOP/s next to a 2-thread
f32 matmul ceiling measured here, peak RSS, one-line latency; then word-level F1 of f32 and int8
(`ner-tag eval`) next to ONNX Runtime's fp32/int8 (../shared/tools/ort_anchor.py).
Base-sized checkpoints (random weights, built with transformers on demand, not committed) show the
speed on the shapes users run: DistilBERT-base (768 hidden, 6 layers, f32) and an XLM-R-base shape
(12 layers, 250,002-row embeddings, stored f16).
With --avx2-binary (a build without gemm's AVX-512 kernels: `--no-default-features --features
bundled-model`) it adds the forced-AVX2 rows: that binary under NER_TAG_SIMD=avx2 computes as on an
AVX2-only CPU (gemm's f32 kernels and ours at AVX2, int8 through vpmaddubsw), f32 against int8,
and int8's F1 there.
It opens with the CPU (model, the SIMD/matrix features it has) and the kernels ner-tag dispatched on,
and, where the CPU runs --dtype bf16, adds bf16 to the precision table: ner-tag f32 / bf16 / int8 on
bert-minilm x valid (lines/s, F1, lines with spans identical to f32) beside OpenVINO f32 / bf16 / int8
(../shared/tools/ov_anchor.py on ort_anchor.py's ONNX export, NNCF int8 calibrated on 300 train lines).
--precisions: only that table (and the anchors), no pipeline rows."""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("binary"); ap.add_argument("shared"); ap.add_argument("work")
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--base-lines", type=int, default=500)
ap.add_argument("--quick", action="store_true", help="small model only, no ONNX Runtime")
ap.add_argument("--avx2-binary", help="a build without gemm's x86-v4: adds the forced-AVX2 rows")
ap.add_argument("--families", action="store_true",
                help="adds random-weight ModernBERT-base and DeBERTa-v3-base shapes (tokenizers of the fixtures)")
ap.add_argument("--families-only", action="store_true", help="--families without the other rows and F1")
ap.add_argument("--precisions", action="store_true", help="only the f32/bf16/int8 table with the ORT and OpenVINO anchors")
args = ap.parse_args()
os.makedirs(args.work, exist_ok=True)
THREADS = 2
import torch
torch.set_num_threads(THREADS)
from transformers import AutoTokenizer, AutoModelForTokenClassification, pipeline


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cpu_line():
    """`AMD EPYC …: avx2, avx512f, …` from /proc/cpuinfo (the features the kernels may use)."""
    model, flags = "unknown CPU", set()
    try:
        for l in open("/proc/cpuinfo"):
            k, _, v = l.partition(":")
            if k.strip() == "model name" and model == "unknown CPU":
                model = v.strip()
            if k.strip() in ("flags", "Features") and not flags:
                flags = set(v.split())
    except OSError:
        pass
    want = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
            "asimd", "asimddp", "i8mm", "bf16"]
    have = [f for f in want if f in flags]
    return f"{model} ({os.cpu_count()} CPUs): {', '.join(have) or 'no SIMD flags listed'}" + \
        ("" if "amx_int8" in flags else "; no AMX")


def dispatched(binary):
    """The kernels ner-tag chose here, as its --stats line says."""
    out = subprocess.run([binary, "--stats"], input="x\n", capture_output=True, text=True)
    return next((l.split("CPU kernels: ", 1)[1] for l in out.stderr.splitlines() if "CPU kernels: " in l), "unknown")


BF16 = subprocess.run([args.binary, "--dtype", "bf16"], input=b"x\n", capture_output=True).returncode == 0
# Where ner-tag runs AMX, the precisions table also has the VNNI / AVX512-BF16 rows (NER_TAG_SIMD=avx512).
AMX = "amx (" in dispatched(args.binary)
MACHINE = f"CPU: {cpu_line()}\nner-tag kernels: {dispatched(args.binary)}" + \
    ("" if BF16 else " (no bf16 row: --dtype bf16 is refused on this CPU)")
log(MACHINE)


# ---- corpora -------------------------------------------------------------------------------
def sentences(path):
    out, words = [], []
    for line in open(path, encoding="utf-8"):
        p = line.split()
        if p:
            words.append(p[0])
        elif words:
            out.append(" ".join(words)); words = []
    if words:
        out.append(" ".join(words))
    return out


valid = sentences(os.path.join(args.shared, "data/conll2003/valid.txt"))
corpora = {
    "valid": valid,
    "docs40": [" ".join(valid[i:i + 40]) for i in range(0, len(valid), 40)],
    f"valid[:{args.base_lines}]": valid[:args.base_lines],
}
paths = {}
for name, lines in corpora.items():
    p = os.path.join(args.work, re.sub(r"\W", "_", name) + ".txt")
    open(p, "w", encoding="utf-8").write("\n".join(lines) + "\n")
    paths[name] = p
one_line = os.path.join(args.work, "one.txt")
open(one_line, "w").write("EU rejects German call to boycott British lamb .\n")


# ---- models ---------------------------------------------------------------------------------
def random_model(name, src, cfg_update, dtype):
    d = os.path.join(os.path.expanduser("~/.cache/ner-tag-bench"), name)
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return d
    log(f"building random-weight {name} in {d}")
    from transformers import AutoConfig
    cfg = AutoConfig.from_pretrained(src)
    for k, v in cfg_update.items():
        setattr(cfg, k, v)
    torch.manual_seed(0)
    m = AutoModelForTokenClassification.from_config(cfg).to(dtype).eval()
    os.makedirs(d, exist_ok=True)
    m.save_pretrained(d)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), d)
    return d


def with_window(d, n):
    """Sets the copied tokenizer's model_max_length (the fixtures' are tiny) to the model's own."""
    p = os.path.join(d, "tokenizer_config.json")
    c = json.load(open(p))
    c["model_max_length"] = n
    json.dump(c, open(p, "w"), indent=1)
    return d


small = os.path.join(args.shared, "models/bert-minilm-conll03")
runs = [("bert-minilm (f32, 22M)", small, "valid"), ("bert-minilm (f32, 22M)", small, "docs40")]
if not args.quick:
    db = random_model("distilbert-base-random", os.path.join(args.shared, "models/distilbert-minilm-conll03"),
                      dict(dim=768, hidden_dim=3072, n_heads=12, n_layers=6), torch.float32)
    xb = random_model("xlmr-base-shape-random", os.path.join(args.shared, "models/xlmr-minilm-conll03"),
                      dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                           vocab_size=250002), torch.float16)
    runs += [("distilbert-base (f32, random)", db, f"valid[:{args.base_lines}]"),
             ("xlmr-base shape (f16, random)", xb, f"valid[:{args.base_lines}]")]
if args.families_only:
    args.families, args.quick, runs = True, True, []
if args.precisions:
    runs = []
if args.families:
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models")
    # answerdotai/ModernBERT-base's shape: 22 layers, GeGLU 1152, local window 128, 8,192 positions.
    mb_ = with_window(random_model("modernbert-base-shape-random", os.path.join(fixtures, "tiny-modernbert-long"),
                                   dict(hidden_size=768, intermediate_size=1152, num_attention_heads=12,
                                        num_hidden_layers=22, local_attention=128, max_position_embeddings=8192,
                                        vocab_size=50368, initializer_range=0.02,
                                        layer_types=["sliding_attention" if i % 3 else "full_attention"
                                                     for i in range(22)],
                                        ), torch.float32), 8192)
    # microsoft/deberta-v3-base's shape: 12 layers, 256 position buckets, 512 positions.
    dv = with_window(random_model("deberta-v3-base-shape-random", os.path.join(fixtures, "tiny-deberta-v3"),
                                  dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                       num_hidden_layers=12, position_buckets=256, max_position_embeddings=512,
                                       vocab_size=128100, initializer_range=0.02), torch.float32), 512)
    runs += [("ModernBERT-base shape (f32, random)", mb_, f"valid[:{args.base_lines}]"),
             ("DeBERTa-v3-base shape (f32, random)", dv, f"valid[:{args.base_lines}]")]


# ---- measurements ---------------------------------------------------------------------------
TIME = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)


def run_child(cmd):
    """Wall seconds and peak RSS (MB, None if unknown) of one child process.

    The peak is GNU time's: a child spawned straight from this process would inherit its (torch-
    sized) RSS high-water mark through fork/exec."""
    full = [TIME, "-f", "%M", *cmd] if TIME else cmd
    t0 = time.perf_counter()
    p = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr}")
    last = p.stderr.strip().splitlines()[-1] if TIME and p.stderr.strip() else ""
    return dt, (int(last) / 1024 if last.isdigit() else None)


def ner_tag(model, path, extra=(), binary=None, simd=None):
    pre = ["env", f"NER_TAG_SIMD={simd}"] if simd else []
    return run_child([*pre, binary or args.binary, "-m", model, "-a", "simple", "-j", str(THREADS), *extra, path])


_pipes = {}


def hf_pipeline(model, lines):
    if model not in _pipes:
        tok = AutoTokenizer.from_pretrained(model)
        m = AutoModelForTokenClassification.from_pretrained(model, dtype=torch.float32).eval()
        _pipes[model] = pipeline("token-classification", model=m, tokenizer=tok, aggregation_strategy="simple",
                                 device="cpu", stride=128 if tok.is_fast else None)
        _pipes[model](lines[:16], batch_size=32)
    t0 = time.perf_counter()
    _pipes[model](lines, batch_size=32)
    return time.perf_counter() - t0


def model_flops(model, lines):
    """Multiply-adds x 2 of one pass over `lines` (encoder projections + attention products)."""
    cfg = json.load(open(os.path.join(model, "config.json")))
    h = cfg.get("hidden_size") or cfg["dim"]
    inter = cfg.get("intermediate_size") or cfg["hidden_dim"]
    layers = cfg.get("num_hidden_layers") or cfg["n_layers"]
    if cfg.get("model_type") == "modernbert":
        inter = inter * 3 // 2  # GeGLU: Wi is (h, 2·inter), Wo (inter, h)
    tok = AutoTokenizer.from_pretrained(model)
    total_tokens, flops = 0, 0
    for line in lines:
        n = len(tok(line)["input_ids"])
        total_tokens += n
        c = n - 2  # the pipeline's windows: 510 content tokens, 128 shared with the next
        windows = [n] if c <= 510 else [512] * (1 + -(-(c - 510) // 382))
        if c > 510:
            windows[-1] = c - 510 - 382 * (len(windows) - 2) + 128 + 2
        for t in windows:
            flops += 2 * layers * (t * (4 * h * h + 2 * h * inter) + 2 * t * t * h)
    return total_tokens, flops


def matmul_ceiling():
    """Best f32 GFLOP/s of torch and of numpy (OpenBLAS, its tuning variables unset), 2 threads."""
    code = ("import time, numpy as np\n"
            "best = 0\n"
            "for m, k, n in ((2048, 2048, 2048), (4096, 768, 3072), (4096, 384, 1536)):\n"
            "    a = np.random.rand(m, k).astype(np.float32); b = np.random.rand(k, n).astype(np.float32); a @ b\n"
            "    for _ in range(3):\n"
            "        t0 = time.perf_counter(); a @ b; best = max(best, 2 * m * k * n / (time.perf_counter() - t0) / 1e9)\n"
            "print(best)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(THREADS)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    best = float(out.stdout) if out.returncode == 0 else 0.0
    for m, k, n in ((2048, 2048, 2048), (4096, 768, 3072), (4096, 384, 1536)):
        a = torch.randn(m, k); b = torch.randn(k, n)
        a @ b
        for _ in range(3):
            t0 = time.perf_counter()
            a @ b
            best = max(best, 2 * m * k * n / (time.perf_counter() - t0) / 1e9)
    return best


def f1_of(model, extra=(), binary=None, env=None):
    out = subprocess.run([binary or args.binary, "eval", "-m", model, "--json", *extra,
                          os.path.join(args.shared, "data/conll2003/valid.txt")], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"ner-tag eval failed: {out.stderr}")
    v = json.loads(out.stdout)
    return v["micro"]["f1"]


ceiling = matmul_ceiling()
log(f"f32 matmul ceiling (best of torch and OpenBLAS, {THREADS} threads): {ceiling:.0f} GFLOP/s")
rows = []
for label, model, corpus in runs:
    lines = corpora[corpus]
    tokens, flops = model_flops(model, lines)
    res = {"f32": [], "int8": [], "pipe": [], "rss32": [], "rss8": []}
    for r in range(args.runs):
        dt, rss = ner_tag(model, paths[corpus]); res["f32"].append(dt); res["rss32"].append(rss)
        dt, rss = ner_tag(model, paths[corpus], ["--quantize", "int8"]); res["int8"].append(dt); res["rss8"].append(rss)
        res["pipe"].append(hf_pipeline(model, lines))
        log(f"{label} {corpus} run {r + 1}: ner-tag f32 {len(lines) / res['f32'][-1]:.1f} lines/s, int8 "
            f"{len(lines) / res['int8'][-1]:.1f}, pipeline {len(lines) / res['pipe'][-1]:.1f}")
    lat = statistics.median(run_child([args.binary, "-m", model, one_line])[0] for _ in range(5))
    med = {k: statistics.median(v) if None not in v else None for k, v in res.items()}
    size = sum(os.path.getsize(os.path.join(model, f)) for f in os.listdir(model) if f.endswith(".safetensors")) / 2 ** 20
    rows.append((label, corpus, len(lines), tokens, flops, med, lat, size))
    _pipes.clear()

print(MACHINE)
if rows:
    print(f"\nner-tag vs transformers pipeline: {THREADS} threads, batch 32, -a simple, medians of {args.runs} "
          f"alternating runs; ner-tag = whole process (start, load, read, tokenize, forward, decode, write JSONL)")
    print(f"f32 matmul ceiling measured here (best sgemm of torch and OpenBLAS, {THREADS} threads): {ceiling:.0f} GFLOP/s")
    print(f"model sizes: file size on disk; peak RSS by GNU time; one line = process start to exit, warm page cache\n")
    print("| model | corpus | lines | pipeline lines/s | ner-tag f32 lines/s | x pipeline | f32 GFLOP/s (% ceiling) "
          "| ner-tag int8 lines/s | x pipeline | tokens/s f32 / int8 | peak RSS f32 / int8 (weights file; 1.1x + 150) | one line |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    def mb(v):
        return "n/a" if v is None else f"{v:.0f}"


    for label, corpus, n, tokens, flops, m, lat, size in rows:
        p, f, q = n / m["pipe"], n / m["f32"], n / m["int8"]
        gf = flops / m["f32"] / 1e9
        print(f"| {label} | {corpus} | {n} | {p:.1f} | {f:.1f} | **{f / p:.2f}x** | {gf:.0f} ({100 * gf / ceiling:.0f}%) "
              f"| {q:.1f} | **{q / p:.2f}x** | {tokens / m['f32']:.0f} / {tokens / m['int8']:.0f} "
              f"| {mb(m['rss32'])} / {mb(m['rss8'])} MB ({size:.0f}; {1.1 * size + 150:.0f} MB) | {lat * 1000:.0f} ms |")

f1 = f1q = float("nan") if args.families_only else None
if f1 is None:
    f1 = f1_of(small); f1q = f1_of(small, ["--quantize", "int8"])
print(f"\nner-tag eval, CoNLL-2003 valid, bert-minilm: F1 f32 {f1:.4f}, int8 {f1q:.4f} "
      f"({100 * (f1q - f1):+.2f} points)")
if args.avx2_binary:
    # As on an AVX2-only CPU: the capped build (gemm at AVX2) with our kernels lowered to AVX2.
    env = dict(os.environ, NER_TAG_SIMD="avx2")
    old = os.environ.get("NER_TAG_SIMD")
    os.environ["NER_TAG_SIMD"] = "avx2"
    t = {"f32": [], "int8": []}
    for r in range(args.runs):
        t["f32"].append(ner_tag(small, paths["valid"], binary=args.avx2_binary)[0])
        t["int8"].append(ner_tag(small, paths["valid"], ["--quantize", "int8"], binary=args.avx2_binary)[0])
        log(f"forced AVX2 run {r + 1}: f32 {len(valid) / t['f32'][-1]:.1f} lines/s, int8 {len(valid) / t['int8'][-1]:.1f}")
    if old is None:
        del os.environ["NER_TAG_SIMD"]
    else:
        os.environ["NER_TAG_SIMD"] = old
    f32_ls, int8_ls = (len(valid) / statistics.median(t[k]) for k in ("f32", "int8"))
    f1a = f1_of(small, ["--quantize", "int8"], binary=args.avx2_binary, env=env)
    print(f"forced AVX2 (gemm without x86-v4, NER_TAG_SIMD=avx2; int8 through vpmaddubsw), bert-minilm, valid: "
          f"f32 {f32_ls:.1f} lines/s, int8 {int8_ls:.1f} lines/s = **{int8_ls / f32_ls:.2f}x** f32; "
          f"int8 F1 {f1a:.4f} ({100 * (f1a - f1):+.2f} points vs f32)")
prec, f1s, ident = {}, {"f32": f1, "int8": f1q}, {}
kinds = [("f32", [], None), ("bf16", ["--dtype", "bf16"], None), ("int8", ["--quantize", "int8"], None)]
if AMX:
    kinds += [("bf16 without AMX", ["--dtype", "bf16"], "avx512"), ("int8 without AMX", ["--quantize", "int8"], "avx512")]
kinds = [(k, e, s) for k, e, s in kinds if "bf16" not in k or BF16]
SIMD = {k: s for k, _, s in kinds}
if not args.families_only:
    t = {k: [] for k, _, _ in kinds}
    for r in range(args.runs):
        for k, extra, simd in kinds:
            t[k].append(ner_tag(small, paths["valid"], extra, simd=simd)[0])
        log(f"precisions run {r + 1}: " + ", ".join(f"{k} {len(valid) / t[k][-1]:.1f}" for k in t) + " lines/s")
    prec = {k: len(valid) / statistics.median(v) for k, v in t.items()}

    def spans(extra, simd=None):
        env = dict(os.environ, NER_TAG_SIMD=simd) if simd else None
        out = subprocess.run([args.binary, "-m", small, "-a", "simple", "-j", str(THREADS), *extra, paths["valid"]],
                             capture_output=True, text=True, check=True, env=env)
        return [[(e["label"], e["start"], e["end"]) for e in json.loads(l)["entities"]] for l in out.stdout.splitlines()]
    base = spans([])
    for k, extra, simd in kinds[1:]:
        ident[k] = sum(a == b for a, b in zip(spans(extra, simd), base)) / len(base)
    if BF16:
        f1s["bf16"] = f1_of(small, ["--dtype", "bf16"])
    if AMX:
        # int8 gives the same integers on every kernel: the same F1 (and spans) by construction.
        f1s["int8 without AMX"] = f1s["int8"]
        if BF16:
            f1s["bf16 without AMX"] = f1_of(small, ["--dtype", "bf16"], env=dict(os.environ, NER_TAG_SIMD="avx512"))
anchors = []
if not args.quick:
    venv_py = sys.executable
    ort_dir = os.path.join(args.work, "ort")
    out = subprocess.run([venv_py, os.path.join(args.shared, "tools/ort_anchor.py"), small, paths["valid"],
                          os.path.join(args.shared, "data/conll2003/valid.txt"), ort_dir],
                         capture_output=True, text=True)
    anchors += [l for l in out.stdout.splitlines() if l.startswith("ort-")]
    if not anchors:
        log("ort_anchor.py failed: " + out.stderr[-400:])
    calib = os.path.join(args.work, "calib.txt")
    open(calib, "w", encoding="utf-8").write("\n".join(sentences(os.path.join(args.shared, "data/conll2003/train.txt"))[:300]) + "\n")
    out = subprocess.run([venv_py, os.path.join(args.shared, "tools/ov_anchor.py"), small, paths["valid"],
                          os.path.join(args.shared, "data/conll2003/valid.txt"), ort_dir, calib],
                         capture_output=True, text=True)
    ov = [l for l in out.stdout.splitlines() if l.startswith("openvino-")]
    anchors += ov
    if not ov:
        log("ov_anchor.py failed: " + out.stderr[-400:])
if prec:
    print(f"\nprecisions, bert-minilm x CoNLL-2003 valid ({len(valid)} lines), {THREADS} threads, medians of "
          f"{args.runs} alternating runs; ner-tag = whole process, anchors = tokenize + forward only:\n")
    print("| system | lines/s | x ner-tag f32 | F1 | lines with spans = f32 |")
    print("|---|---|---|---|---|")
    for k, _, _ in kinds:
        same = "—" if k == "f32" else f"{100 * ident[k]:.2f}%"
        print(f"| ner-tag {k} | {prec[k]:.1f} | {prec[k] / prec['f32']:.2f}x | {f1s[k]:.4f} | {same} |")
    for l in anchors:
        name = l.split(":")[0]
        ls = float(re.search(r"lines/s ([\d.]+)", l).group(1))
        f1m = re.search(r"F1 ([\d.]+)", l)
        print(f"| {name} | {ls:.1f} | {ls / prec['f32']:.2f}x | {f1m.group(1) if f1m else 'n/a'} | |")
    for k in ("int8", "bf16"):
        if f"{k} without AMX" in prec:
            print(f"  ner-tag {k} on AMX / without: **{prec[k] / prec[k + ' without AMX']:.2f}x**")
    mine = {"fp32": "f32", "f32": "f32", "bf16": "bf16", "int8": "int8"}
    for l in anchors:
        name = l.split(":")[0]
        k = next((v for s_, v in mine.items() if s_ in name.split("-")[1]), None)
        if k in prec:
            ls = float(re.search(r"lines/s ([\d.]+)", l).group(1))
            print(f"  ner-tag {k} / {name}: **{prec[k] / ls:.2f}x**")
