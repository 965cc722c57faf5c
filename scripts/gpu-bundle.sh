#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh needs on a GPU machine that has no network and no Rust, into
# .gpu/ (ignored by git; ~10 MB, well under the 64 MiB a GPU machine receives):
#   ner-tag.xz          the `--features cuda` binary (no built-in model: the checkpoint travels in
#                       the tree as models/bert-minilm-conll03, f16), xz-compressed
#   valid.txt, train.txt.xz   CoNLL-2003 (eval, and the corpus the speed runs use)
#   ref.word.jsonl, ref.first.jsonl   this same binary's CPU output on the valid lines (f32, native
#                       backend: what the parity tests tie to the transformers pipeline)
#   configs/            config.json of the DistilBERT and XLM-R layouts, to build base-sized
#                       random-weight checkpoints there
#
#   eval "$(scripts/cuda-toolkit.sh)"
#   scripts/gpu-bundle.sh [SHARED]            # SHARED defaults to ../shared
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
out=.gpu
mkdir -p "$out/configs"

echo "gpu-bundle: building the CUDA binary (target/cuda)" >&2
CARGO_TARGET_DIR=target/cuda cargo build --release --no-default-features --features cuda,gemm-avx512 >&2
bin=target/cuda/release/ner-tag

# The lines: one CoNLL sentence per line, tokens joined by spaces (what scripts/bench.py uses).
lines() {
    awk 'NF == 0 { if (s != "") print s; s = ""; next }
         $1 == "-DOCSTART-" { next }
         { s = (s == "" ? $1 : s " " $1) }
         END { if (s != "") print s }' "$1"
}
cp "$shared/data/conll2003/valid.txt" "$out/valid.txt"
xz -9 -T0 -c "$shared/data/conll2003/train.txt" >"$out/train.txt.xz"
lines "$out/valid.txt" >"$out/valid_lines.txt"

# References: the same binary on the CPU. The stub libcuda.so.1 lets it start without a driver.
model=models/bert-minilm-conll03
run_cpu() { LD_LIBRARY_PATH=${NER_TAG_CUDA_LIBS:?run eval \"\$(scripts/cuda-toolkit.sh)\" first} "$bin" "$@"; }
run_cpu --device cpu -m "$model" "$out/valid_lines.txt" >"$out/ref.word.jsonl"
run_cpu --device cpu -m "$model" -a first "$out/valid_lines.txt" >"$out/ref.first.jsonl"
run_cpu eval --device cpu -m "$model" --json "$out/valid.txt" >"$out/ref.eval.json"
# Without a GPU --device cuda must fail with one line and exit 2 (checked here, where the stub is).
if err=$(run_cpu --device cuda -m "$model" "$out/valid_lines.txt" 2>&1 >/dev/null); then
    echo "gpu-bundle: --device cuda succeeded without a GPU?" >&2
    exit 1
fi
[[ $(wc -l <<<"$err") -eq 1 ]] || { echo "gpu-bundle: --device cuda without a GPU printed:" >&2; echo "$err" >&2; exit 1; }

cp "$shared/models/distilbert-minilm-conll03/config.json" "$out/configs/distilbert.json"
cp "$shared/models/xlmr-minilm-conll03/config.json" "$out/configs/xlmr.json"
xz -9 -T0 -c "$bin" >"$out/ner-tag.xz"
du -sh "$out" >&2
echo "gpu-bundle: ready in $out; on the GPU machine: bash scripts/gpu-check.sh $out" >&2
