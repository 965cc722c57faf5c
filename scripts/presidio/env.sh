#!/usr/bin/env bash
# Makes (once) the bench-only venv for the Presidio row of scripts/bench.sh --presidio:
# presidio-analyzer, presidio-anonymizer and spacy-huggingface-pipelines from PyPI, with torch and
# transformers taken from the reference venv (../shared/tools/ref-env.sh) through a .pth file
# rather than downloaded again. Prints the venv's python.
set -euo pipefail
ref=$(../shared/tools/ref-env.sh)
dir=${NER_TAG_PRESIDIO_ENV:-$HOME/.cache/ner-tag-presidio-venv}
if ! "$dir/bin/python" -c "import presidio_analyzer, presidio_anonymizer, spacy_huggingface_pipelines, torch" 2>/dev/null; then
    python3 -m venv "$dir" >&2
    site=$("$dir/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    "$ref/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > "$site/ner-tag-ref-env.pth"
    "$dir/bin/pip" install -q presidio-analyzer presidio-anonymizer spacy-huggingface-pipelines >&2
fi
echo "$dir/bin/python"
