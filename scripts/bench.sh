#!/usr/bin/env bash
# Throughput of ner-tag against the transformers pipeline, same machine, same run, same input.
# usage: scripts/bench.sh [MODEL_DIR] [RUNS]
#   needs ../shared (models, CoNLL valid) and the reference venv (../shared/tools/ref-env.sh).
# Prints each run's lines/s and the median ratio ner-tag / pipeline. Machines are noisy: read medians.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-../shared/models/bert-minilm-conll03}
runs=${2:-3}
threads=${THREADS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/lines.txt" <<'PY'
import sys
out, words = open(sys.argv[1], "w", encoding="utf-8"), []
for line in open("../shared/data/conll2003/valid.txt", encoding="utf-8"):
    p = line.split()
    if p:
        words.append(p[0])
    elif words:
        out.write(" ".join(words) + "\n"); words = []
if words:
    out.write(" ".join(words) + "\n")
PY
n=$(wc -l < "$work/lines.txt")
cargo build --release -q
venv=$(../shared/tools/ref-env.sh)
ours=(); theirs=()
for i in $(seq "$runs"); do
  t0=$(date +%s.%N)
  ./target/release/ner-tag -m "$model" -a simple -j "$threads" "$work/lines.txt" > "$work/out.jsonl"
  t1=$(date +%s.%N)
  ours+=("$(echo "$n / ($t1 - $t0)" | bc -l)")
  theirs+=("$("$venv/bin/python" ../shared/tools/hf_throughput.py "$model" "$work/lines.txt" 32 "$threads" 2>/dev/null | awk '/^hf-pipeline/ {print $7}')")
  echo "run $i: ner-tag $(printf %.1f "${ours[-1]}") lines/s, transformers pipeline ${theirs[-1]} lines/s" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mo=$(median "${ours[@]}"); mt=$(median "${theirs[@]}")
printf 'model %s, %d lines, %d threads, %d runs\nmedian ner-tag %.1f lines/s, pipeline %.1f lines/s, ratio %.2fx\n' \
  "$model" "$n" "$threads" "$runs" "$mo" "$mt" "$(echo "$mo / $mt" | bc -l)"
