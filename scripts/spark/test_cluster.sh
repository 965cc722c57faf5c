#!/usr/bin/env bash
# One command for the Spark pipe stage on a real standalone cluster with faults (not part of
# `cargo test`: it installs PySpark, ~450 MB, and starts six JVMs): makes the PySpark
# environment, then runs scripts/spark/test_cluster.py — a master and two workers on 127.0.0.1,
# the job submitted three times (no fault; a ner-tag child SIGKILLed; a worker JVM SIGKILLed).
# Builds nothing: the binary is the first argument (default target/release/ner-tag); later
# arguments go to test_cluster.py. Needs Java 17+ and ../shared. Everything it starts is stopped
# at the end, on failure too (the trap kills what the Python side left: its process groups, then
# any process with its cwd, executable or command line under the temp dir).
#   bash scripts/spark/test_cluster.sh [path/to/ner-tag] [--runs ABC] [--partitions 8]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/release/ner-tag
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then bin=$1; shift; fi
[ -x "$bin" ] || { echo "test_cluster.sh: no ner-tag binary at $bin (cargo build --release, or give its path)" >&2; exit 2; }
bin=$(realpath "$bin")
py=$(scripts/spark/setup.sh)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ner-tag-cluster.XXXXXX")

cleanup() {
    local rc=$? pid p n=0
    trap - EXIT INT TERM
    if [ -f "$tmp/pids" ]; then
        while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done < "$tmp/pids"
    fi
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = $$ ] && continue
        if [[ $(readlink "$p/cwd" 2>/dev/null) == "$tmp"* ]] || [[ $(readlink "$p/exe" 2>/dev/null) == "$tmp"* ]] \
            || { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF "$tmp"; then
            kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
        fi
    done
    [ "$n" -eq 0 ] || echo "test_cluster.sh: killed $n leftover processes" >&2
    if [ -n "${KEEP_TMP:-}" ]; then echo "test_cluster.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$py" scripts/spark/test_cluster.py --binary "$bin" --tmp "$tmp" "$@"
