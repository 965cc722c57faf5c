#!/usr/bin/env bash
# Accuracy on natural text vs pre-tokenized CoNLL, per aggregation and model family.
#
# usage: scripts/raw_eval.sh [SHARED_DIR]   (default ../shared)
#
# For each of the shared checkpoints (BERT, DistilBERT, XLM-R layouts) and each --aggregation,
# prints the micro F1 of `ner-tag eval` (gold tokens, one label per token) and of
# `ner-tag eval --raw` (each sentence detokenized into natural text, tagged as raw text, scored by
# exact (type, start, end) character spans) on CoNLL-2003 valid, as a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
valid=$shared/data/conll2003/valid.txt
cargo build --release --quiet
bin=target/release/ner-tag
f1() { "$bin" eval --json "$@" "$valid" 2>/dev/null | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["micro"]["f1"])'; }
echo "| model | aggregation | word-level eval F1 | natural-text eval --raw F1 |"
echo "|---|---|---|---|"
for model in bert-minilm-conll03 distilbert-minilm-conll03 xlmr-minilm-conll03; do
  for a in word first average max simple none; do
    echo "| $model | $a | $(f1 -m "$shared/models/$model" -a $a) | $(f1 --raw -m "$shared/models/$model" -a $a) |"
  done
done
