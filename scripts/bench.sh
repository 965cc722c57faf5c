#!/usr/bin/env bash
# Throughput of ner-tag (f32 and --quantize int8) against the transformers pipeline and ONNX Runtime:
# same machine, same run, same inputs, alternating runs, medians. Prints a Markdown table.
# usage: scripts/bench.sh [--runs N] [--base-lines N] [--quick] [--avx2] [--precisions] [--families[-only]]
#   --precisions: only ner-tag f32 / bf16 / int8 on bert-minilm x valid with the ONNX Runtime and
#     OpenVINO (f32, bf16, NNCF int8) anchors, F1 and span identity (about 6 minutes).
#   needs ../shared (models, CoNLL valid) and builds the reference venv (../shared/tools/ref-env.sh).
#   --quick: the small model only, no base-sized models, no ONNX Runtime (about 3 minutes).
#   --avx2: also builds gemm without its AVX-512 kernels (target/cap-avx2) and adds the forced-AVX2
#     row: f32 and int8 as on an AVX2-only CPU (NER_TAG_SIMD=avx2), int8's F1 there.
# Machines are noisy: read the ratios, measured in the same run, rather than absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
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
