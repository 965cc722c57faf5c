#!/usr/bin/env bash
# One command for the Spark pipe stage's local-mode test (not part of `cargo test`: it installs
# PySpark, ~450 MB, and starts a JVM): builds the release binary, makes the PySpark environment,
# runs scripts/spark/test_local.py (extra arguments go to it). Needs Java 17+ and ../shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
py=$(scripts/spark/setup.sh)
exec "$py" scripts/spark/test_local.py --binary target/release/ner-tag "$@"
