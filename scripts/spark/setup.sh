#!/usr/bin/env bash
# Makes (once) a Python environment with PySpark for the Spark pipe stage and its local-mode test;
# prints its python's path. Needs Java 17+ (`java -version`). Idempotent.
#   PY=$(scripts/spark/setup.sh)
set -euo pipefail
env_dir=${NER_TAG_SPARK_ENV:-$HOME/.cache/ner-tag-spark}
version=${PYSPARK_VERSION:-4.0.5}
if ! "$env_dir/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$version')" 2>/dev/null; then
    python3 -m venv "$env_dir" >&2
    "$env_dir/bin/pip" install --quiet --disable-pip-version-check "pyspark==$version" >&2
fi
echo "$env_dir/bin/python"
