#!/usr/bin/env bash
# Real clients read what ner-tag writes: spaCy loads `-f spans` (Doc, doc.ents, DocBin) and
# label-studio-sdk validates `-f label-studio` predictions, on tests/fixtures/inputs.txt with the
# tiny-bert fixture. Needs PyPI once (a venv in ~/.cache/ner-tag-clients-venv); not part of
# `cargo test`. Exits 1 on the first mismatch.
#
#   bash scripts/clients-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${NER_TAG_CLIENTS_VENV:-$HOME/.cache/ner-tag-clients-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import spacy, label_studio_sdk" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "spacy>=3.7,<4" "label-studio-sdk>=2,<3" >&2
fi
cargo build --release -q --locked
"$venv/bin/python" scripts/clients/check.py "$PWD/target/release/ner-tag" tests/fixtures/models/tiny-bert \
    tests/fixtures/inputs.txt
