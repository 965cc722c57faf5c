#!/usr/bin/env bash
# Real clients read what ner-tag writes: spaCy loads `-f spans` (Doc, doc.ents, DocBin) and the
# `-f spacy` DocBin files, and label-studio-sdk validates `-f label-studio` predictions, on
# tests/fixtures/inputs.txt with the tiny-bert fixture. Needs PyPI once (a venv in
# ~/.cache/ner-tag-clients-venv). Exits 1 on the first mismatch.
#
#   bash scripts/clients-check.sh          # builds the release binary
#   bash scripts/clients-check.sh --ci     # .ci/run, after `cargo test`: the debug binary it built;
#                                          # skipped (exit 0, said on stderr) if the venv cannot be made
set -euo pipefail
cd "$(dirname "$0")/.."
ci=false
[ "${1:-}" = --ci ] && ci=true
venv=${NER_TAG_CLIENTS_VENV:-$HOME/.cache/ner-tag-clients-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import spacy, label_studio_sdk" 2>/dev/null; then
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "spacy>=3.7,<4" "label-studio-sdk>=2,<3"; } >&2; then
        if $ci; then
            echo "clients-check: skipped: cannot install spaCy and label-studio-sdk from PyPI here" >&2
            exit 0
        fi
        echo "clients-check: cannot install spaCy and label-studio-sdk from PyPI" >&2
        exit 1
    fi
fi
if $ci; then
    bin=$PWD/target/debug/ner-tag
    [ -x "$bin" ] || cargo build -q --locked
else
    cargo build --release -q --locked
    bin=$PWD/target/release/ner-tag
fi
"$venv/bin/python" scripts/clients/check.py "$bin" tests/fixtures/models/tiny-bert tests/fixtures/inputs.txt
