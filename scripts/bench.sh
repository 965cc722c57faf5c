#!/usr/bin/env bash
# Throughput of ner-tag (f32 and --quantize int8) against the transformers pipeline and ONNX Runtime:
# same machine, same run, same inputs, alternating runs, medians. Prints a Markdown table.
# usage: scripts/bench.sh [--runs N] [--base-lines N] [--quick] [--avx2] [--precisions] [--families[-only]]
#   --precisions: only ner-tag f32 / bf16 / int8 on bert-minilm x valid with the ONNX Runtime and
#     OpenVINO (f32, bf16, NNCF int8) anchors, F1 and span identity (about 6 minutes).
#   needs ../shared (models, CoNLL valid) and builds the reference venv (../shared/tools/ref-env.sh).
#   --presidio: instead, ner-tag -f redact against Microsoft Presidio (AnalyzerEngine with a
#     TransformersNlpEngine on the same checkpoint + AnonymizerEngine) and against -f jsonl, and the
#     share of Presidio's spans equal to ours (scripts/presidio/bench.py; its venv: scripts/presidio/env.sh).
#   --quick: the small model only, no base-sized models, no ONNX Runtime (about 3 minutes).
#   --avx2: also builds gemm without its AVX-512 kernels (target/cap-avx2) and adds the forced-AVX2
#     row: f32 and int8 as on an AVX2-only CPU (NER_TAG_SIMD=avx2), int8's F1 there.
# Machines are noisy: read the ratios, measured in the same run, rather than absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
for a in "$@"; do
  if [ "$a" = --presidio ]; then
    py=$(scripts/presidio/env.sh)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 - ../shared/data/conll2003/valid.txt > "$work/valid.txt" <<'PY'
import sys
out, words = [], []
for line in open(sys.argv[1], encoding="utf-8"):
    p = line.split()
    if p and p[0] != "-DOCSTART-":
        words.append(p[0])
    elif not p and words:
        out.append(" ".join(words)); words = []
if words:
    out.append(" ".join(words))
print("\n".join(out))
PY
    runs=3
    prev=
    for b in "$@"; do [ "$prev" = --runs ] && runs=$b; prev=$b; done
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs"
    "$py" scripts/presidio/bench.py "$PWD/target/release/ner-tag" "$(cd ../shared/models/bert-minilm-conll03 && pwd)" \
        "$work/valid.txt" "$work" --runs "$runs"
    exit
  fi
done
extra=()
for a in "$@"; do
  if [ "$a" = --avx2 ]; then
    CARGO_TARGET_DIR=target/cap-avx2 cargo build --release -q --no-default-features --features bundled-model
    extra=(--avx2-binary "$PWD/target/cap-avx2/release/ner-tag")
  fi
done
args=()
for a in "$@"; do [ "$a" = --avx2 ] || args+=("$a"); done
venv=$(../shared/tools/ref-env.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" scripts/bench.py "$PWD/target/release/ner-tag" "$(cd ../shared && pwd)" "$work" ${args[@]+"${args[@]}"} ${extra[@]+"${extra[@]}"}
