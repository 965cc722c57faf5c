#!/usr/bin/env bash
# Throughput of ner-tag (f32 and --quantize int8) against the transformers pipeline and ONNX Runtime:
# same machine, same run, same inputs, alternating runs, medians. Prints a Markdown table.
# usage: scripts/bench.sh [--runs N] [--base-lines N] [--quick]
#   needs ../shared (models, CoNLL valid) and builds the reference venv (../shared/tools/ref-env.sh).
#   --quick: the small model only, no base-sized models, no ONNX Runtime (about 3 minutes).
# Machines are noisy: read the ratios, measured in the same run, rather than absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
venv=$(../shared/tools/ref-env.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" scripts/bench.py "$PWD/target/release/ner-tag" "$(cd ../shared && pwd)" "$work" "$@"
